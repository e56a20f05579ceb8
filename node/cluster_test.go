package node_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/chatstate/chatstate/node"
)

// startCluster starts n1 (bootstrapped) and adds n2..nk as voters.
// tune, when set, adjusts n1's config.
func startCluster(t *testing.T, k int, tune func(*node.Config)) []*node.Node {
	t.Helper()
	cfg1 := fastConfig(t, "n1", t.TempDir(), true)
	if tune != nil {
		tune(&cfg1)
	}
	first := openNode(t, cfg1)
	waitLeader(t, first)
	nodes := []*node.Node{first}
	for i := 2; i <= k; i++ {
		cfg := fastConfig(t, fmtID("n", i), t.TempDir(), false)
		n := openNode(t, cfg)
		if err := nodes[0].AddVoter(ctxTimeout(t, 10*time.Second), cfg.ID, n.RaftAddr(), cfg.HTTPAddr); err != nil {
			t.Fatalf("AddVoter(%s): %v", cfg.ID, err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func TestThreeNodeCluster(t *testing.T) {
	rec := &recorder{}
	nodes := startCluster(t, 3, func(c *node.Config) { c.Logger = slog.New(rec.wrap(c.Logger.Handler())) })
	n1 := nodes[0]

	// Every node tracks the leader, with its HTTP address.
	for _, n := range nodes {
		info := waitLeader(t, n)
		if info.ID != "n1" || info.HTTP != n1.HTTPAddr() || info.Raft != n1.RaftAddr() {
			t.Fatalf("%s sees leader %+v", n.ID(), info)
		}
	}

	// Adding a member again with the same addresses changes nothing.
	before := n1.Status()
	if err := n1.AddVoter(ctxTimeout(t, 5*time.Second), "n2", nodes[1].RaftAddr(), nodes[1].HTTPAddr()); err != nil {
		t.Fatalf("repeated AddVoter: %v", err)
	}
	if after := n1.Status(); after.CommitIndex != before.CommitIndex {
		t.Fatalf("repeated AddVoter wrote to the log: commit %d -> %d", before.CommitIndex, after.CommitIndex)
	}

	// Status lists every member with its addresses.
	st := n1.Status()
	if st.State != "leader" || st.Leader == nil || st.Leader.ID != "n1" || len(st.Nodes) != 3 {
		t.Fatalf("status: %+v", st)
	}
	for i, ni := range st.Nodes {
		if ni.ID != nodes[i].ID() || ni.HTTP != nodes[i].HTTPAddr() || ni.Raft != nodes[i].RaftAddr() || ni.Suffrage != "voter" {
			t.Fatalf("status node %d: %+v", i, ni)
		}
	}

	// A follower refuses writes and names the leader's HTTP address.
	_, _, err := nodes[1].Propose(context.Background(), upsertAccount("acme", "Acme"))
	var nle *node.NotLeaderError
	if !errors.Is(err, node.ErrNotLeader) || !errors.As(err, &nle) || nle.LeaderHTTP() != n1.HTTPAddr() {
		t.Fatalf("follower Propose: %v", err)
	}
	if err := nodes[1].LeaderRead(context.Background()); !errors.Is(err, node.ErrNotLeader) {
		t.Fatalf("follower LeaderRead: %v", err)
	}
	if err := nodes[2].LinearizableRead(context.Background()); !errors.Is(err, node.ErrNotLeader) {
		t.Fatalf("follower LinearizableRead: %v", err)
	}

	// A write on the leader reaches the followers.
	_, index := mustPropose(t, n1, upsertAccount("acme", "Acme"))
	for _, n := range nodes[1:] {
		if err := n.WaitForIndex(ctxTimeout(t, 5*time.Second), index); err != nil {
			t.Fatalf("%s: WaitForIndex(%d): %v", n.ID(), index, err)
		}
		if got := accountName(t, n, "acme"); got != "Acme" {
			t.Fatalf("%s: name %q", n.ID(), got)
		}
	}

	// Closing the leader hands leadership to another voter.
	if err := n1.Close(); err != nil {
		t.Fatalf("leader Close: %v", err)
	}
	if !rec.has("leadership transferred") {
		t.Fatal("the closing leader did not transfer leadership")
	}
	var newLeader *node.Node
	for _, n := range nodes[1:] {
		info := waitLeader(t, n)
		if info.ID == "n1" {
			// The old leader may still be named briefly; wait for a change.
			for info.ID == "n1" {
				select {
				case <-n.Changes():
				case <-ctxTimeout(t, 5*time.Second).Done():
					t.Fatalf("%s still sees n1 as leader", n.ID())
				}
				info, _ = n.Leader()
			}
		}
		for _, c := range nodes[1:] {
			if c.ID() == info.ID {
				newLeader = c
			}
		}
	}
	if newLeader == nil {
		t.Fatal("no new leader among n2, n3")
	}
	waitLeader(t, newLeader)
	if _, _, err := newLeader.Propose(ctxTimeout(t, 5*time.Second), upsertAccount("after", "After")); err != nil {
		t.Fatalf("write on the new leader: %v", err)
	}

	// The new leader removes the departed node; its addresses go too.
	if err := newLeader.RemoveServer(ctxTimeout(t, 5*time.Second), "n1"); err != nil {
		t.Fatalf("RemoveServer(n1): %v", err)
	}
	st = newLeader.Status()
	if len(st.Nodes) != 2 {
		t.Fatalf("after removal: %+v", st.Nodes)
	}
	for _, a := range newLeader.FSM().Nodes() {
		if a.ID == "n1" {
			t.Fatalf("n1's addresses still recorded: %+v", a)
		}
	}
	if err := newLeader.RemoveServer(ctxTimeout(t, 5*time.Second), "n1"); err != nil {
		t.Fatalf("removing n1 again: %v", err)
	}
}

// TestAddVoterChangedAddress: a member that comes back at a new Raft
// address replaces its old entry.
func TestAddVoterChangedAddress(t *testing.T) {
	nodes := startCluster(t, 3, nil) // n1 and n3 keep a quorum while n2 moves
	n1, n2 := nodes[0], nodes[1]
	dir2 := t.TempDir()
	cfg := fastConfig(t, "n2", dir2, false)
	// The same id on a new address (a node whose data was lost).
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	moved := openNode(t, cfg)
	cfg.HTTPAddr = "http-n2-moved.test:8080"
	if err := n1.AddVoter(ctxTimeout(t, 10*time.Second), "n2", moved.RaftAddr(), cfg.HTTPAddr); err != nil {
		t.Fatalf("AddVoter with a new address: %v", err)
	}
	st := n1.Status()
	if len(st.Nodes) != 3 || st.Nodes[1].Raft != moved.RaftAddr() || st.Nodes[1].HTTP != cfg.HTTPAddr {
		t.Fatalf("status after move: %+v", st.Nodes)
	}
	_, index := mustPropose(t, n1, upsertAccount("acme", "Acme"))
	if err := moved.WaitForIndex(ctxTimeout(t, 5*time.Second), index); err != nil {
		t.Fatalf("moved node does not replicate: %v", err)
	}
}
