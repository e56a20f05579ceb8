package httpapi

import (
	"context"
	"io"

	"github.com/chatstate/chatstate/fsm"
)

// Backend is what the HTTP API needs from a node. cmd/chatstated adapts
// the node to it; tests implement it over a bare *fsm.FSM.
//
// Errors: a method that fails because of the node's role or lifecycle
// returns an error with a method ErrorCode() string, one of "not_leader",
// "leadership_lost", "shutting_down" or "timeout"; a "not_leader" error also
// has LeaderHTTP() string, the leader's HTTP address ("" when no leader is
// known). context.DeadlineExceeded counts as "timeout". Any other error is
// answered 500 and logged.
type Backend interface {
	// Propose replicates cmd through the log (group-committed with other
	// writes) and returns its Result and the log index at which it was
	// applied on this node. Business-rule refusals are in Result.Err, not in
	// the error, and still have an index. When the error is
	// leadership_lost the outcome is unknown. The command must not be
	// modified after the call.
	Propose(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error)

	// FSM returns the applied state, for reads. Records it returns are
	// immutable and may be held after the call.
	FSM() *fsm.FSM

	// LeaderRead returns nil when this node is the leader and has applied
	// its post-election barrier, so that its memory holds every write
	// acknowledged before the read began; else a not_leader error.
	LeaderRead(ctx context.Context) error

	// LinearizableRead confirms leadership with a quorum (VerifyLeader)
	// and waits until the FSM has applied everything committed when it was
	// called.
	LinearizableRead(ctx context.Context) error

	// WaitForIndex returns once the FSM has applied index, or ctx's error
	// when ctx ends first.
	WaitForIndex(ctx context.Context, index uint64) error

	// Status describes the node and the cluster as this node sees them.
	// It never blocks on the network.
	Status() NodeStatus

	// Ready returns why the node cannot serve yet (no known leader, not
	// caught up with the commit index it saw when asked); nil when ready.
	Ready(ctx context.Context) []string

	// Snapshot takes a Raft snapshot now and returns its index.
	Snapshot(ctx context.Context) (uint64, error)

	// Backup captures a consistent copy of the whole state (in O(1); the
	// bytes are produced by WriteTo). The caller writes it once and closes
	// it. Restore accepts what WriteTo wrote.
	Backup(ctx context.Context) (BackupStream, error)

	// Restore replaces the whole cluster's state with a backup read from r
	// and returns the log index at which the new state took effect. r is
	// valid only during the call. A body that is not a backup is an error
	// wrapping ErrInvalidBackup, and leaves the state unchanged.
	Restore(ctx context.Context, r io.Reader) (uint64, error)

	// Join adds (or, for a changed address, replaces) a voter and returns
	// once it is a voter. Joining again with the same id and addresses is
	// a no-op.
	Join(ctx context.Context, n NodeInfo) error

	// RemoveNode removes a member from the cluster and returns once it is
	// removed.
	RemoveNode(ctx context.Context, id string) error
}

// BackupStream is a captured backup: WriteTo writes it (once), Close
// releases it whether or not it was written.
type BackupStream interface {
	io.WriterTo
	io.Closer
}

// NodeStatus is what GET /v1/status reports.
type NodeStatus struct {
	ID           string
	State        string // leader, follower, candidate or shutdown
	Leader       *NodeInfo
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastSnapshot *SnapshotInfo // nil before the first snapshot
	Nodes        []NodeInfo
	Version      string
}

// NodeInfo is a cluster member's id and addresses. Suffrage ("voter" or
// "nonvoter") is set in NodeStatus.Nodes; in a join request it is ignored.
type NodeInfo struct {
	ID       string
	HTTP     string
	Raft     string
	Suffrage string
}

// SnapshotInfo identifies a snapshot.
type SnapshotInfo struct {
	Index uint64
	Term  uint64
}

// The interfaces node errors satisfy (see Backend).
type (
	codedError interface {
		error
		ErrorCode() string
	}
	leaderHint interface {
		LeaderHTTP() string
	}
)

// Error codes of node errors.
const (
	codeNotLeader      = "not_leader"
	codeLeadershipLost = "leadership_lost"
	codeShuttingDown   = "shutting_down"
	codeTimeout        = "timeout"
)
