package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/hashicorp/raft"
)

// AddVoter makes server id, reachable at raftAddr, a voting member, and
// records its addresses (raftAddr, httpAddr) in the replicated state. Only
// the leader may do it. Adding a member again with the same addresses
// changes nothing; a changed address replaces the old one (Raft updates a
// voter's address in place). It returns once the configuration change has
// committed, which needs the new member to catch up.
func (n *Node) AddVoter(ctx context.Context, id, raftAddr, httpAddr string) error {
	if id == "" || raftAddr == "" {
		return errors.New("node: AddVoter needs an id and a Raft address")
	}
	if !n.IsLeader() {
		return n.notLeader()
	}
	member, err := n.member(id)
	if err != nil {
		return err
	}
	inConfig := member != nil && member.Suffrage == raft.Voter && string(member.Address) == raftAddr
	if !n.recordedAs(id, raftAddr, httpAddr) {
		// Recorded first, so that every node can send clients to the new
		// member by the time it can become leader.
		if err := n.proposeSetNode(ctx, id, raftAddr, httpAddr); err != nil {
			return err
		}
	}
	if inConfig {
		return nil
	}
	f := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.timeout(ctx))
	if err := n.waitIndexFuture(ctx, f); err != nil {
		return err
	}
	n.logger.Info("voter added", "id", id, "raft", raftAddr, "http", httpAddr)
	return nil
}

// RemoveServer removes server id from the cluster and forgets its
// addresses. Only the leader may do it; removing an unknown id changes
// nothing. A leader that removes itself steps down once the change commits.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	member, err := n.member(id)
	if err != nil {
		return err
	}
	forget := func() error {
		if !n.recorded(id) {
			return nil
		}
		res, _, err := n.Propose(ctx, &fsm.RemoveNode{Header: fsm.Header{Time: fsm.MillisOf(time.Now())}, NodeID: id})
		if err != nil {
			return err
		}
		return res.Error()
	}
	if id == n.cfg.ID {
		// After removing itself this node is no longer leader and could
		// not propose: forget the addresses first.
		if err := forget(); err != nil {
			return err
		}
	}
	if member != nil {
		f := n.raft.RemoveServer(raft.ServerID(id), 0, n.timeout(ctx))
		if err := n.waitIndexFuture(ctx, f); err != nil {
			return err
		}
		n.logger.Info("server removed", "id", id)
	}
	if id != n.cfg.ID {
		return forget()
	}
	return nil
}

// member returns the configuration's entry for id, or nil.
func (n *Node) member(id string) (*raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.mapRaftError(err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return &s, nil
		}
	}
	return nil, nil
}

func (n *Node) recordedAs(id, raftAddr, httpAddr string) bool {
	for _, a := range n.fsm.Nodes() {
		if a.ID == id {
			return a.Raft == raftAddr && a.HTTP == httpAddr
		}
	}
	return false
}

// timeout is what is left of ctx's deadline, or Config.ApplyTimeout.
func (n *Node) timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return n.cfg.ApplyTimeout
}

// waitIndexFuture waits for a configuration change, up to ctx's deadline.
func (n *Node) waitIndexFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return n.mapRaftError(err)
		}
		return nil
	case <-ctx.Done():
		return contextError(ctx, "the configuration change's outcome is unknown")
	}
}

// Status is a node's view of itself and of the cluster, as GET /v1/status
// shows it.
type Status struct {
	ID string `json:"id"`
	// State is "leader", "follower", "candidate" or "shutdown".
	State string `json:"state"`
	// Leader is nil while no leader is known.
	Leader       *LeaderInfo `json:"leader"`
	Term         uint64      `json:"term"`
	CommitIndex  uint64      `json:"commit_index"`
	AppliedIndex uint64      `json:"applied_index"`
	// LastSnapshot is nil before the first snapshot.
	LastSnapshot *SnapshotInfo `json:"last_snapshot"`
	// Nodes are the members of the Raft configuration, in its order.
	Nodes []NodeInfo `json:"nodes"`
}

// SnapshotInfo identifies a snapshot.
type SnapshotInfo struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// NodeInfo is one member of the cluster. HTTP is "" while not recorded.
type NodeInfo struct {
	ID   string `json:"id"`
	HTTP string `json:"http"`
	Raft string `json:"raft"`
	// Suffrage is "voter" or "nonvoter".
	Suffrage string `json:"suffrage"`
}

// Status reports this node's state. It is cheap enough for a status
// endpoint, not for every request.
func (n *Node) Status() Status {
	stats := n.raft.Stats()
	st := Status{
		ID:           n.cfg.ID,
		State:        strings.ToLower(n.raft.State().String()),
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.AppliedIndex(),
		Nodes:        []NodeInfo{},
	}
	if info, ok := n.Leader(); ok {
		st.Leader = &info
	}
	snapIndex, _ := strconv.ParseUint(stats["last_snapshot_index"], 10, 64)
	snapTerm, _ := strconv.ParseUint(stats["last_snapshot_term"], 10, 64)
	if snapIndex > 0 {
		st.LastSnapshot = &SnapshotInfo{Index: snapIndex, Term: snapTerm}
	}
	recorded := n.fsm.Nodes()
	f := n.raft.GetConfiguration()
	if f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			info := NodeInfo{ID: string(s.ID), Raft: string(s.Address), Suffrage: suffrageName(s.Suffrage)}
			for _, a := range recorded {
				if a.ID == info.ID {
					info.HTTP = a.HTTP
				}
			}
			if info.ID == n.cfg.ID && info.HTTP == "" {
				info.HTTP = n.cfg.HTTPAddr
			}
			st.Nodes = append(st.Nodes, info)
		}
	}
	return st
}

func suffrageName(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	}
	return fmt.Sprintf("staging(%d)", s)
}
