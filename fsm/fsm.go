package fsm

import (
	"fmt"
	"sync"
	"sync/atomic"
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
	// PersistShare is the share of a core each of Persist's encoders may
	// use, above 0 and at most 1 (no pacing). Persist runs beside Apply
	// and the write path: unpaced, it holds both cores of a small machine
	// for the seconds a large snapshot takes, and every hand-off of a
	// write waits for a core. Resting in proportion to its work leaves
	// them one, at the price of a longer snapshot. See DESIGN.md.
	PersistShare float64
}

// DefaultConfig returns the API's documented retention.
func DefaultConfig() Config {
	return Config{
		EventWindow:     100_000,
		IdempotencyKeys: 100_000,
		IdempotencyTTL:  24 * time.Hour,
		InboxSize:       1000,
		PersistShare:    0.1,
	}
}

// FSM is the replicated state machine. It implements raft.FSM and
// raft.BatchingFSM. Apply may run concurrently with any read method and
// with a Persist of an earlier Snapshot.
//
// Locking: Apply takes the write lock once per command, not per log entry,
// so a reader never waits for more than one command; reads take the read
// lock. Records handed out are immutable and may be used after the lock is
// released.
type FSM struct {
	cfg Config

	mu sync.RWMutex
	st *state // guarded by mu

	applied atomic.Uint64

	// lists recycles ListChats' merge scratch space (*listMerge).
	lists sync.Pool

	// warm reads ahead what a batch will touch; only Apply uses it.
	warm warmer

	waitMu sync.Mutex
	waitCh chan struct{} // closed when applied next advances; nil when nobody waits
}

// New returns an empty state machine. Zero or negative fields of cfg take
// DefaultConfig's values.
func New(cfg Config) *FSM {
	def := DefaultConfig()
	if cfg.EventWindow <= 0 {
		cfg.EventWindow = def.EventWindow
	}
	if cfg.IdempotencyKeys <= 0 {
		cfg.IdempotencyKeys = def.IdempotencyKeys
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = def.IdempotencyTTL
	}
	if cfg.InboxSize <= 0 {
		cfg.InboxSize = def.InboxSize
	}
	if cfg.PersistShare <= 0 || cfg.PersistShare > 1 {
		cfg.PersistShare = def.PersistShare
	}
	return &FSM{cfg: cfg, st: newState()}
}

// Apply applies one log entry (a single command or a Batch) and returns
// []Result with one Result per command, in order. Non-command log entries
// return nil. An entry that does not decode panics: this node's state would
// otherwise diverge from its peers'.
func (f *FSM) Apply(l *raft.Log) interface{} {
	res := f.apply(l)
	f.advance(l.Index)
	if res == nil {
		return nil
	}
	return res
}

// ApplyBatch applies logs in order and returns exactly one response per
// log, as Apply would.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		out[i] = f.Apply(l)
	}
	return out
}

func (f *FSM) apply(l *raft.Log) []Result {
	if l.Type != raft.LogCommand {
		f.mu.Lock()
		f.st.index = l.Index
		f.mu.Unlock()
		return nil
	}
	encoded, err := DecodeBatch(l.Data)
	if err != nil {
		panic(fmt.Sprintf("fsm: log entry %d: %v", l.Index, err))
	}
	cmds := make([]Command, len(encoded))
	for i, b := range encoded {
		cmd, err := DecodeCommand(b)
		if err != nil {
			panic(fmt.Sprintf("fsm: log entry %d, command %d: %v", l.Index, i, err))
		}
		cmds[i] = cmd
	}
	if len(cmds) > 1 && !f.warm.off {
		// Snapshot may run on another goroutine, and freezing the state
		// marks its trees shared.
		f.mu.RLock()
		f.warm.warm(f.st, cmds)
		f.mu.RUnlock()
	}
	results := make([]Result, len(cmds))
	ap := applier{cfg: &f.cfg, index: l.Index}
	for i, cmd := range cmds {
		f.mu.Lock()
		ap.st = f.st
		results[i] = ap.run(cmd)
		if i == len(cmds)-1 {
			f.st.index = l.Index
		}
		f.mu.Unlock()
	}
	if len(cmds) == 0 {
		f.mu.Lock()
		f.st.index = l.Index
		f.mu.Unlock()
	}
	return results
}

// advance publishes a new applied index and wakes its waiters.
func (f *FSM) advance(index uint64) {
	f.applied.Store(index)
	f.waitMu.Lock()
	if f.waitCh != nil {
		close(f.waitCh)
		f.waitCh = nil
	}
	f.waitMu.Unlock()
}

// AppliedIndex is the index of the last log entry applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Applied returns a channel that is closed the next time AppliedIndex
// advances (or the state is restored). Waiters re-check and call again.
func (f *FSM) Applied() <-chan struct{} {
	f.waitMu.Lock()
	defer f.waitMu.Unlock()
	if f.waitCh == nil {
		f.waitCh = make(chan struct{})
	}
	return f.waitCh
}
