package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	runtimemetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// TestLeaderReadRefusesBeforeBarrier: a leader whose post-election
// barrier has not completed does not serve leader reads. The barrier of
// a single node completes within milliseconds, so the test puts the node
// back into the state just after its election.
func TestLeaderReadRefusesBeforeBarrier(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID, cfg.Dir, cfg.RaftAddr, cfg.Bootstrap = "n1", t.TempDir(), "127.0.0.1:0", true
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	ready := n.readyTerm.Load()
	n.readyTerm.Store(0) // as just after the election
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	err = n.LeaderRead(short)
	var nle *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) || nle.LeaderHTTP() != "" {
		t.Fatalf("LeaderRead before the barrier: %v", err)
	}
	if err := n.LinearizableRead(short); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("LinearizableRead before the barrier: %v", err)
	}
	// The barrier completing releases a waiting read.
	done := make(chan error, 1)
	go func() { done <- n.LeaderRead(ctx) }()
	n.readyTerm.Store(ready)
	n.notifyChange()
	if err := <-done; err != nil {
		t.Fatalf("LeaderRead after the barrier: %v", err)
	}
}

func TestMapRaftError(t *testing.T) {
	n := &Node{stopCh: make(chan struct{})}
	tests := []struct {
		raftErr error
		want    error
		code    string
	}{
		{raft.ErrLeadershipLost, ErrLeadershipLost, "leadership_lost"},
		{raft.ErrAbortedByRestore, ErrLeadershipLost, "leadership_lost"},
		{raft.ErrRaftShutdown, ErrShuttingDown, "shutting_down"},
		{raft.ErrEnqueueTimeout, ErrTimeout, "timeout"},
		{fmt.Errorf("wrapped: %w", raft.ErrRaftShutdown), ErrShuttingDown, "shutting_down"},
	}
	for _, tt := range tests {
		got := n.mapRaftError(tt.raftErr)
		if !errors.Is(got, tt.want) {
			t.Errorf("mapRaftError(%v) = %v, want %v", tt.raftErr, got, tt.want)
		}
		var coded interface{ ErrorCode() string }
		if !errors.As(got, &coded) || coded.ErrorCode() != tt.code {
			t.Errorf("mapRaftError(%v): code %v, want %s", tt.raftErr, got, tt.code)
		}
	}
	other := errors.New("disk on fire")
	if got := n.mapRaftError(other); got != other {
		t.Errorf("an unknown error is not passed through: %v", got)
	}
}

func TestChunkedCompaction(t *testing.T) {
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(t.TempDir(), "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	store := chunkedCompaction{bolt}
	var logs []*raft.Log
	for i := uint64(1); i <= 1000; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("x")})
	}
	if err := store.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	// Not a multiple of the chunk, and ending below the last entry.
	if err := store.DeleteRange(1, 3*compactionChunk+7); err != nil {
		t.Fatal(err)
	}
	first, _ := store.FirstIndex()
	last, _ := store.LastIndex()
	if first != 3*compactionChunk+8 || last != 1000 {
		t.Fatalf("after compaction: first %d last %d", first, last)
	}
	// A range reaching the top of the index space ends.
	if err := store.DeleteRange(990, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	if last, _ := store.LastIndex(); last != 989 {
		t.Fatalf("last %d after deleting the tail", last)
	}
}

// gcPercent reads the collector's current target.
func gcPercent() int64 {
	sample := []runtimemetrics.Sample{{Name: "/gc/gogc:percent"}}
	runtimemetrics.Read(sample)
	return int64(sample[0].Value.Uint64())
}

// TestGCRelaxerNests: overlapping holders (a restore during a node's
// start) keep the relaxed target until the last releases it, and then
// the target is what it was before the first.
func TestGCRelaxerNests(t *testing.T) {
	before := gcPercent()
	g := &gcRelaxer{percent: int(before) + 150}
	g.hold()
	g.hold()
	if got := gcPercent(); got != before+150 {
		t.Fatalf("held: GC percent %d, want %d", got, before+150)
	}
	g.release()
	if got := gcPercent(); got != before+150 {
		t.Fatalf("one of two released: GC percent %d, want %d", got, before+150)
	}
	g.release()
	if got := gcPercent(); got != before {
		t.Fatalf("released: GC percent %d, want %d", got, before)
	}
	off := &gcRelaxer{}
	off.hold()
	if got := gcPercent(); got != before {
		t.Fatalf("percent 0 held: GC percent %d, want %d", got, before)
	}
	off.release()
}

// TestRestartRelaxesGCUntilReplayed: a node that restarts from a snapshot
// and a log after it sets the collector back once it has replayed the log.
func TestRestartRelaxesGCUntilReplayed(t *testing.T) {
	before := gcPercent()
	cfg := DefaultConfig()
	cfg.ID, cfg.Dir, cfg.RaftAddr, cfg.Bootstrap = "n1", t.TempDir(), "127.0.0.1:0", true
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	cfg.RestoreGCPercent = int(before) + 300
	propose := func(n *Node, i int) {
		t.Helper()
		cmd := &fsm.UpsertAccount{Header: fsm.Header{Account: fmt.Sprint("a", i), Time: 1}, Name: "x"}
		if _, _, err := n.Propose(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		propose(n, i)
	}
	if _, err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		propose(n, 5+i)
	}
	cfg.RaftAddr = n.RaftAddr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for gcPercent() != before {
		select {
		case <-ctx.Done():
			t.Fatalf("GC percent still %d after the replay, want %d back", gcPercent(), before)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if len(n.FSM().Accounts()) != 10 {
		t.Fatalf("%d accounts after the restart, want 10", len(n.FSM().Accounts()))
	}
}
