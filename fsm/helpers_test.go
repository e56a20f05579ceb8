package fsm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/chatstate/chatstate/fsm"
)

// harness proposes commands to an FSM the way node does: encoded, batched
// into a raft.Log, applied.
type harness struct {
	t     testing.TB
	f     *fsm.FSM
	index uint64
	now   fsm.Millis
	acct  string
	// log holds every entry applied, to replay it elsewhere.
	log [][]byte
}

const t0 = fsm.Millis(1_790_000_000_000)

func newHarness(t testing.TB) *harness {
	return newHarnessConfig(t, fsm.DefaultConfig())
}

func newHarnessConfig(t testing.TB, cfg fsm.Config) *harness {
	return &harness{t: t, f: fsm.New(cfg), now: t0, acct: "acme"}
}

// stamp fills the header of cmd the way the leader does.
func (h *harness) stamp(cmd fsm.Command) fsm.Command {
	hd := cmd.Head()
	if hd.Account == "" {
		switch cmd.(type) {
		case *fsm.Noop, *fsm.SetNode, *fsm.RemoveNode:
		default:
			hd.Account = h.acct
		}
	}
	if hd.Time == 0 {
		h.now += 1000
		hd.Time = h.now
	}
	return cmd
}

// batch applies cmds as one log entry and returns their results.
func (h *harness) batch(cmds ...fsm.Command) []fsm.Result {
	h.t.Helper()
	encoded := make([][]byte, len(cmds))
	for i, c := range cmds {
		b, err := fsm.EncodeCommand(h.stamp(c))
		if err != nil {
			h.t.Fatalf("encode %T: %v", c, err)
		}
		encoded[i] = b
	}
	h.index++
	data := fsm.EncodeBatch(encoded)
	h.log = append(h.log, data)
	out := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: data})
	res, ok := out.([]fsm.Result)
	if !ok || len(res) != len(cmds) {
		h.t.Fatalf("Apply returned %#v for %d commands", out, len(cmds))
	}
	return res
}

// do applies one command as a log entry of its own.
func (h *harness) do(cmd fsm.Command) fsm.Result {
	h.t.Helper()
	b, err := fsm.EncodeCommand(h.stamp(cmd))
	if err != nil {
		h.t.Fatalf("encode %T: %v", cmd, err)
	}
	h.index++
	h.log = append(h.log, b)
	out := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: b})
	res, ok := out.([]fsm.Result)
	if !ok || len(res) != 1 {
		h.t.Fatalf("Apply returned %#v", out)
	}
	if !res[0].Replayed && res[0].Index != h.index {
		h.t.Fatalf("Result.Index = %d, want %d", res[0].Index, h.index)
	}
	return res[0]
}

// ok applies cmd and fails the test if it was refused.
func (h *harness) ok(cmd fsm.Command) fsm.Result {
	h.t.Helper()
	r := h.do(cmd)
	if r.Err != nil {
		h.t.Fatalf("%T: unexpected error %v", cmd, r.Err)
	}
	return r
}

// fails applies cmd and checks that it was refused with code.
func (h *harness) fails(cmd fsm.Command, code fsm.Code) fsm.Result {
	h.t.Helper()
	r := h.do(cmd)
	if r.Err == nil {
		h.t.Fatalf("%T: succeeded, want %s", cmd, code)
	}
	if r.Err.Code != code {
		h.t.Fatalf("%T: error %s (%v), want %s", cmd, r.Err.Code, r.Err, code)
	}
	return r
}

// setup creates the harness account and operators.
func (h *harness) setup(ops ...string) {
	h.t.Helper()
	h.ok(&fsm.UpsertAccount{Name: "Acme"})
	for _, op := range ops {
		h.ok(&fsm.UpsertOperator{Operator: op, Name: op})
	}
}

func (h *harness) createChat(ct fsm.ContactType, src fsm.Source, text string) *fsm.Chat {
	h.t.Helper()
	return h.ok(&fsm.CreateChat{Contact: fsm.Contact{Type: ct}, Source: src, Text: text}).Chat
}

func (h *harness) newChat() int64 {
	h.t.Helper()
	return h.createChat(fsm.ContactTypeVisitor, fsm.SourceEmail, "hello").ID
}

func (h *harness) chat(id int64) *fsm.Chat {
	h.t.Helper()
	c, err := h.f.Chat(h.acct, id)
	if err != nil {
		h.t.Fatalf("chat %d: %v", id, err)
	}
	return c
}

func act(chat int64, op string) fsm.ChatAction { return fsm.ChatAction{Chat: chat, Operator: op} }

func (h *harness) reply(chat int64, op string) fsm.Result {
	return h.do(&fsm.OperatorMessage{Chat: chat, Operator: op, Text: "on it"})
}

func (h *harness) lastSeq() int64 {
	h.t.Helper()
	p, err := h.f.Events(h.acct, 0, 1)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.LastSeq
}

// eventsSince returns the types of the events after seq.
func (h *harness) eventsSince(seq int64) []fsm.Event {
	h.t.Helper()
	p, err := h.f.Events(h.acct, seq, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Events
}

func eventTypes(evs []fsm.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type.String()
	}
	return out
}

func (h *harness) inbox(op string) fsm.NotificationPage {
	h.t.Helper()
	p, err := h.f.Notifications(h.acct, op, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// snapshotBytes persists a snapshot of f and returns the bytes.
func snapshotBytes(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := s.Persist(sink); err != nil {
		t.Fatal(err)
	}
	s.Release()
	return sink.Bytes()
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func isCode(err error, code fsm.Code) bool {
	return errors.Is(err, &fsm.Error{Code: code})
}

// replay applies log entries [from, to) of a recorded log to f; entry i has
// index i+1.
func replay(f *fsm.FSM, log [][]byte, from, to int) {
	for i := from; i < to; i++ {
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: log[i]})
	}
}
