package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	runtimemetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/fsm/dataset"
	"github.com/hashicorp/raft"
)

// The dataset benchmarks run on the standard 1,000,000-chat dataset (set
// CHATSTATE_BENCH_SCALE=0.01 for a quick 10,000-chat run):
//
//	go test -run '^$' -bench 'Dataset' -benchtime 1x -timeout 60m ./node/
//
// One fixture per process: a data directory holding the dataset, with a
// snapshot of most of it and the last datasetTail commands in the log
// after it, as a node finds its directory after a restart in the worst
// case (Raft snapshots every SnapshotThreshold = 8192 entries).

const datasetTail = 8000

type datasetFixture struct {
	dir      string
	raftAddr string
	chats    int
	commands int
	index    uint64 // last index after loading
	loadTime time.Duration
	keep     bool // a CHATSTATE_BENCH_FIXTURE directory
}

var (
	datasetOnce sync.Once
	datasetFx   *datasetFixture
	datasetErr  error
)

// RemoveBenchFixtures deletes the dataset fixture's directory; TestMain
// calls it after the run.
func RemoveBenchFixtures() {
	if datasetFx != nil && !datasetFx.keep {
		os.RemoveAll(datasetFx.dir)
	}
}

func datasetFixtureFor(b *testing.B) *datasetFixture {
	b.Helper()
	datasetOnce.Do(func() { datasetFx, datasetErr = buildDatasetFixture() })
	if datasetErr != nil {
		b.Fatal(datasetErr)
	}
	return datasetFx
}

func datasetConfig(dir, raftAddr string) Config {
	cfg := DefaultConfig()
	cfg.ID, cfg.Dir, cfg.RaftAddr, cfg.Bootstrap, cfg.HTTPAddr = "bench", dir, raftAddr, true, "127.0.0.1:1"
	// A single node elects itself after one election timeout; the
	// default 1s would dominate restart-to-ready, so the benchmark uses
	// what a single-node deployment would.
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	// As chatstated runs a node (cmd/chatstated sets the same).
	cfg.RestoreGCPercent = 400
	cfg.HeapHugePages = os.Getenv("CHATSTATE_BENCH_HUGE_PAGES") != "off"
	if v := os.Getenv("CHATSTATE_BENCH_SNAPSHOT_CPU_SHARE"); v != "" {
		share, err := strconv.ParseFloat(v, 64)
		if err != nil {
			panic(fmt.Sprintf("CHATSTATE_BENCH_SNAPSHOT_CPU_SHARE=%q: %v", v, err))
		}
		cfg.FSM.PersistShare = share
	}
	if os.Getenv("CHATSTATE_BENCH_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return cfg
}

func buildDatasetFixture() (*datasetFixture, error) {
	// CHATSTATE_BENCH_FIXTURE names a directory to keep the fixture in
	// across runs (building it takes minutes): used as is when it holds
	// one, built there and kept otherwise.
	if dir := os.Getenv("CHATSTATE_BENCH_FIXTURE"); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "fixture")); err == nil {
			fx := &datasetFixture{dir: dir, keep: true}
			if _, err := fmt.Sscan(string(b), &fx.raftAddr, &fx.chats, &fx.commands, &fx.index); err != nil {
				return nil, fmt.Errorf("%s/fixture: %w", dir, err)
			}
			return fx, nil
		}
		fx, err := buildDatasetFixtureIn(dir)
		if err != nil {
			return nil, err
		}
		fx.keep = true
		desc := fmt.Sprintln(fx.raftAddr, fx.chats, fx.commands, fx.index)
		return fx, os.WriteFile(filepath.Join(dir, "fixture"), []byte(desc), 0o600)
	}
	dir, err := os.MkdirTemp("", "chatstate-node-bench-")
	if err != nil {
		return nil, err
	}
	return buildDatasetFixtureIn(dir)
}

func buildDatasetFixtureIn(dir string) (*datasetFixture, error) {
	scale := 1.0
	if s := os.Getenv("CHATSTATE_BENCH_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("CHATSTATE_BENCH_SCALE: %w", err)
		}
		scale = v
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			os.RemoveAll(dir)
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	fx := &datasetFixture{dir: dir, raftAddr: addr}
	n, err := Open(datasetConfig(dir, addr))
	if err != nil {
		return nil, err
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		return nil, err
	}

	// Load through Raft in entries of MaxBatchCommands commands, in
	// order, many in flight (their futures are checked by another
	// goroutine), keeping the last datasetTail commands back for after
	// the snapshot.
	start := time.Now()
	futures := make(chan raft.ApplyFuture, 64)
	errs := make(chan error, 1)
	go func() {
		var first error
		for f := range futures {
			if err := checkApply(f); err != nil && first == nil {
				first = err
			}
		}
		errs <- first
	}()
	send := func(entry []byte) { futures <- n.raft.Apply(entry, time.Minute) }
	var batch, tail [][]byte
	stats, genErr := dataset.Generate(dataset.Standard().WithScale(scale), func(cmd fsm.Command) error {
		data, err := fsm.EncodeCommand(cmd)
		if err != nil {
			return err
		}
		tail = append(tail, data)
		if len(tail) > datasetTail {
			batch = append(batch, tail[0])
			tail = tail[1:]
			if len(batch) == n.cfg.MaxBatchCommands {
				send(fsm.EncodeBatch(batch))
				batch = nil
			}
		}
		return nil
	})
	if len(batch) > 0 {
		send(fsm.EncodeBatch(batch))
	}
	if genErr != nil {
		close(futures)
		return nil, genErr
	}
	// The snapshot covers everything sent so far: wait for it to apply.
	if err := n.raft.Barrier(time.Minute).Error(); err != nil {
		return nil, err
	}
	if _, err := n.Snapshot(); err != nil {
		return nil, err
	}
	// The tail as the HTTP API sends it: one command per entry (several
	// in flight, so that loading does not take one disk write each).
	for _, data := range tail {
		send(data)
	}
	close(futures)
	if err := <-errs; err != nil {
		return nil, err
	}
	fx.loadTime = time.Since(start)
	fx.chats, fx.commands = stats.Chats, stats.Commands
	fx.index = n.raft.LastIndex()
	built = true
	return fx, nil
}

// schedLatencies is a delta of the runtime's /sched/latencies:seconds
// histogram: how long goroutines waited, runnable, for a processor.
type schedLatencies struct {
	buckets []float64 // boundaries, as runtime/metrics gives them
	counts  []uint64
}

func readSchedLatencies() schedLatencies {
	sample := []runtimemetrics.Sample{{Name: "/sched/latencies:seconds"}}
	runtimemetrics.Read(sample)
	h := sample[0].Value.Float64Histogram()
	return schedLatencies{buckets: h.Buckets, counts: slices.Clone(h.Counts)}
}

func (s schedLatencies) minus(before schedLatencies) schedLatencies {
	out := schedLatencies{buckets: s.buckets, counts: slices.Clone(s.counts)}
	for i := range out.counts {
		out.counts[i] -= before.counts[i]
	}
	return out
}

func (s *schedLatencies) add(d schedLatencies) {
	if s.counts == nil {
		s.buckets, s.counts = d.buckets, make([]uint64, len(d.counts))
	}
	for i, c := range d.counts {
		s.counts[i] += c
	}
}

// percentile returns the upper bound of the bucket holding quantile q.
func (s schedLatencies) percentile(q float64) time.Duration {
	var total uint64
	for _, c := range s.counts {
		total += c
	}
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if total > 0 && float64(seen) >= q*float64(total) {
			return time.Duration(s.buckets[i+1] * float64(time.Second))
		}
	}
	return 0
}

// copyFixture copies the fixture's files into a new directory beside it.
func copyFixture(from string) (string, error) {
	to, err := os.MkdirTemp(filepath.Dir(from), filepath.Base(from)+"-copy-")
	if err != nil {
		return "", err
	}
	for _, name := range []string{"raft.db", "snapshots.db"} {
		if err := copyFile(filepath.Join(from, name), filepath.Join(to, name)); err != nil {
			os.RemoveAll(to)
			return "", err
		}
	}
	return to, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// On disk before the benchmark starts: left dirty, the copy is
	// written back by the first fdatasync of the file, which stalled the
	// snapshot's first commit (and the log's writes beside it) for a
	// second.
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func checkApply(f raft.ApplyFuture) error {
	if err := f.Error(); err != nil {
		return err
	}
	results, ok := f.Response().([]fsm.Result)
	if !ok {
		return fmt.Errorf("response %T", f.Response())
	}
	for _, r := range results {
		if r.Err != nil {
			return fmt.Errorf("dataset command refused: %v", r.Err)
		}
	}
	return nil
}

// BenchmarkDatasetRestartToReady: from Open on the fixture's directory to
// a ready leader (snapshot restored, the log after it replayed, barrier
// through). Target: <= 10 s for 1,000,000 chats.
func BenchmarkDatasetRestartToReady(b *testing.B) {
	fx := datasetFixtureFor(b)
	var total time.Duration
	var rss, huge int64
	for b.Loop() {
		start := time.Now()
		n, err := Open(datasetConfig(fx.dir, fx.raftAddr))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if _, err := n.WaitLeader(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		total += time.Since(start)
		if got := n.fsm.AppliedIndex(); got < fx.index {
			b.Fatalf("ready at applied index %d, the log holds %d", got, fx.index)
		}
		b.StopTimer()
		rss, huge = processMemory()
		if err := n.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "restart-to-ready-s")
	if rss > 0 {
		// The memory huge pages cost: the process's resident memory when
		// ready, and how much of it is in huge pages.
		b.ReportMetric(float64(rss)/(1<<30), "rss-GiB")
		b.ReportMetric(float64(huge)/(1<<30), "huge-GiB")
	}
	b.ReportMetric(float64(fx.chats), "chats")
	b.ReportMetric(float64(fx.commands), "commands")
	b.ReportMetric(fx.loadTime.Seconds(), "fixture-load-s")
}

// processMemory returns the process's resident memory and the part of it
// in transparent huge pages, in bytes, from /proc/self/smaps_rollup; zeros
// where there is no such file.
func processMemory() (rss, huge int64) {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "Rss: %d kB", &kb); err == nil {
			rss = kb << 10
		}
		if _, err := fmt.Sscanf(line, "AnonHugePages: %d kB", &kb); err == nil {
			huge = kb << 10
		}
	}
	return rss, huge
}

// BenchmarkDatasetWriteDuringSnapshot: write latency of 16 concurrent
// writers for 40 s while nothing else happens, then while a snapshot of
// the whole state persists. Target: p99 during <= 2x p99 without.
func BenchmarkDatasetWriteDuringSnapshot(b *testing.B) {
	fx := datasetFixtureFor(b)
	// The writes and the snapshot change the directory: a kept fixture is
	// copied first, so that every run starts from the same one.
	dir := fx.dir
	if fx.keep {
		var err error
		if dir, err = copyFixture(fx.dir); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	n, err := Open(datasetConfig(dir, fx.raftAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	const writers = 16
	write := func() {
		if _, _, err := n.Propose(context.Background(), &fsm.Noop{}); err != nil {
			b.Fatal(err)
		}
	}
	// The disk's share of the tail: every 10 ms, a 4 KiB write and
	// fdatasync of a file beside raft.db, timed.
	probe, err := os.OpenFile(filepath.Join(dir, "fsync-probe"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer probe.Close()
	probeFsync := func(stop <-chan struct{}, out *latencies) {
		block := make([]byte, 4096)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			t := time.Now()
			if _, err := probe.WriteAt(block, 0); err != nil {
				b.Error(err)
				return
			}
			if err := probe.Sync(); err != nil {
				b.Error(err)
				return
			}
			*out = append(*out, time.Since(t))
		}
	}
	var quietFsync, snapFsync latencies
	// While writing for as long as fn takes.
	during := func(fsyncs *latencies, fn func()) (latencies, time.Duration) {
		stop := make(chan struct{})
		all := make([]latencies, writers)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			probeFsync(stop, fsyncs)
		}()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					t := time.Now()
					write()
					all[w] = append(all[w], time.Since(t))
				}
			}()
		}
		start := time.Now()
		fn()
		took := time.Since(start)
		close(stop)
		wg.Wait()
		var out latencies
		for _, l := range all {
			out = append(out, l...)
		}
		return out, took
	}
	var quiet, snap latencies
	var snapTime time.Duration
	var quietGC, snapGC uint32
	var quietSched, snapSched schedLatencies
	var quietAlloc, snapAlloc uint64
	allocs := func() uint64 {
		sample := []runtimemetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
		runtimemetrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	gcs := func() uint32 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.NumGC
	}
	// The quiet window is about as long as a snapshot under this load
	// takes (30-40 s). A p99 is shaped by the rare events in its window, and
	// the rarest here is a collection, which marks the whole multi-GB state
	// for seconds: the writes allocate enough for one every minute or so.
	// A 10 s quiet window almost never held one while the snapshot's window
	// often did, which charged the collector to the snapshot.
	const quietWindow = 40 * time.Second
	for b.Loop() {
		// Quiet first: after a snapshot, Raft compacts the log and the
		// collector frees the old log entries, which is part of the
		// snapshot's cost, not of a quiet period.
		gc, sched, alloc := gcs(), readSchedLatencies(), allocs()
		l, _ := during(&quietFsync, func() { time.Sleep(quietWindow) })
		quiet = append(quiet, l...)
		quietGC += gcs() - gc
		quietSched.add(readSchedLatencies().minus(sched))
		quietAlloc += allocs() - alloc
		gc, sched, alloc = gcs(), readSchedLatencies(), allocs()
		var took time.Duration
		l, took = during(&snapFsync, func() {
			if _, err := n.Snapshot(); err != nil {
				b.Fatal(err)
			}
		})
		snap = append(snap, l...)
		snapTime += took
		snapGC += gcs() - gc
		snapSched.add(readSchedLatencies().minus(sched))
		snapAlloc += allocs() - alloc
	}
	// What the heap grew by, per second, in each phase: the snapshot's
	// garbage is what brings a collection (which marks the whole state)
	// into its window.
	quietTime := quietWindow.Seconds() * float64(b.N)
	b.ReportMetric(float64(quietAlloc)/quietTime/(1<<20), "quiet_alloc_MiB/s")
	b.ReportMetric(float64(snapAlloc)/snapTime.Seconds()/(1<<20), "snapshot_alloc_MiB/s")
	// How long runnable goroutines waited for a processor: the write path
	// is a chain of goroutine hand-offs, each of which waits this long.
	b.ReportMetric(us(quietSched.percentile(0.99)), "quiet_sched_p99_us")
	b.ReportMetric(us(snapSched.percentile(0.99)), "snapshot_sched_p99_us")
	// Collections are a suspect for the tail: the heap holds the whole
	// state, and every cycle marks it.
	b.ReportMetric(float64(quietGC)/quietTime, "quiet_gc/s")
	b.ReportMetric(float64(snapGC)/snapTime.Seconds(), "snapshot_gc/s")
	b.ReportMetric(us(quietFsync.percentile(0.99)), "quiet_fsync_p99_us")
	b.ReportMetric(us(snapFsync.percentile(0.99)), "snapshot_fsync_p99_us")
	b.ReportMetric(us(quiet.percentile(0.99)), "quiet_p99_us")
	b.ReportMetric(us(snap.percentile(0.99)), "snapshot_p99_us")
	b.ReportMetric(float64(snap.percentile(0.99))/float64(quiet.percentile(0.99)), "p99_ratio")
	b.ReportMetric(us(quiet.percentile(0.50)), "quiet_p50_us")
	b.ReportMetric(us(snap.percentile(0.50)), "snapshot_p50_us")
	b.ReportMetric(snapTime.Seconds()/float64(b.N), "snapshot_s")
	b.ReportMetric(float64(len(snap)), "writes_during_snapshots")
}
