package node_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/node"
)

func TestSnapshotOnDemand(t *testing.T) {
	n := openLeader(t, "n1")
	if st := n.Status(); st.LastSnapshot != nil {
		t.Fatalf("last snapshot before the first: %+v", st.LastSnapshot)
	}
	_, index := mustPropose(t, n, upsertAccount("a", "A"))
	snap, err := n.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if snap < index {
		t.Fatalf("snapshot index %d < applied write %d", snap, index)
	}
	st := n.Status()
	if st.LastSnapshot == nil || st.LastSnapshot.Index != snap || st.LastSnapshot.Term != st.Term {
		t.Fatalf("status last snapshot %+v, want index %d term %d", st.LastSnapshot, snap, st.Term)
	}
	// Nothing new since: the same snapshot's index.
	again, err := n.Snapshot()
	if err != nil || again != snap {
		t.Fatalf("second Snapshot = %d, %v; want %d", again, err, snap)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	src := openLeader(t, "src")
	mustPropose(t, src, upsertAccount("acme", "Acme"))
	mustPropose(t, src, &fsm.UpsertOperator{Header: header("acme"), Operator: "ann", Name: "Ann"})
	chat, _ := mustPropose(t, src, &fsm.CreateChat{Header: header("acme"), Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceEmail, Text: "Hi"})
	mustPropose(t, src, &fsm.OperatorMessage{Header: header("acme"), Chat: chat.Chat.ID, Operator: "ann", Text: "Hello"})
	var backup bytes.Buffer
	if err := src.Backup(&backup); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	// A second backup with nothing new is the same state.
	var again bytes.Buffer
	if err := src.Backup(&again); err != nil || !bytes.Equal(backup.Bytes(), again.Bytes()) {
		t.Fatalf("second Backup differs (%v)", err)
	}

	// Restore into another cluster (with a follower) that has other data.
	dst := startCluster(t, 2, nil)
	mustPropose(t, dst[0], upsertAccount("other", "Other"))
	if err := dst[0].Restore(bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, n := range dst {
		if err := n.WaitForIndex(ctxTimeout(t, 5*time.Second), dst[0].Status().CommitIndex); err != nil {
			t.Fatalf("%s: %v", n.ID(), err)
		}
		f := n.FSM()
		if _, err := f.Account("other"); !errors.Is(err, fsm.ErrNotFound) {
			t.Errorf("%s: account from before the restore survived: %v", n.ID(), err)
		}
		c, err := f.Chat("acme", chat.Chat.ID)
		if err != nil || c.Assignee != "ann" || c.MessageCount != 2 {
			t.Errorf("%s: restored chat %+v, %v", n.ID(), c, err)
		}
		// The member table is this cluster's again, not the backup's.
		nodes := f.Nodes()
		if len(nodes) != 2 || nodes[0].ID != "n1" || nodes[1].ID != "n2" || nodes[1].HTTP != dst[1].HTTPAddr() {
			t.Errorf("%s: nodes after restore: %+v", n.ID(), nodes)
		}
	}
	if _, _, err := dst[0].Propose(ctxTimeout(t, 5*time.Second), upsertAccount("later", "Later")); err != nil {
		t.Fatalf("write after restore: %v", err)
	}

	// A follower refuses; garbage is refused and changes nothing.
	if err := dst[1].Restore(bytes.NewReader(backup.Bytes())); !errors.Is(err, node.ErrNotLeader) {
		t.Fatalf("follower Restore: %v", err)
	}
	before := dst[0].Status().CommitIndex
	if err := dst[0].Restore(bytes.NewReader([]byte("not a backup"))); !errors.Is(err, node.ErrInvalidBackup) {
		t.Fatalf("Restore(garbage): %v", err)
	}
	if truncated := backup.Bytes()[:backup.Len()/2]; !errors.Is(dst[0].Restore(bytes.NewReader(truncated)), node.ErrInvalidBackup) {
		t.Fatal("Restore(truncated backup) accepted")
	}
	if after := dst[0].Status().CommitIndex; after != before {
		t.Fatalf("refused restores wrote to the log: %d -> %d", before, after)
	}
	if _, err := dst[0].FSM().Account("later"); err != nil {
		t.Fatalf("state changed by a refused restore: %v", err)
	}
}
