package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chatstate/chatstate/fsm"
)

func TestCollectorReportsRaftBatchesAndBoltDB(t *testing.T) {
	n := openLeader(t, "n1")
	ctx := context.Background()
	if _, _, err := n.Propose(ctx, &fsm.UpsertAccount{Header: fsm.Header{Account: "acme", Time: 1}, Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(n.Collector()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"chatstate_node_apply_duration_seconds", "chatstate_node_batch_commands", "chatstate_node_batch_bytes",
		"chatstate_node_snapshot_persist_seconds", "chatstate_raft_state", "chatstate_raft_term",
		"chatstate_raft_index", "chatstate_boltdb_free_pages", "chatstate_boltdb_open_read_txs",
	} {
		if c, err := testutil.GatherAndCount(reg, name); err != nil || c == 0 {
			t.Errorf("%s: %d series, err %v", name, c, err)
		}
	}
	want := `
# HELP chatstate_raft_state 1 for this node's current Raft state, 0 for the others.
# TYPE chatstate_raft_state gauge
chatstate_raft_state{state="candidate"} 0
chatstate_raft_state{state="follower"} 0
chatstate_raft_state{state="leader"} 1
chatstate_raft_state{state="shutdown"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "chatstate_raft_state"); err != nil {
		t.Error(err)
	}
}
