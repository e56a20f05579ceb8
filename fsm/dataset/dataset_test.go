package dataset_test

import (
	"crypto/sha256"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/fsm/dataset"
)

// smallScale keeps every test in this file well under a second.
const smallScale = 0.003

func TestShapeStandard(t *testing.T) {
	s, err := dataset.Standard().Shape()
	if err != nil {
		t.Fatal(err)
	}
	want := dataset.Shape{
		Accounts:          1000,
		Chats:             1_000_000,
		BigAccount:        "acc-0000",
		BigChats:          200_000,
		BigActive:         20_000,
		BigOperators:      100,
		SmallOperatorsMin: 2,
		SmallOperatorsMax: 8,
		SmallActiveShare:  0.10,
		MessagesPerChat:   5,
		MeanMessageBytes:  100,
	}
	if s != want {
		t.Fatalf("standard shape\n got %+v\nwant %+v", s, want)
	}
}

func TestShapeScales(t *testing.T) {
	tests := []struct {
		scale                                              float64
		accounts, chats, bigChats, bigActive, bigOperators int
	}{
		{scale: 0.5, accounts: 500, chats: 500_000, bigChats: 100_000, bigActive: 10_000, bigOperators: 50},
		{scale: 0.01, accounts: 10, chats: 10_000, bigChats: 2000, bigActive: 200, bigOperators: 1},
		// One account left: the dataset is the big account alone.
		{scale: 0.001, accounts: 1, chats: 200, bigChats: 200, bigActive: 20, bigOperators: 1},
		{scale: 1e-9, accounts: 1, chats: 1, bigChats: 1, bigActive: 0, bigOperators: 1},
		{scale: 2, accounts: 2000, chats: 2_000_000, bigChats: 400_000, bigActive: 40_000, bigOperators: 200},
	}
	for _, tt := range tests {
		s, err := dataset.Standard().WithScale(tt.scale).Shape()
		if err != nil {
			t.Fatalf("scale %v: %v", tt.scale, err)
		}
		got := [5]int{s.Accounts, s.Chats, s.BigChats, s.BigActive, s.BigOperators}
		want := [5]int{tt.accounts, tt.chats, tt.bigChats, tt.bigActive, tt.bigOperators}
		if got != want {
			t.Errorf("scale %v: got accounts, chats, big chats, big active, big operators %v, want %v", tt.scale, got, want)
		}
	}
}

func TestInvalidConfig(t *testing.T) {
	bad := []dataset.Config{
		dataset.Standard().WithScale(0),
		dataset.Standard().WithScale(-1),
		dataset.Standard().WithScale(math.NaN()),
		dataset.Standard().WithScale(math.Inf(1)),
		dataset.Standard().WithScale(1000),
		func() dataset.Config { c := dataset.Standard(); c.Step = time.Microsecond; return c }(),
	}
	for _, cfg := range bad {
		if _, err := cfg.Shape(); !errors.Is(err, dataset.ErrInvalidConfig) {
			t.Errorf("Shape(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
		called := false
		_, err := dataset.Generate(cfg, func(fsm.Command) error { called = true; return nil })
		if !errors.Is(err, dataset.ErrInvalidConfig) || called {
			t.Errorf("Generate(%+v) = %v, emitted %v; want ErrInvalidConfig before any command", cfg, err, called)
		}
	}
}

// encodeAll generates cfg and returns every command encoded, as a log would
// carry it.
func encodeAll(t *testing.T, cfg dataset.Config) ([][]byte, dataset.Stats) {
	t.Helper()
	var out [][]byte
	stats, err := dataset.Generate(cfg, func(cmd fsm.Command) error {
		b, err := fsm.EncodeCommand(cmd)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, stats
}

func digest(cmds [][]byte) [32]byte {
	h := sha256.New()
	for _, c := range cmds {
		h.Write(c)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

func TestDeterministic(t *testing.T) {
	cfg := dataset.Standard().WithScale(smallScale)
	a, statsA := encodeAll(t, cfg)
	b, statsB := encodeAll(t, cfg)
	if digest(a) != digest(b) || len(a) != len(b) {
		t.Fatal("two generations with the same config differ")
	}
	if statsA.TextBytes != statsB.TextBytes || statsA.Commands != statsB.Commands {
		t.Fatalf("stats differ: %+v vs %+v", statsA, statsB)
	}
	other := cfg
	other.Seed++
	c, _ := encodeAll(t, other)
	if digest(a) == digest(c) {
		t.Fatal("another seed generated the same commands")
	}
}

// model is an independent check of the API's rules the dataset must obey,
// so that every command applies without a business error.
type model struct {
	accounts map[string]*modelAccount
}

type modelAccount struct {
	operators map[string]bool
	chats     []*modelChat // chat id - 1
}

type modelChat struct {
	closed       bool
	unread       bool
	assignee     string
	participants []string
	messages     int
	source       fsm.Source
	contactType  fsm.ContactType
}

func (m *model) apply(cmd fsm.Command) error {
	h := cmd.Head()
	if a, ok := cmd.(*fsm.UpsertAccount); ok {
		if m.accounts[h.Account] != nil {
			return errors.New("account created twice")
		}
		if !fsm.ValidID(h.Account) || a.Name == "" {
			return errors.New("bad account")
		}
		m.accounts[h.Account] = &modelAccount{operators: map[string]bool{}}
		return nil
	}
	acc := m.accounts[h.Account]
	if acc == nil {
		return errors.New("unknown account")
	}
	chat := func(id int64) (*modelChat, error) {
		if id < 1 || id > int64(len(acc.chats)) {
			return nil, errors.New("unknown chat")
		}
		return acc.chats[id-1], nil
	}
	knownOperator := func(op string) error {
		if !acc.operators[op] {
			return errors.New("unknown operator " + op)
		}
		return nil
	}
	text := func(s string) error {
		if len(s) < 1 || len(s) > 16384 {
			return errors.New("text length out of range")
		}
		return nil
	}
	switch c := cmd.(type) {
	case *fsm.UpsertOperator:
		if !fsm.ValidID(c.Operator) || acc.operators[c.Operator] {
			return errors.New("bad or repeated operator")
		}
		acc.operators[c.Operator] = true
	case *fsm.CreateChat:
		if c.Contact.Type != fsm.ContactTypeContact && c.Contact.Type != fsm.ContactTypeVisitor {
			return errors.New("bad contact type")
		}
		if c.Contact.ID != nil && !fsm.ValidID(*c.Contact.ID) {
			return errors.New("bad contact id")
		}
		if c.Source < fsm.SourceEmail || c.Source > fsm.SourceExternalPage {
			return errors.New("bad source")
		}
		acc.chats = append(acc.chats, &modelChat{unread: true, messages: 1, source: c.Source, contactType: c.Contact.Type})
		return text(c.Text)
	case *fsm.CustomerMessage:
		ch, err := chat(c.Chat)
		if err != nil {
			return err
		}
		if ch.closed {
			return errors.New("customer message reopens a closed chat")
		}
		ch.unread = true
		ch.messages++
		return text(c.Text)
	case *fsm.OperatorMessage:
		ch, err := chat(c.Chat)
		if err != nil {
			return err
		}
		if err := knownOperator(c.Operator); err != nil {
			return err
		}
		switch {
		case ch.closed:
			return errors.New("reply to a closed chat")
		case ch.assignee == "":
			ch.assignee = c.Operator
		case ch.assignee != c.Operator && !slices.Contains(ch.participants, c.Operator):
			return errors.New("reply by a non-participant")
		}
		ch.unread = false
		ch.messages++
		return text(c.Text)
	case *fsm.Join:
		ch, err := chat(c.Chat)
		if err != nil {
			return err
		}
		if err := knownOperator(c.Operator); err != nil {
			return err
		}
		if ch.closed || ch.assignee == "" || ch.assignee == c.Operator || slices.Contains(ch.participants, c.Operator) {
			return errors.New("join not allowed or no-op")
		}
		ch.participants = append(ch.participants, c.Operator)
	case *fsm.Leave:
		ch, err := chat(c.Chat)
		if err != nil {
			return err
		}
		i := slices.Index(ch.participants, c.Operator)
		if ch.closed || i < 0 {
			return errors.New("leave by a non-participant")
		}
		ch.participants = slices.Delete(ch.participants, i, i+1)
	case *fsm.MarkRead:
		return m.mark(acc, c.ChatAction, false)
	case *fsm.MarkUnread:
		return m.mark(acc, c.ChatAction, true)
	case *fsm.Close:
		ch, err := chat(c.Chat)
		if err != nil {
			return err
		}
		if err := knownOperator(c.Operator); err != nil {
			return err
		}
		if ch.closed {
			return errors.New("close of a closed chat")
		}
		ch.closed, ch.unread, ch.participants = true, false, nil
	default:
		return errors.New("unexpected command type")
	}
	return nil
}

// mark checks a mark read (unread false) or mark unread (unread true).
func (m *model) mark(acc *modelAccount, action fsm.ChatAction, unread bool) error {
	if action.Chat < 1 || action.Chat > int64(len(acc.chats)) {
		return errors.New("unknown chat")
	}
	if !acc.operators[action.Operator] {
		return errors.New("unknown operator " + action.Operator)
	}
	ch := acc.chats[action.Chat-1]
	if ch.closed || ch.unread == unread {
		return errors.New("mark on a closed chat or a no-op")
	}
	ch.unread = unread
	return nil
}

func TestCommandsFollowTheRules(t *testing.T) {
	cfg := dataset.Standard().WithScale(smallScale)
	shape, err := cfg.Shape()
	if err != nil {
		t.Fatal(err)
	}
	m := &model{accounts: map[string]*modelAccount{}}
	var (
		n        int
		lastTime fsm.Millis
		texts    int64
		count    = map[fsm.CommandType]int{}
	)
	stats, err := dataset.Generate(cfg, func(cmd fsm.Command) error {
		h := cmd.Head()
		want := cfg.Start + fsm.Millis(int64(n)*cfg.Step.Milliseconds())
		if h.Time != want {
			t.Fatalf("command %d: time %d, want %d (one step per command)", n, h.Time, want)
		}
		if n > 0 && h.Time <= lastTime {
			t.Fatalf("command %d: time does not increase", n)
		}
		lastTime = h.Time
		n++
		count[cmd.Type()]++
		switch c := cmd.(type) {
		case *fsm.CreateChat:
			texts += int64(len(c.Text))
		case *fsm.CustomerMessage:
			texts += int64(len(c.Text))
		case *fsm.OperatorMessage:
			texts += int64(len(c.Text))
		}
		// Every command survives the log's encoding.
		b, err := fsm.EncodeCommand(cmd)
		if err != nil {
			return err
		}
		if _, err := fsm.DecodeCommand(b); err != nil {
			return err
		}
		if err := m.apply(cmd); err != nil {
			t.Fatalf("command %d %T %+v: %v", n-1, cmd, cmd, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if stats.Commands != n || stats.TextBytes != texts || stats.LastTime != lastTime || stats.FirstTime != cfg.Start {
		t.Fatalf("stats %+v disagree with the stream: %d commands, %d text bytes, last time %d", stats, n, texts, lastTime)
	}
	for typ, c := range count {
		if stats.ByType[typ] != c {
			t.Errorf("stats count %d commands of type %d, stream has %d", stats.ByType[typ], typ, c)
		}
	}
	if len(m.accounts) != shape.Accounts || stats.Accounts != shape.Accounts {
		t.Fatalf("%d accounts (stats %d), want %d", len(m.accounts), stats.Accounts, shape.Accounts)
	}

	var chats, active, closed, messages, operators int
	var contactTypes [3]int
	var sources [5]int
	var unread, unassigned, participants int
	for id, acc := range m.accounts {
		nOps := len(acc.operators)
		operators += nOps
		var accActive int
		for _, ch := range acc.chats {
			chats++
			messages += ch.messages
			if ch.messages != shape.MessagesPerChat {
				t.Fatalf("account %s: a chat has %d messages, want %d", id, ch.messages, shape.MessagesPerChat)
			}
			contactTypes[ch.contactType]++
			sources[ch.source]++
			if ch.closed {
				closed++
				continue
			}
			active++
			accActive++
			if ch.unread {
				unread++
			}
			if ch.assignee == "" {
				unassigned++
			}
			participants += len(ch.participants)
		}
		if id == shape.BigAccount {
			if nOps != shape.BigOperators || len(acc.chats) != shape.BigChats || accActive != shape.BigActive {
				t.Fatalf("big account: %d operators, %d chats, %d active; want %d, %d, %d",
					nOps, len(acc.chats), accActive, shape.BigOperators, shape.BigChats, shape.BigActive)
			}
			continue
		}
		if nOps < shape.SmallOperatorsMin || nOps > shape.SmallOperatorsMax {
			t.Fatalf("account %s has %d operators", id, nOps)
		}
		if want := int(math.Round(float64(len(acc.chats)) * shape.SmallActiveShare)); accActive != want {
			t.Fatalf("account %s: %d of %d chats active, want %d", id, accActive, len(acc.chats), want)
		}
	}
	if chats != shape.Chats || stats.Chats != chats || stats.ActiveChats != active || stats.ClosedChats != closed {
		t.Fatalf("chats %d (active %d, closed %d), stats %+v, shape %+v", chats, active, closed, stats, shape)
	}
	if stats.BigActiveChats != shape.BigActive || stats.BigClosedChats != shape.BigChats-shape.BigActive {
		t.Fatalf("big account stats %d active / %d closed", stats.BigActiveChats, stats.BigClosedChats)
	}
	if messages != stats.Messages || operators != stats.Operators {
		t.Fatalf("messages %d vs stats %d, operators %d vs stats %d", messages, stats.Messages, operators, stats.Operators)
	}
	if mean := float64(texts) / float64(messages); math.Abs(mean-float64(shape.MeanMessageBytes)) > 5 {
		t.Errorf("mean message length %.1f, want about %d", mean, shape.MeanMessageBytes)
	}

	// A realistic spread: every enum value present, with the visitor and
	// chat-page majorities, and mixed unread, unassigned and joined chats.
	for ct := fsm.ContactTypeContact; ct <= fsm.ContactTypeVisitor; ct++ {
		if contactTypes[ct] == 0 {
			t.Errorf("no chat with contact type %v", ct)
		}
	}
	if contactTypes[fsm.ContactTypeVisitor] <= contactTypes[fsm.ContactTypeContact] {
		t.Errorf("contact types %v: visitors should be the majority", contactTypes)
	}
	for src := fsm.SourceEmail; src <= fsm.SourceExternalPage; src++ {
		if sources[src] == 0 {
			t.Errorf("no chat from source %v", src)
		}
	}
	if unread == 0 || unread == active || unassigned == 0 || unassigned == active || participants == 0 {
		t.Errorf("active chats: %d, unread %d, unassigned %d, participants %d: want a mix", active, unread, unassigned, participants)
	}
	for _, typ := range []fsm.CommandType{fsm.CmdJoin, fsm.CmdLeave, fsm.CmdMarkRead, fsm.CmdClose} {
		if count[typ] == 0 {
			t.Errorf("no command of type %d", typ)
		}
	}
}

func TestTinyScaleStillHasAnAccountAndAnOperator(t *testing.T) {
	cfg := dataset.Standard().WithScale(1e-9)
	stats, err := dataset.Generate(cfg, func(fsm.Command) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if stats.Accounts != 1 || stats.Operators != 1 || stats.Chats != 1 || stats.ClosedChats != 1 {
		t.Fatalf("tiny dataset: %+v", stats)
	}
}

func TestEmitErrorStopsGeneration(t *testing.T) {
	stop := errors.New("stop here")
	n := 0
	stats, err := dataset.Generate(dataset.Standard().WithScale(smallScale), func(fsm.Command) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the emit error", err)
	}
	if n != 10 || stats.Commands != 9 {
		t.Fatalf("emit called %d times, %d commands counted; want 10 and 9", n, stats.Commands)
	}
}
