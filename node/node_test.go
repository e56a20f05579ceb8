package node_test

import (
	"testing"
)

func TestBootstrapProposeRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(t, "n1", dir, true)
	n := openNode(t, cfg)
	info := waitLeader(t, n)
	if info.ID != "n1" || info.HTTP != cfg.HTTPAddr || info.Raft != n.RaftAddr() {
		t.Fatalf("leader = %+v, want n1 at %s / %s", info, cfg.HTTPAddr, n.RaftAddr())
	}
	res, index := mustPropose(t, n, upsertAccount("acme", "Acme"))
	if !res.Created || res.Account == nil || res.Account.Name != "Acme" || index == 0 {
		t.Fatalf("result = %+v index %d", res, index)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.Bootstrap = false // existing state wins either way
	n2 := openNode(t, cfg)
	waitLeader(t, n2)
	if err := n2.WaitForIndex(ctxTimeout(t, 5e9), index); err != nil {
		t.Fatal(err)
	}
	if got := accountName(t, n2, "acme"); got != "Acme" {
		t.Fatalf("after restart: name %q", got)
	}
}
