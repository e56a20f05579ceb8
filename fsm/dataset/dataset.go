package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/chatstate/chatstate/fsm"
)

// ErrInvalidConfig is returned (wrapped) for a Config that describes no
// dataset: a scale that is not a positive finite number, or a step below one
// millisecond.
var ErrInvalidConfig = errors.New("dataset: invalid config")

// Config selects one dataset. Two generations with equal Configs emit equal
// command streams.
type Config struct {
	// Seed drives every random choice (shuffles, contacts, sources,
	// operators, message mix and texts).
	Seed uint64
	// Scale shrinks or grows the standard shape proportionally: 1.0 is the
	// 1,000,000-chat dataset, 0.01 a 10,000-chat one. It never goes below
	// one account with one operator.
	Scale float64
	// Start is the Header.Time of the first command.
	Start fsm.Millis
	// Step is added to the time for every command; at least a millisecond
	// (fsm.Millis' resolution), so that times strictly increase.
	Step time.Duration
}

// Standard returns the standard dataset's Config: seed 1, scale 1.0, starting
// 2026-01-01T00:00:00Z, one second per command.
func Standard() Config {
	return Config{
		Seed:  1,
		Scale: 1,
		Start: fsm.MillisOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Step:  time.Second,
	}
}

// WithScale returns a copy of c at another scale.
func (c Config) WithScale(scale float64) Config {
	c.Scale = scale
	return c
}

// The standard shape at scale 1.0, and the mix that gives each chat its
// history. Shares are fractions of chats.
const (
	standardAccounts         = 1000
	standardChats            = 1_000_000
	standardBigChats         = 200_000
	standardBigActive        = 20_000
	standardBigOperators     = 100
	minOperatorsSmall        = 2
	maxOperatorsSmall        = 8
	smallActiveShare         = 0.10
	messagesPerChat          = 5
	minMessageBytes          = 60
	maxMessageBytes          = 140 // mean (60+140)/2 = 100
	contactShare             = 0.35
	assignedShareActive      = 0.80 // the rest are waiting for a first reply
	assignedShareClosed      = 0.95 // the rest were closed without a reply
	joinShare                = 0.15 // of assigned chats, when the account has 2+ operators
	leaveShare               = 0.30 // of joined chats
	markReadShare            = 0.10 // of active chats whose last message is the customer's
	markUnreadShare          = 0.05 // of active chats whose last message is a reply
	helperReplyShare         = 0.50 // of replies in a joined chat
	customerShareOfFollowUps = 0.50 // of the messages after the first reply
	inFlightChats            = 512  // chats whose commands interleave at any time
)

// sourceWeights spreads chats over the four sources (indexed by fsm.Source
// minus one): email is the rarest, the chat page the most common.
var sourceWeights = [4]float64{0.08, 0.30, 0.47, 0.15}

// Shape is the exact size of the dataset a Config generates.
type Shape struct {
	// Accounts is the number of accounts; the first is the big one.
	Accounts int
	// Chats is the number of chats over all accounts.
	Chats int
	// BigAccount is the id of the big account.
	BigAccount string
	// BigChats, BigActive and BigOperators size the big account.
	BigChats     int
	BigActive    int
	BigOperators int
	// SmallOperatorsMin and SmallOperatorsMax bound the operators of every
	// other account; SmallActiveShare is the share of their chats left
	// active (rounded per account).
	SmallOperatorsMin int
	SmallOperatorsMax int
	SmallActiveShare  float64
	// MessagesPerChat counts customer and operator messages, the first
	// one included; system transcript entries (joins, leaves, closes) come
	// on top.
	MessagesPerChat int
	// MeanMessageBytes is the mean text length.
	MeanMessageBytes int
}

// Shape returns the sizes that c generates, or an error wrapping
// ErrInvalidConfig.
func (c Config) Shape() (Shape, error) {
	if err := c.validate(); err != nil {
		return Shape{}, err
	}
	s := Shape{
		Accounts:          max(1, scaled(standardAccounts, c.Scale)),
		BigAccount:        accountID(0),
		BigChats:          max(1, scaled(standardBigChats, c.Scale)),
		BigActive:         scaled(standardBigActive, c.Scale),
		BigOperators:      max(1, scaled(standardBigOperators, c.Scale)),
		SmallOperatorsMin: minOperatorsSmall,
		SmallOperatorsMax: maxOperatorsSmall,
		SmallActiveShare:  smallActiveShare,
		MessagesPerChat:   messagesPerChat,
		MeanMessageBytes:  (minMessageBytes + maxMessageBytes) / 2,
	}
	s.Chats = s.BigChats
	if s.Accounts > 1 {
		// With a single account there is nobody to spread the rest over:
		// the dataset is the big account alone.
		s.Chats += scaled(standardChats-standardBigChats, c.Scale)
	}
	return s, nil
}

func (c Config) validate() error {
	if math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) || c.Scale <= 0 {
		return fmt.Errorf("%w: scale %v is not a positive number", ErrInvalidConfig, c.Scale)
	}
	if c.Scale > 100 {
		return fmt.Errorf("%w: scale %v is above 100", ErrInvalidConfig, c.Scale)
	}
	if c.Step < time.Millisecond {
		return fmt.Errorf("%w: step %v is below one millisecond", ErrInvalidConfig, c.Step)
	}
	return nil
}

func scaled(n int, scale float64) int { return int(math.Round(float64(n) * scale)) }

func accountID(i int) string { return fmt.Sprintf("acc-%04d", i) }

// Stats describes what a generation emitted.
type Stats struct {
	Commands    int
	ByType      map[fsm.CommandType]int
	Accounts    int
	Operators   int
	Chats       int
	ActiveChats int
	ClosedChats int
	// BigActiveChats and BigClosedChats are the big account's share.
	BigActiveChats int
	BigClosedChats int
	// Messages counts customer and operator messages (CreateChat's first
	// message included).
	Messages int
	// TextBytes is the total length of every message text emitted: the
	// part of the state's memory that is payload, not overhead.
	TextBytes int64
	// FirstTime and LastTime are the Header.Time of the first and the last
	// command.
	FirstTime fsm.Millis
	LastTime  fsm.Millis
}

// Generate emits the dataset described by cfg, one command at a time, in
// order: every account, then every operator, then the chats' histories
// interleaved as concurrent conversations would be. emit owns each command
// it receives (a new value every time) and may keep it. Generation stops at
// the first error from emit, which Generate returns wrapped.
func Generate(cfg Config, emit func(fsm.Command) error) (Stats, error) {
	shape, err := cfg.Shape()
	if err != nil {
		return Stats{}, err
	}
	g := newGenerator(cfg, shape, emit)
	if err := g.run(); err != nil {
		return g.stats, err
	}
	return g.stats, nil
}

// stepKind is one entry of a chat's planned history.
type stepKind uint8

const (
	stepCreate stepKind = iota
	stepCustomer
	stepReply
	stepJoin
	stepLeave
	stepMarkRead
	stepMarkUnread
	stepClose
)

type step struct {
	kind stepKind
	op   string // the acting operator, for everything but create and customer
}

// account is the generator's view of one account.
type account struct {
	id        string
	operators []string
	// weightSums are the cumulative weights of operators: some operators
	// take many more chats than others, as part-timers and leads do.
	weightSums []float64
	chats      int // chats planned
	active     int // how many of the newest planned chats stay active
	started    int // chats whose plan has been made
	created    int64
}

// pickOperator draws an operator by weight.
func (a *account) pickOperator(rng *rand.Rand) string {
	total := a.weightSums[len(a.weightSums)-1]
	x := rng.Float64() * total
	i := sort.SearchFloat64s(a.weightSums, x)
	if i >= len(a.operators) {
		i = len(a.operators) - 1
	}
	return a.operators[i]
}

// chatPlan is one in-flight chat: its planned history and how far it got.
type chatPlan struct {
	account *account
	id      int64 // set when its CreateChat is emitted
	active  bool
	contact fsm.Contact
	source  fsm.Source
	steps   []step
	next    int
}

type generator struct {
	cfg      Config
	shape    Shape
	emit     func(fsm.Command) error
	rng      *rand.Rand
	accounts []*account
	corpus   string
	now      fsm.Millis
	stats    Stats
}

func newGenerator(cfg Config, shape Shape, emit func(fsm.Command) error) *generator {
	return &generator{
		cfg:   cfg,
		shape: shape,
		emit:  emit,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		now:   cfg.Start,
		stats: Stats{ByType: make(map[fsm.CommandType]int), FirstTime: cfg.Start},
	}
}

func (g *generator) run() error {
	g.corpus = buildCorpus(g.rng)
	g.planAccounts()
	for _, a := range g.accounts {
		name := "Account " + a.id
		if err := g.send(&fsm.UpsertAccount{Header: g.header(a.id), Name: name}); err != nil {
			return err
		}
		g.stats.Accounts++
	}
	for _, a := range g.accounts {
		for _, op := range a.operators {
			email := op + "@" + a.id + ".example.com"
			cmd := &fsm.UpsertOperator{Header: g.header(a.id), Operator: op, Name: "Operator " + op, Email: &email}
			if err := g.send(cmd); err != nil {
				return err
			}
			g.stats.Operators++
		}
	}
	return g.runChats()
}

// planAccounts sizes every account: operators with their weights, chats and
// how many of them stay active.
func (g *generator) planAccounts() {
	s := g.shape
	g.accounts = make([]*account, s.Accounts)
	big := &account{id: s.BigAccount, chats: s.BigChats, active: s.BigActive}
	big.operators = operatorIDs(s.BigOperators)
	g.accounts[0] = big

	small := s.Accounts - 1
	smallChats := s.Chats - s.BigChats
	// Uneven sizes: each account draws a weight in [0.25, 1.75); the
	// chats are shared in proportion, and the rounding remainder goes one
	// by one to the first accounts.
	weights := make([]float64, small)
	var total float64
	for i := range weights {
		weights[i] = 0.25 + 1.5*g.rng.Float64()
		total += weights[i]
	}
	assigned := 0
	for i := 0; i < small; i++ {
		n := int(float64(smallChats) * weights[i] / total)
		a := &account{id: accountID(i + 1), chats: n}
		nOps := s.SmallOperatorsMin + g.rng.IntN(s.SmallOperatorsMax-s.SmallOperatorsMin+1)
		a.operators = operatorIDs(nOps)
		g.accounts[i+1] = a
		assigned += n
	}
	for i := 0; assigned < smallChats; i = (i + 1) % small {
		g.accounts[i+1].chats++
		assigned++
	}
	for _, a := range g.accounts {
		if a != big {
			a.active = int(math.Round(float64(a.chats) * s.SmallActiveShare))
		}
		a.weightSums = make([]float64, len(a.operators))
		var sum float64
		for i := range a.operators {
			sum += 0.2 + 1.8*g.rng.Float64()
			a.weightSums[i] = sum
		}
	}
}

func operatorIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("op-%03d", i)
	}
	return ids
}

// runChats emits every chat's history. Chats are started in a shuffled
// account order and up to inFlightChats of them progress at once, each step
// going to a randomly drawn in-flight chat, so that the log interleaves
// conversations of many accounts as live traffic does.
func (g *generator) runChats() error {
	owners := make([]int32, 0, g.shape.Chats)
	for i, a := range g.accounts {
		for range a.chats {
			owners = append(owners, int32(i))
		}
	}
	g.rng.Shuffle(len(owners), func(i, j int) { owners[i], owners[j] = owners[j], owners[i] })

	inFlight := make([]*chatPlan, 0, min(inFlightChats, len(owners)))
	nextOwner := 0
	for len(inFlight) < cap(inFlight) {
		p := &chatPlan{}
		g.plan(p, g.accounts[owners[nextOwner]])
		nextOwner++
		inFlight = append(inFlight, p)
	}
	for len(inFlight) > 0 {
		i := g.rng.IntN(len(inFlight))
		p := inFlight[i]
		if err := g.advance(p); err != nil {
			return err
		}
		if p.next < len(p.steps) {
			continue
		}
		if nextOwner < len(owners) {
			g.plan(p, g.accounts[owners[nextOwner]])
			nextOwner++
			continue
		}
		last := len(inFlight) - 1
		inFlight[i] = inFlight[last]
		inFlight = inFlight[:last]
	}
	return nil
}

// plan draws a chat's contact, source and history. The account's newest
// chats are the ones that stay active.
func (g *generator) plan(p *chatPlan, a *account) {
	rng := g.rng
	ordinal := a.started
	a.started++
	*p = chatPlan{account: a, steps: p.steps[:0]}
	p.active = ordinal >= a.chats-a.active
	p.source = g.drawSource()
	if rng.Float64() < contactShare {
		id := fmt.Sprintf("c-%d-%d", ordinal, rng.IntN(1_000_000))
		name := "Customer " + id
		email := id + "@customers.example.com"
		p.contact = fsm.Contact{ID: &id, Type: fsm.ContactTypeContact, Name: &name, Email: &email}
	} else {
		id := fmt.Sprintf("v-%08x", rng.Uint32())
		p.contact = fsm.Contact{ID: &id, Type: fsm.ContactTypeVisitor}
	}

	p.steps = append(p.steps, step{kind: stepCreate})
	assignedShare := assignedShareClosed
	if p.active {
		assignedShare = assignedShareActive
	}
	if rng.Float64() >= assignedShare {
		// Nobody replied: the customer keeps writing.
		for range messagesPerChat - 1 {
			p.steps = append(p.steps, step{kind: stepCustomer})
		}
		if !p.active {
			p.steps = append(p.steps, step{kind: stepClose, op: a.pickOperator(rng)})
		}
		return
	}

	assignee := a.pickOperator(rng)
	p.steps = append(p.steps, step{kind: stepReply, op: assignee})
	helper := ""
	if len(a.operators) >= 2 && rng.Float64() < joinShare {
		for helper == "" || helper == assignee {
			helper = a.pickOperator(rng)
		}
		p.steps = append(p.steps, step{kind: stepJoin, op: helper})
	}
	lastIsCustomer := false
	for range messagesPerChat - 2 {
		if rng.Float64() < customerShareOfFollowUps {
			p.steps = append(p.steps, step{kind: stepCustomer})
			lastIsCustomer = true
			continue
		}
		author := assignee
		if helper != "" && rng.Float64() < helperReplyShare {
			author = helper
		}
		p.steps = append(p.steps, step{kind: stepReply, op: author})
		lastIsCustomer = false
	}
	if helper != "" && rng.Float64() < leaveShare {
		p.steps = append(p.steps, step{kind: stepLeave, op: helper})
	}
	switch {
	case !p.active:
		p.steps = append(p.steps, step{kind: stepClose, op: assignee})
	case lastIsCustomer && rng.Float64() < markReadShare:
		p.steps = append(p.steps, step{kind: stepMarkRead, op: assignee})
	case !lastIsCustomer && rng.Float64() < markUnreadShare:
		p.steps = append(p.steps, step{kind: stepMarkUnread, op: assignee})
	}
}

func (g *generator) drawSource() fsm.Source {
	x := g.rng.Float64()
	for i, w := range sourceWeights {
		if x < w {
			return fsm.Source(i + 1)
		}
		x -= w
	}
	return fsm.SourceExternalPage
}

// advance emits the next step of p.
func (g *generator) advance(p *chatPlan) error {
	s := p.steps[p.next]
	p.next++
	a := p.account
	h := g.header(a.id)
	var cmd fsm.Command
	switch s.kind {
	case stepCreate:
		a.created++
		p.id = a.created
		cmd = &fsm.CreateChat{Header: h, Contact: p.contact, Source: p.source, Text: g.text()}
		g.stats.Chats++
		switch {
		case p.active && a == g.accounts[0]:
			g.stats.ActiveChats++
			g.stats.BigActiveChats++
		case p.active:
			g.stats.ActiveChats++
		case a == g.accounts[0]:
			g.stats.ClosedChats++
			g.stats.BigClosedChats++
		default:
			g.stats.ClosedChats++
		}
	case stepCustomer:
		cmd = &fsm.CustomerMessage{Header: h, Chat: p.id, Text: g.text()}
	case stepReply:
		cmd = &fsm.OperatorMessage{Header: h, Chat: p.id, Operator: s.op, Text: g.text()}
	case stepJoin:
		cmd = &fsm.Join{ChatAction: fsm.ChatAction{Header: h, Chat: p.id, Operator: s.op}}
	case stepLeave:
		cmd = &fsm.Leave{ChatAction: fsm.ChatAction{Header: h, Chat: p.id, Operator: s.op}}
	case stepMarkRead:
		cmd = &fsm.MarkRead{ChatAction: fsm.ChatAction{Header: h, Chat: p.id, Operator: s.op}}
	case stepMarkUnread:
		cmd = &fsm.MarkUnread{ChatAction: fsm.ChatAction{Header: h, Chat: p.id, Operator: s.op}}
	case stepClose:
		cmd = &fsm.Close{ChatAction: fsm.ChatAction{Header: h, Chat: p.id, Operator: s.op}}
	default:
		panic(fmt.Sprintf("dataset: unknown step kind %d", s.kind))
	}
	return g.send(cmd)
}

// header stamps the next command's time.
func (g *generator) header(account string) fsm.Header {
	return fsm.Header{Account: account, Time: g.now}
}

func (g *generator) send(cmd fsm.Command) error {
	if err := g.emit(cmd); err != nil {
		return fmt.Errorf("dataset: command %d (%T): %w", g.stats.Commands, cmd, err)
	}
	g.stats.Commands++
	g.stats.ByType[cmd.Type()]++
	g.stats.LastTime = g.now
	g.now += fsm.Millis(g.cfg.Step / time.Millisecond)
	return nil
}

// text returns a message text of minMessageBytes..maxMessageBytes bytes cut
// from the corpus: no allocation, and the state machine copies what it keeps
// when it decodes the command anyway.
func (g *generator) text() string {
	n := minMessageBytes + g.rng.IntN(maxMessageBytes-minMessageBytes+1)
	off := g.rng.IntN(len(g.corpus) - n)
	g.stats.Messages++
	g.stats.TextBytes += int64(n)
	return g.corpus[off : off+n]
}

// corpusWords make support-chat-like texts; only ASCII, so any cut of the
// corpus is valid UTF-8.
var corpusWords = []string{
	"hello", "hi", "thanks", "thank", "you", "please", "order", "invoice", "payment",
	"account", "password", "reset", "login", "cannot", "can't", "error", "page", "shipping",
	"delivery", "refund", "return", "the", "a", "my", "your", "is", "was", "not", "working",
	"since", "yesterday", "today", "help", "question", "about", "plan", "upgrade", "price",
	"discount", "code", "card", "declined", "address", "change", "email", "phone", "number",
	"we", "will", "check", "this", "for", "it", "should", "be", "fixed", "now", "could",
	"send", "screenshot", "link", "browser", "app", "update", "version", "sorry", "wait",
	"minute", "let", "me", "look", "into", "ticket", "status", "team", "great", "works",
}

// buildCorpus draws 64 KiB of words.
func buildCorpus(rng *rand.Rand) string {
	const size = 64 << 10
	b := make([]byte, 0, size+16)
	for len(b) < size {
		b = append(b, corpusWords[rng.IntN(len(corpusWords))]...)
		switch r := rng.IntN(12); {
		case r == 0:
			b = append(b, ". "...)
		case r == 1:
			b = append(b, ", "...)
		default:
			b = append(b, ' ')
		}
	}
	return string(b)
}
