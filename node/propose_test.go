package node_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/node"
)

// TestProposeConcurrentOwnResults: every concurrent proposer gets the
// result of its own command, commands are grouped into fewer log entries
// than commands, and no entry exceeds the command bound.
func TestProposeConcurrentOwnResults(t *testing.T) {
	const proposers, perProposer, maxCommands = 32, 20, 8
	cfg := fastConfig(t, "n1", t.TempDir(), true)
	cfg.MaxBatchCommands = maxCommands
	cfg.MaxInflight = 1
	n := openNode(t, cfg)
	waitLeader(t, n)

	type ack struct {
		id, name string
		index    uint64
	}
	acks := make(chan ack, proposers*perProposer)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := range proposers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perProposer {
				id := fmtID("acct-", p*1000+i)
				name := fmtID("name-", p*1000+i)
				res, index, err := n.Propose(context.Background(), upsertAccount(id, name))
				if err != nil {
					t.Errorf("Propose: %v", err)
					return
				}
				if res.Err != nil || res.Account == nil || res.Account.ID != id || res.Account.Name != name || !res.Created {
					t.Errorf("proposer %d got someone else's result: %+v (want %s)", p, res, id)
				}
				acks <- ack{id, name, index}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(acks)

	perIndex := map[uint64]int{}
	total := 0
	for a := range acks {
		perIndex[a.index]++
		total++
		if got := accountName(t, n, a.id); got != a.name {
			t.Errorf("account %s: name %q, want %q", a.id, got, a.name)
		}
	}
	if total != proposers*perProposer {
		t.Fatalf("%d acknowledgements, want %d", total, proposers*perProposer)
	}
	largest := 0
	for _, c := range perIndex {
		largest = max(largest, c)
	}
	if largest > maxCommands {
		t.Errorf("a log entry carried %d commands, bound is %d", largest, maxCommands)
	}
	if len(perIndex) >= total {
		t.Errorf("no grouping: %d commands in %d log entries", total, len(perIndex))
	}
	t.Logf("%d commands in %d log entries (largest %d)", total, len(perIndex), largest)
}

// TestProposeBatchByteBound: the byte bound splits entries, and a command
// larger than the bound still goes out, alone.
func TestProposeBatchByteBound(t *testing.T) {
	cfg := fastConfig(t, "n1", t.TempDir(), true)
	name := string(make([]byte, 200))
	one, err := fsm.EncodeCommand(upsertAccount("acct-00000", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxBatchBytes = 3*len(one) + len(one)/2 // three fit, four do not
	cfg.MaxInflight = 1
	n := openNode(t, cfg)
	waitLeader(t, n)

	var mu sync.Mutex
	perIndex := map[uint64]int{}
	var wg sync.WaitGroup
	for p := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, index, err := n.Propose(context.Background(), upsertAccount(fmtID("acct-", 10000+p), name))
			if err != nil {
				t.Errorf("Propose: %v", err)
				return
			}
			mu.Lock()
			perIndex[index]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for index, c := range perIndex {
		if c > 3 {
			t.Errorf("entry %d carried %d commands of %d bytes; MaxBatchBytes %d", index, c, len(one), cfg.MaxBatchBytes)
		}
	}

	mustPropose(t, n, upsertAccount("big", "Big"))
	huge := &fsm.CreateChat{
		Header:  header("big"),
		Contact: fsm.Contact{Type: fsm.ContactTypeVisitor},
		Source:  fsm.SourceEmail,
		Text:    strings.Repeat("x", cfg.MaxBatchBytes*2),
	}
	if res, _ := mustPropose(t, n, huge); res.Chat == nil {
		t.Fatalf("oversized command: %+v", res)
	}
}

// TestLoneProposalGoesOutAlone: with nothing else in flight, a proposal
// is its own log entry, proposed at once rather than held for company.
func TestLoneProposalGoesOutAlone(t *testing.T) {
	n := openLeader(t, "n1")
	_, first := mustPropose(t, n, upsertAccount("a1", "A"))
	_, second := mustPropose(t, n, upsertAccount("a2", "B"))
	if second != first+1 {
		t.Fatalf("sequential proposals at %d and %d, want consecutive entries", first, second)
	}
}

// TestProposeErrors: each failure maps to its sentinel and API code.
func TestProposeErrors(t *testing.T) {
	leader := openLeader(t, "n1")
	waiting := openNode(t, fastConfig(t, "n2", t.TempDir(), false)) // not bootstrapped: no leader

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, _, errTimeout := leader.Propose(expired, upsertAccount("late", "Late"))

	_, _, errNotLeader := waiting.Propose(context.Background(), upsertAccount("x", "X"))

	closed := openLeader(t, "n3")
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, errShutdown := closed.Propose(context.Background(), upsertAccount("x", "X"))

	tests := []struct {
		name string
		err  error
		want error
		code string
	}{
		{"timeout", errTimeout, node.ErrTimeout, "timeout"},
		{"not leader", errNotLeader, node.ErrNotLeader, "not_leader"},
		{"shutting down", errShutdown, node.ErrShuttingDown, "shutting_down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("err = %v, want %v", tt.err, tt.want)
			}
			var coded interface{ ErrorCode() string }
			if !errors.As(tt.err, &coded) || coded.ErrorCode() != tt.code {
				t.Fatalf("ErrorCode of %v: want %q", tt.err, tt.code)
			}
		})
	}
	var nl interface{ LeaderHTTP() string }
	if !errors.As(errNotLeader, &nl) || nl.LeaderHTTP() != "" {
		t.Fatalf("not-leader error without a leader: %v", errNotLeader)
	}
	if _, err := leader.FSM().Account("late"); !errors.Is(err, fsm.ErrNotFound) {
		t.Fatalf("a proposal refused for its expired context was applied: %v", err)
	}
	if !errors.Is(node.ErrLeadershipLost, node.ErrLeadershipLost) || node.ErrLeadershipLost.ErrorCode() != "leadership_lost" {
		t.Fatal("ErrLeadershipLost code")
	}
}

// TestCloseWithProposalsInFlight: Close lets accepted proposals finish,
// refuses later ones with ErrShuttingDown, and everything acknowledged is
// there after a restart.
func TestCloseWithProposalsInFlight(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(t, "n1", dir, true)
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, n)

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	started := make(chan struct{}, 16)
	for p := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmtID("acct-", p*100000+i)
				res, _, err := n.Propose(context.Background(), upsertAccount(id, "x"))
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					if !errors.Is(err, node.ErrShuttingDown) {
						t.Errorf("Propose during Close: %v, want ErrShuttingDown", err)
					}
					return
				}
				if res.Err != nil {
					t.Errorf("result: %v", res.Err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	for range 16 {
		<-started
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before Close")
	}

	n2 := openNode(t, cfg)
	waitLeader(t, n2)
	for _, id := range acked {
		if _, err := n2.FSM().Account(id); err != nil {
			t.Fatalf("acknowledged account %s lost: %v", id, err)
		}
	}
	t.Logf("%d acknowledged proposals survived Close and restart", len(acked))
}
