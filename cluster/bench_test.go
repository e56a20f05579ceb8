package cluster_test

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/cluster/clustertest"
)

// BenchmarkFailover measures how long a three-node cluster takes to
// recover when its leader is SIGKILLed while a client writes, once per
// iteration (`make bench-failover` runs 20). It reports, over the
// iterations:
//
//   - elected-median-ms, elected-worst-ms: from the kill until a surviving
//     node reports itself leader on /v1/status;
//   - write-median-ms, write-worst-ms: from the kill until the client's
//     next acknowledged write (its retries follow redirects and move on
//     from the dead node), i.e. how long writes were unavailable.
//
// Raft's default timings are used (1s heartbeat and election timeouts);
// CHATSTATE_BENCH_RAFT=fast uses the tests' (clustertest.FastRaft).
// Between iterations the killed node is restarted and caught up.
func BenchmarkFailover(b *testing.B) {
	cfg := clustertest.Config{Raft: []string{}, Quiet: true, Timeout: time.Minute}
	if os.Getenv("CHATSTATE_BENCH_RAFT") == "fast" {
		cfg.Raft = clustertest.FastRaft()
	}
	c := clustertest.Start(b, cfg)
	cc := newClusterClient(c.HTTPAddrs())
	for i, s := range []struct{ method, path, body string }{
		{"PUT", "/v1/accounts/acme", `{"name":"Acme"}`},
		{"POST", "/v1/accounts/acme/chats", `{"contact":{"type":"visitor"},"source":"chat_page","text":"hello"}`},
	} {
		if r, err := cc.retry(s.method, s.path, s.body, fmt.Sprintf("setup-%d", i), time.Minute); err != nil || r.status >= 300 {
			b.Fatalf("setup %s: %v %d %s", s.path, err, r.status, r)
		}
	}

	var elected, writable []time.Duration
	b.ResetTimer()
	for i := range b.N {
		c.WaitVoters(c.IDs()...)
		c.WaitConverged()
		leader := c.WaitLeader()
		others := c.Others(leader.ID)

		w := startWriter(cc, fmt.Sprintf("it%d-", i))
		w.waitAcks(b, 5, c.Timeout())
		leader.Kill()
		killed := time.Now()
		elected = append(elected, waitNewLeader(b, c, others, killed, c.Timeout()))
		writable = append(writable, w.firstAckAfter(b, killed, c.Timeout()))
		w.stop()

		leader.Start()
	}
	b.StopTimer()
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-median-ms")
		b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, name+"-worst-ms")
		b.Logf("%s over %d kills: median %s, worst %s, all %v", name, len(d), d[len(d)/2], d[len(d)-1], d)
	}
	report("elected", elected)
	report("write", writable)
}

// waitNewLeader polls the surviving nodes until one reports itself leader
// and returns the time since the kill.
func waitNewLeader(b *testing.B, c *clustertest.Cluster, ids []string, killed time.Time, timeout time.Duration) time.Duration {
	b.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for time.Since(killed) < timeout {
		for _, id := range ids {
			if st, err := c.Node(id).Status(); err == nil && st.State == "leader" {
				return time.Since(killed)
			}
		}
		<-tick.C
	}
	b.Fatalf("no new leader among %v within %s", ids, timeout)
	return 0
}

// writer sends customer messages one after another, each retried with
// its Idempotency-Key every 5ms until acknowledged, and records when
// each was acknowledged.
type writer struct {
	cc     *clusterClient
	prefix string
	done   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	acks []time.Time
	wake chan struct{}
}

func startWriter(cc *clusterClient, prefix string) *writer {
	w := &writer{cc: cc, prefix: prefix, done: make(chan struct{}), wake: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w
}

func (w *writer) run() {
	defer w.wg.Done()
	for seq := 0; ; seq++ {
		key := fmt.Sprintf("%s%d", w.prefix, seq)
		body := fmt.Sprintf(`{"author":{"type":"customer"},"text":%q}`, key)
		for {
			select {
			case <-w.done:
				return
			default:
			}
			r, err := w.cc.do("POST", "/v1/accounts/acme/chats/1/messages", body, map[string]string{"Idempotency-Key": key})
			if err == nil && r.status == 201 {
				break
			}
			time.Sleep(5 * time.Millisecond) // back off before the retry
		}
		w.mu.Lock()
		w.acks = append(w.acks, time.Now())
		close(w.wake)
		w.wake = make(chan struct{})
		w.mu.Unlock()
	}
}

func (w *writer) stop() {
	close(w.done)
	w.wg.Wait()
}

// waitAcks waits until n writes were acknowledged.
func (w *writer) waitAcks(b *testing.B, n int, timeout time.Duration) {
	b.Helper()
	w.waitFor(b, timeout, func(acks []time.Time) bool { return len(acks) >= n })
}

// firstAckAfter waits for the first write acknowledged after t and
// returns how long after t it came.
func (w *writer) firstAckAfter(b *testing.B, t time.Time, timeout time.Duration) time.Duration {
	b.Helper()
	var got time.Duration
	w.waitFor(b, timeout, func(acks []time.Time) bool {
		if last := acks[len(acks)-1]; last.After(t) {
			i, _ := slices.BinarySearchFunc(acks, t, func(a, t time.Time) int { return a.Compare(t) })
			got = acks[i].Sub(t)
			return true
		}
		return false
	})
	return got
}

func (w *writer) waitFor(b *testing.B, timeout time.Duration, cond func([]time.Time) bool) {
	b.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		ok := len(w.acks) > 0 && cond(w.acks)
		wake := w.wake
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			b.Fatalf("the writer's acknowledgements did not come within %s", timeout)
		}
	}
}
