package bench

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

func TestFsyncFloorAppends(t *testing.T) {
	ff, err := OpenFsyncFloor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	op := ff.Op()(0, rand.New(rand.NewPCG(1, 1)))
	for range 5 {
		if kind, err := op(context.Background()); err != nil || kind != KindWrite {
			t.Fatalf("append: %v %v", kind, err)
		}
	}
	st, err := ff.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 5*fsyncAppendBytes {
		t.Fatalf("file has %d bytes, want %d", st.Size(), 5*fsyncAppendBytes)
	}
	if err := ff.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBareRaftThreeNodesApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	br, err := OpenBareRaft(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	before := br.leader.LastIndex()
	out := RunClosed(ctx, 4, 1, Phase{Duration: 200 * time.Millisecond}, br.Op(), nil)
	if out.All.Errors() != 0 || out.All.Count() == 0 {
		t.Fatalf("%d applies, %d errors: %v", out.All.Count(), out.All.Errors(), out.ErrorSamples)
	}
	// One log entry per Apply: bare Raft merges nothing.
	if got := br.leader.LastIndex() - before; got != uint64(out.All.Count()) {
		t.Fatalf("%d applies appended %d entries", out.All.Count(), got)
	}
	// Every node has the entries: the baseline replicates like chatstated.
	for _, bn := range br.nodes {
		deadline := time.Now().Add(10 * time.Second)
		for bn.raft.AppliedIndex() < br.leader.LastIndex() {
			if time.Now().After(deadline) {
				t.Fatalf("a follower applied %d of %d", bn.raft.AppliedIndex(), br.leader.LastIndex())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
