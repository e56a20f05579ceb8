package cluster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatstate/chatstate/cluster/clustertest"
)

// Workload sizes: enough clients to keep a batch in every log entry,
// few chats so that clients contend on each (the interesting histories).
const (
	testClients = 6
	testChats   = 3
)

// TestLeaderKillUnderLoad SIGKILLs the leader while clients write. The
// others elect a new leader and the clients go on; the killed node,
// restarted, catches up: from the log, or from a snapshot when the log it
// needs was compacted meanwhile. Nothing acknowledged is lost or doubled,
// and the history is linearizable.
func TestLeaderKillUnderLoad(t *testing.T) {
	const trailing = 32
	tests := []struct {
		name     string
		args     []string
		snapshot bool
	}{
		{name: "catch up from the log"},
		{
			name:     "catch up from a snapshot",
			args:     []string{"--raft-snapshot-threshold=64", fmt.Sprintf("--raft-trailing-logs=%d", trailing), "--raft-snapshot-interval=100ms"},
			snapshot: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clustertest.Start(t, clustertest.Config{Args: tt.args})
			w := newWorkload(t, c, testChats)
			w.start(testClients)
			w.waitAcked(50, c.Timeout())

			old := c.WaitLeader()
			old.Kill()
			killed := time.Now()
			next := c.WaitLeader()
			t.Logf("%s killed; %s leads %s later", old.ID, next.ID, time.Since(killed).Round(time.Millisecond))
			w.waitAcked(100, c.Timeout())

			if tt.snapshot {
				// The killed node has at most what was committed when it
				// died; once the leader's snapshot is past that by more than
				// the trailing logs, the entries it needs are gone.
				st, err := next.Status()
				if err != nil {
					t.Fatal(err)
				}
				need := st.CommitIndex + trailing + 1
				next.WaitStatus(fmt.Sprintf("a snapshot past index %d", need), func(st clustertest.Status) bool {
					return st.LastSnapshot != nil && st.LastSnapshot.Index > need
				})
			}
			linesBefore := len(old.Output())
			old.Start()
			w.waitAcked(50, c.Timeout())
			w.halt()
			w.checkDurable(c)
			w.checkLinearizable()
			installed := false
			for _, line := range old.Output()[linesBefore:] {
				installed = installed || strings.Contains(line, "Installed remote snapshot")
			}
			if tt.snapshot && !installed {
				t.Errorf("%s caught up without being sent a snapshot", old.ID)
			}
			t.Logf("longest time without an acknowledged write: %s", w.longestWriteGap().Round(time.Millisecond))
		})
	}
}

// TestPartitionedLeader cuts the leader's Raft links to both followers
// while clients write, with refused connections and with a blackhole.
// Cut off in the minority it cannot acknowledge a write; the majority
// elects a new leader and goes on; after healing, nothing acknowledged is
// lost and nothing unacknowledged is reported.
func TestPartitionedLeader(t *testing.T) {
	for _, fault := range []clustertest.Fault{clustertest.Refuse, clustertest.Blackhole} {
		t.Run(fault.String(), func(t *testing.T) { testPartitionedLeader(t, fault) })
	}
}

func testPartitionedLeader(t *testing.T, fault clustertest.Fault) {
	c := clustertest.Start(t, clustertest.Config{Proxies: true})
	w := newWorkload(t, c, testChats)
	w.start(testClients)
	w.waitAcked(50, c.Timeout())

	old := c.WaitLeader()
	c.IsolateWith(fault, old.ID)
	cut := time.Now()

	// A write sent straight to the isolated leader, without following a
	// redirect, must not be acknowledged. Its outcome is unknown to the
	// history (it may have reached the old leader's log, never a quorum).
	probe := chatInput{Chat: 1, Kind: opCustomer, Text: "probe-minority"}
	call := time.Since(w.begin)
	sent := time.Now()
	r, err := tryCall("POST", old.URL("/v1/accounts/acme/chats/1/messages"),
		fmt.Sprintf(`{"author":{"type":"customer"},"text":%q}`, probe.Text),
		map[string]string{"Idempotency-Key": probe.Text}, 15*time.Second)
	if err == nil && r.status < 300 {
		t.Fatalf("the isolated leader acknowledged a write: %d %s", r.status, r)
	}
	t.Logf("the isolated leader answered the probe write after %s: %d %s (err %v)",
		time.Since(sent).Round(time.Millisecond), r.status, r.errorCode(), err)
	w.mu.Lock()
	w.history = append(w.history, operation{client: testClients, in: probe, out: chatOutput{Unknown: true}, call: call, ret: -1})
	w.mu.Unlock()

	next := c.WaitLeaderAmong(c.Others(old.ID)...)
	t.Logf("%s isolated; %s leads %s later", old.ID, next.ID, time.Since(cut).Round(time.Millisecond))
	w.waitAcked(100, c.Timeout())

	c.Heal()
	c.WaitVoters(c.IDs()...)
	w.waitAcked(50, c.Timeout())
	w.halt()
	w.checkDurable(c)
	w.checkLinearizable()
	t.Logf("longest time without an acknowledged write: %s", w.longestWriteGap().Round(time.Millisecond))
}

// TestFullRestart stops all three nodes gracefully and starts them again,
// then SIGKILLs all three while clients write and starts them again: every
// acknowledged write is still there.
func TestFullRestart(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{})
	w := newWorkload(t, c, testChats)
	w.start(testClients)
	w.waitAcked(100, c.Timeout())

	t.Log("graceful stop of all three, clients still running")
	for _, n := range c.Nodes {
		n.Stop()
	}
	for _, n := range c.Nodes {
		n.Start()
	}
	c.WaitVoters(c.IDs()...)
	w.waitAcked(100, c.Timeout())

	t.Log("SIGKILL of all three, clients still running")
	for _, n := range c.Nodes {
		n.Kill()
	}
	for _, n := range c.Nodes {
		n.Start()
	}
	c.WaitVoters(c.IDs()...)
	w.waitAcked(50, c.Timeout())
	w.halt()
	w.checkDurable(c)
	w.checkLinearizable()
}

// TestPartitionedFollower cuts a follower off, first in one direction
// only (the leader's calls to it are refused, its calls to the others
// work), then entirely, into a blackhole. The leader keeps its quorum through the other follower, so
// clients go on; after healing the follower catches up without unseating
// the leader for good, and every check holds.
func TestPartitionedFollower(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Proxies: true})
	w := newWorkload(t, c, testChats)
	w.start(testClients)
	w.waitAcked(30, c.Timeout())

	leader := c.WaitLeader()
	follower := c.Others(leader.ID)[0]
	c.Cut(leader.ID, follower)
	w.waitAcked(100, c.Timeout())

	c.IsolateWith(clustertest.Blackhole, follower)
	w.waitAcked(100, c.Timeout())

	c.Heal()
	c.WaitVoters(c.IDs()...)
	w.waitAcked(30, c.Timeout())
	w.halt()
	w.checkDurable(c)
	w.checkLinearizable()
	t.Logf("longest time without an acknowledged write: %s", w.longestWriteGap().Round(time.Millisecond))
}
