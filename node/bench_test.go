package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
)

// The benchmarks compare Propose with bare raft.Apply of the same no-op
// command on the same node (same on-disk stores, same run), so that the
// figures isolate what group commit adds or saves:
//
//	go test -run '^$' -bench 'Propose' -benchtime 2000x ./node/

func benchNode(b *testing.B, tune func(*Config)) *Node {
	b.Helper()
	cfg := DefaultConfig()
	cfg.ID, cfg.Dir, cfg.RaftAddr, cfg.Bootstrap = "bench", b.TempDir(), "127.0.0.1:0", true
	// Only the first election's wait is shortened; a single node never
	// sends a heartbeat.
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	if tune != nil {
		tune(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	return n
}

func noop() fsm.Command { return &fsm.Noop{} }

// proposeOnce goes through group commit.
func proposeOnce(b *testing.B, n *Node) {
	if _, _, err := n.Propose(context.Background(), noop()); err != nil {
		b.Fatal(err)
	}
}

// applyOnce is bare Raft: one log entry per command, as a caller of
// raft.Apply would do it (encoding included, as in Propose).
func applyOnce(b *testing.B, n *Node) {
	data, err := fsm.EncodeCommand(noop())
	if err != nil {
		b.Fatal(err)
	}
	f := n.raft.Apply(data, n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		b.Fatal(err)
	}
	if res, ok := f.Response().([]fsm.Result); !ok || len(res) != 1 {
		b.Fatalf("response %#v", f.Response())
	}
}

type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// run does ops operations over workers goroutines and returns every
// operation's latency and the elapsed time.
func run(workers, ops int, op func()) (latencies, time.Duration) {
	var next atomic.Int64
	all := make([]latencies, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(ops) {
				t := time.Now()
				op()
				all[w] = append(all[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return slices.Concat(all...), elapsed
}

// BenchmarkProposeSequential: one writer, each command waiting for the
// previous. Propose and bare raft.Apply alternate on the same node, so
// both see the same disk and the same log size.
func BenchmarkProposeSequential(b *testing.B) {
	n := benchNode(b, nil)
	var prop, bare latencies
	b.ResetTimer()
	for i := range b.N {
		// Alternate which goes first, so neither always follows the other.
		for j := range 2 {
			t := time.Now()
			if (i+j)%2 == 0 {
				proposeOnce(b, n)
				prop = append(prop, time.Since(t))
			} else {
				applyOnce(b, n)
				bare = append(bare, time.Since(t))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(us(prop.percentile(0.50)), "propose_p50_us")
	b.ReportMetric(us(prop.percentile(0.99)), "propose_p99_us")
	b.ReportMetric(us(bare.percentile(0.50)), "bare_p50_us")
	b.ReportMetric(us(bare.percentile(0.99)), "bare_p99_us")
	b.ReportMetric(float64(prop.percentile(0.50))/float64(bare.percentile(0.50)), "p50_ratio")
}

// BenchmarkProposeConcurrent: many writers at once. Each iteration is one
// command; the phases (Propose, bare, Propose, bare) each run b.N/2
// commands, so drift in the machine's speed hits both alike.
func BenchmarkProposeConcurrent(b *testing.B) {
	for _, writers := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			n := benchNode(b, nil)
			var prop, bare latencies
			var propTime, bareTime time.Duration
			half := max(b.N/2, writers)
			startIndex := n.raft.LastIndex()
			var propEntries uint64
			b.ResetTimer()
			for range 2 {
				before := n.raft.LastIndex()
				l, d := run(writers, half, func() { proposeOnce(b, n) })
				propEntries += n.raft.LastIndex() - before
				prop, propTime = append(prop, l...), propTime+d
				l, d = run(writers, half, func() { applyOnce(b, n) })
				bare, bareTime = append(bare, l...), bareTime+d
			}
			b.StopTimer()
			_ = startIndex
			propRate := float64(len(prop)) / propTime.Seconds()
			bareRate := float64(len(bare)) / bareTime.Seconds()
			b.ReportMetric(propRate, "propose_ops/s")
			b.ReportMetric(bareRate, "bare_ops/s")
			b.ReportMetric(propRate/bareRate, "throughput_ratio")
			b.ReportMetric(us(prop.percentile(0.99)), "propose_p99_us")
			b.ReportMetric(us(bare.percentile(0.99)), "bare_p99_us")
			b.ReportMetric(us(prop.percentile(0.50)), "propose_p50_us")
			b.ReportMetric(us(bare.percentile(0.50)), "bare_p50_us")
			b.ReportMetric(float64(len(prop))/float64(propEntries), "cmds/entry")
		})
	}
}

// BenchmarkProposeTuning: Propose alone across MaxInflight and
// CommitDelay, to choose the defaults (see DESIGN.md).
func BenchmarkProposeTuning(b *testing.B) {
	for _, writers := range []int{16, 64, 256} {
		for _, inflight := range []int{1, 2} {
			for _, delay := range []time.Duration{-1, 200 * time.Microsecond, time.Millisecond} {
				b.Run(fmt.Sprintf("writers=%d/inflight=%d/delay=%v", writers, inflight, max(delay, 0)), func(b *testing.B) {
					n := benchNode(b, func(c *Config) { c.MaxInflight, c.CommitDelay = inflight, delay })
					b.ResetTimer()
					before := n.raft.LastIndex()
					l, d := run(writers, max(b.N, writers), func() { proposeOnce(b, n) })
					b.StopTimer()
					b.ReportMetric(float64(len(l))/d.Seconds(), "ops/s")
					b.ReportMetric(us(l.percentile(0.50)), "p50_us")
					b.ReportMetric(us(l.percentile(0.99)), "p99_us")
					b.ReportMetric(float64(len(l))/float64(n.raft.LastIndex()-before), "cmds/entry")
				})
			}
		}
	}
}
