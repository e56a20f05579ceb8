package node

import (
	"context"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// LeaderRead returns nil when this node may serve a read of consistency
// "leader" from its memory: it is the leader and has applied everything
// committed before its term began (the post-election barrier is through).
// A leader still waiting for its barrier waits for it, up to ctx's
// deadline. Otherwise it returns a *NotLeaderError (errors.Is
// ErrNotLeader), naming the leader when one is known and is not this node.
func (n *Node) LeaderRead(ctx context.Context) error {
	for {
		changed := n.Changes()
		if n.leaderReady() {
			return nil
		}
		if n.shuttingDown() {
			return ErrShuttingDown
		}
		if !n.IsLeader() {
			return n.notLeader()
		}
		select {
		case <-changed:
		case <-n.stopCh:
			return ErrShuttingDown
		case <-ctx.Done():
			// Leader, but not ready to serve: no node can serve this read
			// yet, which clients see as no leader.
			return &NotLeaderError{}
		}
	}
}

// LinearizableRead returns nil once this node may serve a linearizable
// read: it is a ready leader, it noted the commit index, confirmed with a
// quorum that it is still the leader (VerifyLeader: one heartbeat round,
// no disk write) and applied everything up to the noted index. Errors are
// as for LeaderRead, plus ErrTimeout when ctx's deadline passes while
// confirming or applying.
func (n *Node) LinearizableRead(ctx context.Context) error {
	if err := n.LeaderRead(ctx); err != nil {
		return err
	}
	readIndex := n.raft.CommitIndex()
	verified := make(chan error, 1)
	f := n.raft.VerifyLeader()
	go func() { verified <- f.Error() }()
	select {
	case err := <-verified:
		if err != nil {
			if mapped := n.mapRaftError(err); mapped != ErrLeadershipLost {
				return mapped
			}
			return n.notLeader()
		}
	case <-n.stopCh:
		return ErrShuttingDown
	case <-ctx.Done():
		return contextError(ctx, "leadership not confirmed")
	}
	return n.WaitForIndex(ctx, readIndex)
}

// WaitForIndex waits until this node's state machine reflects every log
// entry up to index, on any node (this is what a read's min_index asks
// for). It returns ErrTimeout when ctx's deadline passes first and
// ErrShuttingDown when the node closes.
func (n *Node) WaitForIndex(ctx context.Context, index uint64) error {
	var poll *time.Timer
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	for {
		applied := n.fsm.Applied()
		if n.reached(index) {
			return nil
		}
		// Entries that never reach the state machine (no-ops, barriers)
		// advance no channel; a short poll notices Raft passing them.
		if poll == nil {
			poll = time.NewTimer(2 * time.Millisecond)
		} else {
			poll.Reset(2 * time.Millisecond)
		}
		select {
		case <-applied:
		case <-poll.C:
		case <-n.stopCh:
			return ErrShuttingDown
		case <-ctx.Done():
			return contextError(ctx, "index "+strconv.FormatUint(index, 10)+" not applied")
		}
	}
}

// maxGapScan bounds how many log entries reached inspects.
const maxGapScan = 1024

// AppliedIndex returns the index up to which this node's state machine
// reflects the log: the state machine's own applied index, or Raft's when
// the entries after it are ones the state machine never sees (no-ops,
// barriers, configuration changes).
func (n *Node) AppliedIndex() uint64 {
	if raftApplied := n.raft.AppliedIndex(); n.reached(raftApplied) {
		return max(raftApplied, n.fsm.AppliedIndex())
	}
	return n.fsm.AppliedIndex()
}

// reached reports whether the state machine reflects every entry up to
// index. The state machine counts only the entries it applies; no-ops
// (one per election), barriers and configuration changes never reach it,
// so when its applied index is behind, the entries in between are looked
// up: if none of them is a command, and Raft has passed them, nothing is
// missing.
func (n *Node) reached(index uint64) bool {
	applied := n.fsm.AppliedIndex()
	if applied >= index {
		return true
	}
	if n.raft.AppliedIndex() < index {
		return false
	}
	snapshotIndex := uint64(0)
	snapshotKnown := false
	for i := index; i > applied; i-- {
		if index-i >= maxGapScan {
			return false
		}
		var entry raft.Log
		if err := n.logs.GetLog(i, &entry); err != nil {
			// Compacted away, or a hole left by a restore: covered when it
			// is part of the newest snapshot, which the state machine has
			// applied or restored.
			if !snapshotKnown {
				snapshotIndex, snapshotKnown = n.lastSnapshot()
			}
			return snapshotKnown && i <= snapshotIndex
		}
		if entry.Type == raft.LogCommand {
			return false
		}
	}
	return true
}

// lastSnapshot returns the index of the newest snapshot Raft knows of.
func (n *Node) lastSnapshot() (index uint64, ok bool) {
	idx, err := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
	return idx, err == nil && idx > 0
}
