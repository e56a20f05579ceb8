package node_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/node"
)

func TestReadsBeforeLeadership(t *testing.T) {
	// Not bootstrapped: no leader, ever, until someone adds it.
	n := openNode(t, fastConfig(t, "n1", t.TempDir(), false))
	for name, read := range map[string]func(context.Context) error{
		"leader":       n.LeaderRead,
		"linearizable": n.LinearizableRead,
	} {
		err := read(ctxTimeout(t, time.Second))
		var nle *node.NotLeaderError
		if !errors.Is(err, node.ErrNotLeader) || !errors.As(err, &nle) || nle.Leader.ID != "" {
			t.Errorf("%s read without a leader: %v", name, err)
		}
	}
	if _, ok := n.Leader(); ok {
		t.Error("a leader is known")
	}
	if _, err := n.WaitLeader(ctxTimeout(t, 50*time.Millisecond)); !errors.Is(err, node.ErrTimeout) {
		t.Errorf("WaitLeader: %v, want ErrTimeout", err)
	}
}

func TestLinearizableReadSeesAcknowledgedWrites(t *testing.T) {
	n := openLeader(t, "n1")
	if err := n.LeaderRead(ctxTimeout(t, time.Second)); err != nil {
		t.Fatalf("LeaderRead on a ready leader: %v", err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, _, err := n.Propose(context.Background(), upsertAccount(fmtID("w", w*100+i), "x")); err != nil {
					t.Errorf("Propose: %v", err)
					return
				}
			}
		}()
	}
	// Reads racing the writes: each must see everything committed before
	// it began.
	for range 20 {
		committed := n.Status().CommitIndex
		if err := n.LinearizableRead(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatalf("LinearizableRead: %v", err)
		}
		if applied := n.FSM().AppliedIndex(); applied < committed {
			t.Fatalf("linearizable read returned with applied %d < commit index %d at its start", applied, committed)
		}
	}
	wg.Wait()
}

func TestWaitForIndex(t *testing.T) {
	n := openLeader(t, "n1")
	_, index := mustPropose(t, n, upsertAccount("a", "A"))
	if err := n.WaitForIndex(ctxTimeout(t, time.Second), index); err != nil {
		t.Fatalf("WaitForIndex(applied): %v", err)
	}

	// A future index: times out at the deadline.
	start := time.Now()
	err := n.WaitForIndex(ctxTimeout(t, 100*time.Millisecond), index+100)
	if !errors.Is(err, node.ErrTimeout) {
		t.Fatalf("WaitForIndex(future): %v, want ErrTimeout", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("returned after %v, before the deadline", waited)
	}

	// A waiter is released when the index is applied.
	done := make(chan error, 1)
	go func() { done <- n.WaitForIndex(ctxTimeout(t, 5*time.Second), index+1) }()
	_, next := mustPropose(t, n, upsertAccount("b", "B"))
	if next != index+1 {
		t.Fatalf("next index %d, want %d", next, index+1)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitForIndex(next): %v", err)
	}
	if err := n.LinearizableRead(ctxTimeout(t, time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestReadsAcrossNoopEntries: a restarted leader's log ends in entries
// the state machine never sees (its election's no-op, its barrier);
// linearizable reads and waits must not hang on them.
func TestReadsAcrossNoopEntries(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(t, "n1", dir, true)
	n := openNode(t, cfg)
	waitLeader(t, n)
	mustPropose(t, n, upsertAccount("a", "A"))
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNode(t, cfg)
	waitLeader(t, n)
	st := n.Status()
	if st.AppliedIndex != st.CommitIndex {
		t.Errorf("status: applied %d, commit %d", st.AppliedIndex, st.CommitIndex)
	}
	if err := n.LinearizableRead(ctxTimeout(t, 2*time.Second)); err != nil {
		t.Fatalf("LinearizableRead after restart: %v", err)
	}
	if err := n.WaitForIndex(ctxTimeout(t, 2*time.Second), st.CommitIndex); err != nil {
		t.Fatalf("WaitForIndex(commit index): %v", err)
	}
}
