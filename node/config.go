package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/hashicorp/raft"
)

// Config configures a Node. Start from DefaultConfig and set ID, Dir,
// RaftAddr and HTTPAddr.
type Config struct {
	// ID is this node's Raft server id; it must be unique in the cluster
	// and stable across restarts.
	ID string
	// Dir holds raft.db (log and stable store) and snapshots.db.
	Dir string
	// RaftAddr is the TCP address the Raft transport binds to. Port 0
	// picks a free port; the bound address is then advertised.
	RaftAddr string
	// RaftAdvertise, when set, is the address peers dial instead of the
	// bound one (e.g. when binding 0.0.0.0).
	RaftAdvertise string
	// HTTPAddr is this node's HTTP API address, recorded in the replicated
	// state so that any node can send clients to the leader.
	HTTPAddr string
	// Bootstrap makes a node with an empty Dir start a new single-node
	// cluster. A node without Bootstrap (one that will join) waits with no
	// configuration until a leader adds it. Ignored when Dir has state.
	Bootstrap bool

	// Raft timing and log compaction, passed to raft.Config. Zero values
	// are replaced by DefaultConfig's.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	MaxAppendEntries   int
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// LogCacheSize is how many recent log entries are kept in memory in
	// front of raft.db.
	LogCacheSize int

	// ApplyTimeout bounds a proposal that is given a context without a
	// deadline, and the enqueueing of every raft.Apply.
	ApplyTimeout time.Duration
	// MaxBatchBytes and MaxBatchCommands bound one group-commit log entry.
	// A single command larger than MaxBatchBytes still goes out, alone.
	MaxBatchBytes    int
	MaxBatchCommands int
	// MaxInflight is how many group-commit entries may be in flight in
	// Raft at once.
	MaxInflight int
	// CommitDelay bounds how long a slot that just completed a batch of
	// several commands waits for their callers to propose again before it
	// takes the next batch; it also never waits more than half the time
	// that batch took to commit (see DESIGN.md). Negative disables it. A
	// lone proposal never waits.
	CommitDelay time.Duration
	// ShutdownTimeout bounds Close's wait for in-flight proposals and the
	// leadership transfer.
	ShutdownTimeout time.Duration
	// RestoreGCPercent, when positive, is the garbage collector's target
	// (debug.SetGCPercent) while a snapshot is restored, at startup or when
	// the leader sends one. A restore allocates the whole state at once,
	// and at the default of 100 most of its CPU goes to marking a heap that
	// is still growing; 400 roughly halves a 1,000,000-chat restore. At
	// startup it lasts until the log found on disk is applied too (at most
	// 30 s after Open), so that the first full collection of the restored
	// heap runs after the replay rather than during it. It is a
	// process-wide setting, so it is off unless the program opts in.
	RestoreGCPercent int
	// HeapHugePages asks Linux to back the state restored at startup with
	// transparent huge pages (see package hugeheap): before the restore
	// the heap is grown by about the restored state's size and marked for
	// them, and after it the mark is taken off, so that later allocations
	// get small pages as before. It acts only when the kernel's mode is
	// "madvise". It is a process-wide setting, so it is off unless the
	// program opts in.
	HeapHugePages bool

	// FSM is the state machine's retention; every node of a cluster must
	// use the same.
	FSM fsm.Config
	// Logger receives the node's and Raft's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns Raft's own defaults for timing and compaction and
// the group-commit bounds measured in node's benchmarks (see DESIGN.md).
func DefaultConfig() Config {
	rc := raft.DefaultConfig()
	return Config{
		HeartbeatTimeout:   rc.HeartbeatTimeout,   // 1s
		ElectionTimeout:    rc.ElectionTimeout,    // 1s
		LeaderLeaseTimeout: rc.LeaderLeaseTimeout, // 500ms
		CommitTimeout:      rc.CommitTimeout,      // 50ms
		MaxAppendEntries:   rc.MaxAppendEntries,   // 64
		SnapshotThreshold:  rc.SnapshotThreshold,  // 8192
		SnapshotInterval:   rc.SnapshotInterval,   // 120s
		TrailingLogs:       rc.TrailingLogs,       // 10240
		LogCacheSize:       512,
		ApplyTimeout:       10 * time.Second,
		MaxBatchBytes:      1 << 20,
		MaxBatchCommands:   512,
		MaxInflight:        1,
		CommitDelay:        time.Millisecond,
		ShutdownTimeout:    10 * time.Second,
		FSM:                fsm.DefaultConfig(),
	}
}

// withDefaults fills zero fields from DefaultConfig and checks the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDur(&c.ElectionTimeout, d.ElectionTimeout)
	if c.LeaderLeaseTimeout == 0 {
		// Raft requires the lease to be no longer than the heartbeat.
		c.LeaderLeaseTimeout = min(d.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	setDur(&c.CommitTimeout, d.CommitTimeout)
	setDur(&c.SnapshotInterval, d.SnapshotInterval)
	setDur(&c.ApplyTimeout, d.ApplyTimeout)
	setDur(&c.ShutdownTimeout, d.ShutdownTimeout)
	setDur(&c.CommitDelay, d.CommitDelay)
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = d.MaxAppendEntries
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	if c.LogCacheSize == 0 {
		c.LogCacheSize = d.LogCacheSize
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.MaxBatchCommands == 0 {
		c.MaxBatchCommands = d.MaxBatchCommands
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = d.MaxInflight
	}
	if c.FSM == (fsm.Config{}) {
		c.FSM = d.FSM
	}
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("ID is required"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir is required"))
	}
	if c.RaftAddr == "" {
		errs = append(errs, errors.New("RaftAddr is required"))
	}
	if c.MaxBatchBytes < 0 || c.MaxBatchCommands < 0 || c.MaxInflight < 0 || c.LogCacheSize < 0 {
		errs = append(errs, errors.New("batch bounds, MaxInflight and LogCacheSize must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("node: config: %w", err)
	}
	return c, nil
}

// raftConfig maps c onto raft.Config.
func (c Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.MaxAppendEntries = c.MaxAppendEntries
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	// A removed node shuts its Raft down rather than campaigning forever.
	rc.ShutdownOnRemove = true
	rc.Logger = newHCLogger(c.Logger, "raft")
	return rc
}
