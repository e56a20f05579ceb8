package clustertest_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/chatstate/chatstate/cluster/clustertest"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

// TestHarness starts a three-node cluster behind proxies, isolates its
// leader, and checks that the others elect a new one and that healing
// brings the old leader back as a follower.
func TestHarness(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Proxies: true})
	leader := c.WaitLeader()
	for _, n := range c.Nodes {
		st, err := n.Status()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Voters()) != 3 || st.LeaderID() != leader.ID {
			t.Fatalf("%s: %+v", n.ID, st)
		}
		for _, m := range st.Nodes {
			if m.Raft != c.Node(m.ID).Raft || m.HTTP != c.Node(m.ID).HTTP {
				t.Fatalf("%s lists %+v, want the harness's addresses", n.ID, m)
			}
		}
	}

	c.Isolate(leader.ID)
	next := c.WaitLeaderAmong(c.Others(leader.ID)...)
	if next.ID == leader.ID {
		t.Fatalf("the isolated leader %s still leads", leader.ID)
	}
	c.Heal()
	if got := c.WaitLeader(); got.ID != next.ID {
		// A new election after healing is allowed, but the old leader's
		// term is behind: it cannot have won back without a new election.
		t.Logf("after healing the leader is %s", got.ID)
	}
	c.WaitConverged()

	leader = c.WaitLeader()
	leader.Stop()
	if err := leader.ExitErr(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	c.WaitLeader()
	leader.Start()
	c.WaitVoters(c.IDs()...)
}

// TestCleanupLeavesNoProcess checks that every node a test started is
// gone once the test has ended.
func TestCleanupLeavesNoProcess(t *testing.T) {
	var pids []int
	t.Run("cluster", func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Config{Nodes: 2})
		for _, n := range c.Nodes {
			pids = append(pids, n.PID())
		}
	})
	if len(pids) != 2 {
		t.Fatalf("pids %v", pids)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after its test ended (kill -0: %v)", pid, err)
		}
	}
}
