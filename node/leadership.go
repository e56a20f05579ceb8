package node

import (
	"context"
	"errors"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/hashicorp/raft"
)

// startObserver registers a non-blocking Raft observer for leader and
// state changes. Raft drops an observation when the channel is full
// rather than wait (a blocking NotifyCh has deadlocked other Raft users),
// so the loop treats an observation only as a wake-up and reads the
// current state from Raft itself: a dropped observation loses nothing, as
// the one still queued makes the loop read the newer state.
func (n *Node) startObserver() {
	n.observer = raft.NewObserver(n.observerCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(n.observer)
	n.bg.Add(1)
	go n.observeLoop()
}

func (n *Node) observeLoop() {
	defer n.bg.Done()
	// The node may have become leader before the observer was registered.
	n.onLeadershipChange()
	for {
		select {
		case <-n.stopCh:
			return
		case <-n.observerCh:
		}
		// Coalesce a burst of observations into one check.
		for drained := false; !drained; {
			select {
			case <-n.observerCh:
			default:
				drained = true
			}
		}
		n.onLeadershipChange()
	}
}

// onLeadershipChange wakes waiters and, when this node has just become
// leader, starts the barrier that makes it ready to serve reads.
func (n *Node) onLeadershipChange() {
	n.notifyChange()
	if n.raft.State() != raft.Leader {
		return
	}
	term := n.raft.CurrentTerm()
	if old := n.barrierTerm.Load(); old == term || !n.barrierTerm.CompareAndSwap(old, term) {
		return
	}
	n.bg.Add(1)
	go n.becomeReady(term)
}

// becomeReady issues a Barrier in the new term: Raft reports leadership
// before the new leader has applied the entries of earlier terms, and
// reads must not see the state from before them. Once the barrier is
// through, leader reads are served and the node records its own addresses
// in the replicated state if they are missing or stale.
func (n *Node) becomeReady(term uint64) {
	defer n.bg.Done()
	for {
		err := n.raft.Barrier(n.cfg.ApplyTimeout).Error()
		if err == nil {
			break
		}
		if n.raft.State() != raft.Leader || n.raft.CurrentTerm() != term || n.shuttingDown() {
			return
		}
		n.logger.Warn("post-election barrier failed; retrying", "term", term, "error", err)
		select {
		case <-n.stopCh:
			return
		case <-time.After(n.cfg.CommitTimeout):
		}
	}
	if n.raft.CurrentTerm() != term {
		return
	}
	n.readyTerm.Store(term)
	n.logger.Info("leader ready", "term", term)
	n.notifyChange()
	n.recordSelf()
}

// recordSelf proposes SetNode for this node unless the replicated state
// already records its current addresses.
func (n *Node) recordSelf() {
	for _, a := range n.fsm.Nodes() {
		if a.ID == n.cfg.ID && a.Raft == n.raftAddr && a.HTTP == n.cfg.HTTPAddr {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	err := n.proposeSetNode(ctx, n.cfg.ID, n.raftAddr, n.cfg.HTTPAddr)
	if err != nil && !errors.Is(err, ErrShuttingDown) {
		n.logger.Warn("recording this node's addresses failed", "error", err)
	}
}

func (n *Node) proposeSetNode(ctx context.Context, id, raftAddr, httpAddr string) error {
	res, _, err := n.Propose(ctx, &fsm.SetNode{
		Header: fsm.Header{Time: fsm.MillisOf(time.Now())},
		NodeID: id, Raft: raftAddr, HTTP: httpAddr,
	})
	if err != nil {
		return err
	}
	return res.Error()
}

// notifyChange wakes everyone waiting on Changes.
func (n *Node) notifyChange() {
	n.changeMu.Lock()
	close(n.changeCh)
	n.changeCh = make(chan struct{})
	n.changeMu.Unlock()
}

// Changes returns a channel that is closed at the next change of this
// node's Raft state, of the known leader, or of this node's readiness to
// serve leader reads. Waiters re-check what they wait for and call again.
func (n *Node) Changes() <-chan struct{} {
	n.changeMu.Lock()
	defer n.changeMu.Unlock()
	return n.changeCh
}

// Leader returns the leader as this node knows it; ok is false while no
// leader is known. Its HTTP address comes from the replicated state (for
// this node itself, from its Config) and is "" until recorded.
func (n *Node) Leader() (info LeaderInfo, ok bool) {
	addr, id := n.raft.LeaderWithID()
	if id == "" {
		return LeaderInfo{}, false
	}
	return LeaderInfo{ID: string(id), Raft: string(addr), HTTP: n.httpAddrOf(string(id))}, true
}

func (n *Node) httpAddrOf(id string) string {
	if id == n.cfg.ID {
		return n.cfg.HTTPAddr
	}
	for _, a := range n.fsm.Nodes() {
		if a.ID == id {
			return a.HTTP
		}
	}
	return ""
}

// recorded reports whether the replicated state has addresses for id.
func (n *Node) recorded(id string) bool {
	for _, a := range n.fsm.Nodes() {
		if a.ID == id {
			return true
		}
	}
	return false
}

// IsLeader reports whether this node is the leader. A new leader may not
// be ready to serve reads yet: see LeaderRead.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// leaderReady reports whether this node is the leader and has completed
// the barrier of its current term.
func (n *Node) leaderReady() bool {
	return n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm()
}

// notLeader builds the error for work only the leader may do.
func (n *Node) notLeader() error {
	info, _ := n.Leader()
	if info.ID == n.cfg.ID {
		// Raft still names this node, which is no longer (or not yet)
		// leader: there is no leader to send anyone to.
		info = LeaderInfo{}
	}
	return &NotLeaderError{Leader: info}
}

// WaitLeader waits until this node knows a leader and that leader's
// addresses are in the replicated state (so LeaderInfo.HTTP is final),
// and, when this node is the leader, until it is ready to serve reads (its
// post-election barrier is through) and has recorded its own addresses.
// It returns ErrTimeout when ctx's deadline passes first and
// ErrShuttingDown when the node closes.
func (n *Node) WaitLeader(ctx context.Context) (LeaderInfo, error) {
	for {
		changed, applied := n.Changes(), n.fsm.Applied()
		info, ok := n.Leader()
		if ok && info.ID == n.cfg.ID && n.leaderReady() && n.recordedAs(n.cfg.ID, n.raftAddr, n.cfg.HTTPAddr) {
			return info, nil
		}
		if ok && info.ID != n.cfg.ID && (info.HTTP != "" || n.recorded(info.ID)) {
			return info, nil
		}
		if n.shuttingDown() {
			return LeaderInfo{}, ErrShuttingDown
		}
		select {
		case <-changed:
		case <-applied:
		case <-n.stopCh:
			return LeaderInfo{}, ErrShuttingDown
		case <-ctx.Done():
			return LeaderInfo{}, contextError(ctx, "no leader known")
		}
	}
}
