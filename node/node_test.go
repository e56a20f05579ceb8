package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstate/chatstate/node"
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

// TestSecondOpenOfADirectoryFails: a directory in use is refused, and the
// refused Open leaves nothing open: once the first node closes, the
// directory opens again.
func TestSecondOpenOfADirectoryFails(t *testing.T) {
	cfg := fastConfig(t, "n1", t.TempDir(), true)
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, n)
	if second, err := node.Open(cfg); err == nil {
		second.Close()
		t.Fatal("a second Open of a directory in use succeeded")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, openNode(t, cfg))
}

// TestRestartRefusesADamagedSnapshot: a node whose only snapshot was
// damaged on disk refuses to start rather than load wrong state (the
// snapshot store verifies every chunk as the restore reads it).
func TestRestartRefusesADamagedSnapshot(t *testing.T) {
	cfg := fastConfig(t, "n1", t.TempDir(), true)
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, n)
	for i := range 50 {
		mustPropose(t, n, upsertAccount(fmtID("acct-", i), strings.Repeat("name ", 20)))
	}
	var backup bytes.Buffer // the only snapshot, taken by Backup
	if err := n.Backup(&backup); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(cfg.Dir, "snapshots.db")
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data := backup.Bytes()
	damaged := 0
	// The store keeps a chunk in pieces of a few KB, not contiguous in the
	// file: of needles taken at three places, at least one lies within a
	// piece.
	for _, at := range []int{len(data) / 4, len(data) / 2, len(data) * 3 / 4} {
		needle := data[at : at+64]
		for from := 0; ; damaged++ { // stale copies in free pages too
			i := bytes.Index(file[from:], needle)
			if i < 0 {
				break
			}
			file[from+i+10] ^= 0x01
			from += i + len(needle)
		}
	}
	if damaged == 0 {
		t.Fatal("the snapshot's bytes are not in snapshots.db")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}

	if n, err := node.Open(cfg); err == nil {
		n.Close()
		t.Fatal("a node started from a damaged snapshot")
	}
}

// TestRestartWithHugePages restarts a node that asks for huge pages
// through a snapshot and the log after it: the heap is grown and marked
// before the restore (Config.HeapHugePages), and the state comes back.
func TestRestartWithHugePages(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(t, "n1", dir, true)
	cfg.HeapHugePages = true
	n := openNode(t, cfg)
	waitLeader(t, n)
	mustPropose(t, n, upsertAccount("acme", "Acme"))
	if _, err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	_, index := mustPropose(t, n, upsertAccount("beta", "Beta"))
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := openNode(t, cfg)
	waitLeader(t, n2)
	if err := n2.WaitForIndex(ctxTimeout(t, 5e9), index); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"acme": "Acme", "beta": "Beta"} {
		if got := accountName(t, n2, id); got != want {
			t.Fatalf("after restart: account %s named %q, want %q", id, got, want)
		}
	}
}
