package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatstate/chatstate/client"
)

// startCluster starts three chatstated processes: n1 bootstraps, n2 and n3
// join it; it returns once all three are voters and ready.
func startCluster(t *testing.T) map[string]*process {
	t.Helper()
	dir := t.TempDir()
	n1 := startProcess(t, "n1", filepath.Join(dir, "n1"))
	c := serverClient(t, []string{n1.HTTP}, client.JSON)
	waitReady(t, c, n1.HTTP)
	n2 := startProcess(t, "n2", filepath.Join(dir, "n2"), n1.HTTP)
	n3 := startProcess(t, "n3", filepath.Join(dir, "n3"), n1.HTTP)
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := c.Status(context.Background(), client.OnNode(n1.HTTP))
		voters := 0
		if err == nil {
			for _, n := range st.Nodes {
				if n.Suffrage == "voter" {
					voters++
				}
			}
		}
		if voters == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster has %d voters after 60s (status %+v, err %v)", voters, st, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the status endpoint
	}
	waitReady(t, c, n2.HTTP, n3.HTTP)
	return map[string]*process{"n1": n1, "n2": n2, "n3": n3}
}

type writeOutcome struct {
	err  error
	meta client.Meta
}

// TestLeaderLossDuringWrites stops the leader in the middle of writes
// from four goroutines through one client, either with SIGKILL or with a
// graceful SIGTERM (which answers shutting_down and hands leadership
// over): every write either succeeds exactly once or returns an error, no
// write is applied twice, and the event subscription resumes on another
// node without losing or repeating an event.
func TestLeaderLossDuringWrites(t *testing.T) {
	for _, how := range []string{"SIGKILL", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			leaderLossDuringWrites(t, func(p *process) {
				if how == "SIGKILL" {
					p.Kill()
				} else {
					p.Stop()
				}
			})
		})
	}
}

func leaderLossDuringWrites(t *testing.T, stop func(*process)) {
	procs := startCluster(t)
	var addrs []string
	for _, p := range procs {
		addrs = append(addrs, p.HTTP)
	}
	c := newClient(t, addrs, func(cfg *client.Config) {
		cfg.Timeout = 30 * time.Second
		cfg.AttemptTimeout = 3 * time.Second
		cfg.RetryBackoffMin = 20 * time.Millisecond
		cfg.RetryBackoffMax = 500 * time.Millisecond
		cfg.EventIdleTimeout = 5 * time.Second
	})
	ctx := context.Background()
	const acct = "failover"
	if _, err := c.PutAccount(ctx, acct, "Failover"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateChat(ctx, acct, client.CreateChatRequest{
		Contact: client.Contact{Type: client.ContactTypeContact}, Source: client.SourceEmail, Text: "start",
	}); err != nil {
		t.Fatal(err)
	}

	// The subscription collects every event's seq and the texts of the
	// messages created.
	var (
		mu    sync.Mutex
		seqs  []int64
		texts = map[string]int{}
		tick  = make(chan struct{}, 1)
	)
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	subDone := make(chan error, 1)
	go func() {
		subDone <- c.Subscribe(subCtx, acct, client.EventsRequest{Since: new(int64)}, func(ev *client.Event) error {
			mu.Lock()
			seqs = append(seqs, ev.Seq)
			if ev.Type == client.EventMessageCreated && ev.Message != nil {
				texts[ev.Message.Text]++
			}
			mu.Unlock()
			select {
			case tick <- struct{}{}:
			default:
			}
			return nil
		})
	}()

	// Four writers, so that the kill finds writes in flight.
	const writers, perWriter, killAt = 4, 50, 60
	const total = writers * perWriter
	outcomes := make([]writeOutcome, total)
	killNow := make(chan struct{})
	killed := make(chan string, 1)
	var written atomic.Int32
	go func() {
		<-killNow
		st, err := c.Status(ctx)
		if err != nil || st.Leader == nil {
			killed <- ""
			return
		}
		stop(procs[st.Leader.ID])
		killed <- st.Leader.ID
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for j := range perWriter {
				i := w*perWriter + j
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				var o writeOutcome
				_, o.err = c.SendMessage(wctx, acct, 1, client.Customer(), fmt.Sprintf("w-%03d", i), client.WithMeta(&o.meta))
				cancel()
				outcomes[i] = o
				if written.Add(1) == killAt {
					close(killNow)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	victim := <-killed
	if victim == "" {
		t.Fatal("could not find the leader to kill")
	}

	// The transcript as the new leader has it.
	count := map[string]int{}
	for m, err := range c.MessagesAll(ctx, acct, 1, 0, 500, client.WithConsistency(client.ConsistencyLinearizable)) {
		if err != nil {
			t.Fatal(err)
		}
		count[m.Text]++
	}
	var ok, failed, retried, replayed int
	for i, o := range outcomes {
		text := fmt.Sprintf("w-%03d", i)
		if o.err == nil {
			ok++
			if count[text] != 1 {
				t.Errorf("%s succeeded and is in the transcript %d times", text, count[text])
			}
			if o.meta.Attempts > 1 {
				retried++
			}
			if o.meta.Replayed {
				replayed++
			}
			continue
		}
		failed++
		t.Logf("%s failed: %v", text, o.err)
		if count[text] > 1 {
			t.Errorf("%s failed and is in the transcript %d times", text, count[text])
		}
	}
	for text, n := range count {
		if n > 1 {
			t.Errorf("%q is in the transcript %d times", text, n)
		}
	}
	t.Logf("stopped leader %s after write %d; %d writes in %v: %d succeeded (%d after retries, %d answered as replays), %d failed",
		victim, killAt, total, elapsed.Round(time.Millisecond), ok, retried, replayed, failed)
	if ok < total-5 {
		t.Errorf("only %d of %d writes succeeded across one leader failure", ok, total)
	}

	// The subscription saw every message the transcript has, once, with
	// seqs in order and without gaps.
	deadline := time.After(30 * time.Second)
	for {
		mu.Lock()
		done := len(texts) >= len(count)
		mu.Unlock()
		if done {
			break
		}
		select {
		case <-tick:
		case err := <-subDone:
			t.Fatalf("subscription ended: %v", err)
		case <-deadline:
			mu.Lock()
			t.Fatalf("the subscription saw %d message texts within 30s, the transcript has %d", len(texts), len(count))
		}
	}
	stopSub()
	if err := <-subDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("event %d has seq %d: events lost or repeated across the failover (seqs %v...)", i, s, seqs[max(0, i-3):min(len(seqs), i+3)])
		}
	}
	for text, n := range texts {
		if n != 1 || (count[text] != 1 && !strings.HasPrefix(text, "start")) {
			t.Errorf("%q delivered %d times, in the transcript %d times", text, n, count[text])
		}
	}
}
