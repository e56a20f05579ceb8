package fsm

import (
	"errors"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// Config bounds what the state machine retains. Every node of a cluster
// must use the same Config: it shapes the replicated state.
type Config struct {
	// EventWindow is how many of its newest events each account keeps for
	// stream resumption (API: at least 100,000).
	EventWindow int
	// IdempotencyKeys and IdempotencyTTL: a key is forgotten only once it
	// is both older than IdempotencyTTL (in command time) and outside the
	// account's newest IdempotencyKeys keys.
	IdempotencyKeys int
	IdempotencyTTL  time.Duration
	// InboxSize is how many newest notifications each operator keeps.
	InboxSize int
}

// DefaultConfig returns the API's documented retention.
func DefaultConfig() Config {
	return Config{
		EventWindow:     100_000,
		IdempotencyKeys: 100_000,
		IdempotencyTTL:  24 * time.Hour,
		InboxSize:       1000,
	}
}

var errUnimplemented = errors.New("fsm: not implemented yet")

// FSM is the replicated state machine. It implements raft.FSM and
// raft.BatchingFSM. Apply may run concurrently with any read method and
// with a Persist of an earlier Snapshot.
type FSM struct {
	cfg Config
}

// New returns an empty state machine.
func New(cfg Config) *FSM { return &FSM{cfg: cfg} }

// Apply applies one log entry (a single command or a Batch) and returns
// []Result with one Result per command, in order. Non-command log entries
// return nil. An entry that does not decode panics.
func (f *FSM) Apply(l *raft.Log) interface{} { panic(errUnimplemented) }

// ApplyBatch applies logs in order and returns exactly one response per
// log, as Apply would.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} { panic(errUnimplemented) }

// Snapshot captures the current state in O(1).
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errUnimplemented }

// Restore replaces the whole state with a snapshot written by Persist. The
// new state is built aside and swapped in atomically.
func (f *FSM) Restore(rc io.ReadCloser) error { return errUnimplemented }

// AppliedIndex is the index of the last log entry applied.
func (f *FSM) AppliedIndex() uint64 { return 0 }

// Applied returns a channel that is closed the next time AppliedIndex
// advances (or the state is restored). Waiters re-check and call again.
func (f *FSM) Applied() <-chan struct{} { return nil }

// Accounts lists every account in id order.
func (f *FSM) Accounts() []*Account { return nil }

// Account returns one account, or ErrNotFound.
func (f *FSM) Account(id string) (*Account, error) { return nil, errUnimplemented }

// Operator returns one operator, or ErrNotFound for the account or operator.
func (f *FSM) Operator(account, op string) (*Operator, error) { return nil, errUnimplemented }

// Operators lists an account's operators in id order with their active chat
// counts.
func (f *FSM) Operators(account string) ([]OperatorSummary, error) { return nil, errUnimplemented }

// Chat returns the current version of a chat.
func (f *FSM) Chat(account string, id int64) (*Chat, error) { return nil, errUnimplemented }

// ListChats returns one page of the filtered list, newest activity first,
// by an ordered index walk that stops after q.Limit chats.
func (f *FSM) ListChats(account string, q ListQuery) (ChatPage, error) {
	return ChatPage{}, errUnimplemented
}

// Counts returns the badge counts from counters, without a scan.
func (f *FSM) Counts(account string, q CountQuery) (Counts, error) {
	return Counts{}, errUnimplemented
}

// Messages returns up to limit transcript entries with seq > after.
func (f *FSM) Messages(account string, chat int64, after int64, limit int) (MessagePage, error) {
	return MessagePage{}, errUnimplemented
}

// Notifications returns up to limit notifications of op's inbox with id >
// after, and the inbox's unread count.
func (f *FSM) Notifications(account, op string, after int64, limit int) (NotificationPage, error) {
	return NotificationPage{}, errUnimplemented
}

// Events returns up to limit events with seq > since. A since below the
// retained window (other than 0, which means "the oldest retained") is
// ErrCompacted.
func (f *FSM) Events(account string, since int64, limit int) (EventPage, error) {
	return EventPage{}, errUnimplemented
}

// KeyAccount finds the account key with this SHA-256.
func (f *FSM) KeyAccount(hash [32]byte) (account, keyID string, ok bool) { return "", "", false }

// NodeAddr is a cluster member's addresses as recorded by SetNode.
type NodeAddr struct {
	ID   string
	Raft string
	HTTP string
}

// Nodes lists the recorded cluster members in id order.
func (f *FSM) Nodes() []NodeAddr { return nil }
