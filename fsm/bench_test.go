package fsm_test

// The state machine's benchmarks on the standard dataset (fsm/dataset): at
// scale 1.0, 1,000,000 chats over 1,000 accounts. The dataset is applied
// once per test binary, lazily, by the first benchmark that needs it, in log
// entries of 64 commands as the node's batcher sends them. Set
// CHATSTATE_BENCH_SCALE (e.g. 0.05) to run everything on a smaller dataset.
//
// Every latency figure is reported with b.ReportMetric from the sorted
// samples of the run (nearest-rank percentiles). The targets:
//
//	Apply                 p50 <= 5 µs per command in a batch of 64
//	ListChats (limit 50)  p99 <= 20 µs on every filter combination
//	Counts                p99 <= 2 µs
//	Snapshot()            <= 100 µs
//	Persist               >= 200 MB/s, to io.Discard and to a file
//	Restore               <= 5 s for 1,000,000 chats
//	heap per chat         <= 2 KB beyond the message text bytes
//
// Run them with `make bench-fsm`; the load itself takes about a minute at
// scale 1.0 and needs several GB of memory. BenchmarkApply's timed loop
// runs under the pprof label bench=Apply, so that a -cpuprofile, which
// also holds the load's applies, can be narrowed to it with
// go tool pprof -tagfocus bench=Apply.

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/fsm/dataset"
)

// benchScaleEnv names the environment variable that shrinks the dataset.
const benchScaleEnv = "CHATSTATE_BENCH_SCALE"

// benchBatchSize is the number of commands per log entry, raft's
// MaxAppendEntries and the batcher's bound.
const benchBatchSize = 64

// benchFixture is the state machine loaded with the standard dataset, shared
// by every benchmark of the process. Benchmarks run one at a time, so the
// fields that Apply moves on (index, now) need no lock.
type benchFixture struct {
	fsm   *fsm.FSM
	cfg   dataset.Config
	shape dataset.Shape
	stats dataset.Stats

	index uint64     // the last log index applied
	now   fsm.Millis // the time of the next command

	loadTime  time.Duration // generation, encoding and Apply
	applyTime time.Duration // Apply alone
	entries   int           // log entries applied by the load

	heapBefore, heapAfter uint64 // live heap around the load, after a GC
}

// benchStandardFixture builds the fixture once per process; later calls
// return the same one.
var benchStandardFixture = sync.OnceValues(func() (*benchFixture, error) {
	scale := 1.0
	if v := os.Getenv(benchScaleEnv); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", benchScaleEnv, v, err)
		}
		scale = s
	}
	return benchLoad(dataset.Standard().WithScale(scale))
})

// benchFixtureFor returns the shared fixture and resets the benchmark's
// timer, so that the load never counts in a benchmark's figures.
func benchFixtureFor(b *testing.B) *benchFixture {
	b.Helper()
	fx, err := benchStandardFixture()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	return fx
}

// benchLoad applies cfg's dataset to a new state machine, in batches of
// benchBatchSize commands, and measures the live heap it takes.
func benchLoad(cfg dataset.Config) (*benchFixture, error) {
	shape, err := cfg.Shape()
	if err != nil {
		return nil, err
	}
	fx := &benchFixture{cfg: cfg, shape: shape}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fx.heapBefore = ms.HeapAlloc

	start := time.Now()
	fx.fsm = fsm.New(fsm.DefaultConfig())
	batch := make([][]byte, 0, benchBatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		t0 := time.Now()
		results, err := fx.apply(batch)
		fx.applyTime += time.Since(t0)
		fx.entries++
		batch = batch[:0]
		if err != nil {
			return err
		}
		for i, r := range results {
			if r.Err != nil {
				return fmt.Errorf("log index %d, command %d: %w", fx.index, i, r.Err)
			}
		}
		return nil
	}
	fx.stats, err = dataset.Generate(cfg, func(cmd fsm.Command) error {
		enc, err := fsm.EncodeCommand(cmd)
		if err != nil {
			return err
		}
		batch = append(batch, enc)
		if len(batch) == benchBatchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("loading the dataset: %w", err)
	}
	fx.loadTime = time.Since(start)
	fx.now = fx.stats.LastTime + fsm.Millis(cfg.Step.Milliseconds())

	runtime.GC()
	runtime.ReadMemStats(&ms)
	fx.heapAfter = ms.HeapAlloc
	return fx, nil
}

// apply sends encoded commands as one log entry, as raft would.
func (fx *benchFixture) apply(encoded [][]byte) ([]fsm.Result, error) {
	fx.index++
	out := fx.fsm.Apply(&raft.Log{Index: fx.index, Term: 1, Type: raft.LogCommand, Data: fsm.EncodeBatch(encoded)})
	results, ok := out.([]fsm.Result)
	if !ok || len(results) != len(encoded) {
		return nil, fmt.Errorf("log index %d: Apply returned %T with %d results for %d commands", fx.index, out, len(results), len(encoded))
	}
	return results, nil
}

// benchSamples are latencies of one kind, reported as nearest-rank
// percentiles.
type benchSamples []time.Duration

// percentile returns the p-th percentile (0 < p <= 100). s must be sorted.
func (s benchSamples) percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// report sorts s and reports its p50, p90, p99 and max as "<prefix>p50-ns"
// and so on (prefix may be empty; unit is appended, e.g. "/cmd").
func (s benchSamples) report(b *testing.B, prefix, unit string) {
	if len(s) == 0 {
		return
	}
	slices.Sort(s)
	for _, p := range []float64{50, 90, 99} {
		b.ReportMetric(float64(s.percentile(p).Nanoseconds()), fmt.Sprintf("%sp%g-ns%s", prefix, p, unit))
	}
	b.ReportMetric(float64(s[len(s)-1].Nanoseconds()), prefix+"max-ns"+unit)
}

// benchLatencies are the samples of one kind of call: wall-clock time and,
// when the platform has a thread CPU clock, the CPU time the call took.
type benchLatencies struct {
	wall, cpu benchSamples
}

// report reports the wall-clock percentiles as "p50-ns"... and the CPU ones
// as "cpu-p50-ns"..., each followed by unit.
func (l *benchLatencies) report(b *testing.B, unit string) {
	l.wall.report(b, "", unit)
	l.cpu.report(b, "cpu-", unit)
}

// sortAll sorts both sample sets for percentile.
func (l *benchLatencies) sortAll() {
	slices.Sort(l.wall)
	slices.Sort(l.cpu)
}

// benchRecorder times calls by wall clock and, for calls long enough
// (withCPU), by the CPU clock of the goroutine's thread, to which it is
// locked. On a machine whose cores are shared with other work, wall-clock
// figures partly measure the wait for a core; the CPU figures say what the
// call itself costs. Reading the thread CPU clock is a system call of about a
// microsecond that also disturbs the caches, so calls of a few microseconds
// (lists, counts, Snapshot) are timed by wall clock only.
type benchRecorder struct {
	hasCPU    bool
	clockCost time.Duration // CPU the clock reads add to one sample
}

// newBenchRecorder locks the calling goroutine to its thread until the
// returned function is called and, withCPU, calibrates the clocks' own cost.
func newBenchRecorder(withCPU bool) (*benchRecorder, func()) {
	runtime.LockOSThread()
	r := &benchRecorder{}
	if withCPU {
		_, r.hasCPU = benchThreadCPU()
	}
	if r.hasCPU {
		var empty benchLatencies
		for range 2000 {
			m := r.begin()
			r.end(m, &empty)
		}
		slices.Sort(empty.cpu)
		r.clockCost = empty.cpu.percentile(50)
	}
	return r, runtime.UnlockOSThread
}

// benchCollectSetupGarbage runs a full garbage collection before the timed
// loop of a read benchmark. The setup before it (the load, the list
// cursors, earlier benchmarks) leaves garbage behind, and at 1,000,000
// chats a collection started by it marks a 2.5 GB heap for seconds, on one
// of the machine's two cores, while the loop runs: the loop would measure
// that collection (a core taken from it, assists for every allocating
// call) rather than the reads. Collections that the timed calls cause
// themselves still count. Apply's benchmark keeps the heap as it finds it,
// as it always has, so that its figures compare with earlier ones.
func benchCollectSetupGarbage() { runtime.GC() }

// benchMark is the clocks at the start of a call.
type benchMark struct {
	wall time.Time
	cpu  time.Duration
}

// begin reads the CPU clock first, so that the wall-clock interval holds
// no CPU clock read.
func (r *benchRecorder) begin() benchMark {
	var m benchMark
	if r.hasCPU {
		m.cpu, _ = benchThreadCPU()
	}
	m.wall = time.Now()
	return m
}

// end adds the call begun at m to l and returns its wall-clock time.
func (r *benchRecorder) end(m benchMark, l *benchLatencies) time.Duration {
	return r.endScaled(m, l, 1)
}

// endScaled adds the call begun at m to l, as n calls of equal cost (one
// log entry of n commands), and returns its whole wall-clock time.
func (r *benchRecorder) endScaled(m benchMark, l *benchLatencies, n int) time.Duration {
	wall := time.Since(m.wall)
	l.wall = append(l.wall, wall/time.Duration(n))
	if r.hasCPU {
		now, _ := benchThreadCPU()
		l.cpu = append(l.cpu, max(now-m.cpu-r.clockCost, 0)/time.Duration(n))
	}
	return wall
}

// BenchmarkStandardDatasetMemory reports what loading the dataset took: the
// live heap per chat beyond the message texts (target <= 2 KB), the whole
// heap, and the load rate. The figures come from the one load of the process.
func BenchmarkStandardDatasetMemory(b *testing.B) {
	fx := benchFixtureFor(b)
	for b.Loop() {
	}
	heap := float64(fx.heapAfter) - float64(fx.heapBefore)
	chats := float64(fx.stats.Chats)
	b.ReportMetric((heap-float64(fx.stats.TextBytes))/chats, "heap-B/chat-beyond-text")
	b.ReportMetric(heap/chats, "heap-B/chat")
	b.ReportMetric(heap/(1<<20), "heap-MiB")
	b.ReportMetric(float64(fx.stats.TextBytes)/(1<<20), "text-MiB")
	b.ReportMetric(chats, "chats")
	b.ReportMetric(float64(fx.stats.Commands), "commands")
	b.ReportMetric(float64(fx.applyTime.Nanoseconds())/float64(fx.stats.Commands), "load-apply-ns/cmd")
	b.ReportMetric(fx.loadTime.Seconds(), "load-s")
}

// benchListCombo is one filter combination of the big account's chat list.
type benchListCombo struct {
	name    string
	filter  fsm.ChatFilter
	cursors []*fsm.Cursor // nil (first page) and the cursors of the next pages
	samples benchLatencies
}

// benchListCombos builds every combination of status x operator (any,
// unassigned, the busiest, the one with the fewest closed chats) x contact
// type x source x unread over the big account, each with the cursors of its
// first four pages. Every page is checked once: right filter, right order.
func benchListCombos(b *testing.B, fx *benchFixture) []*benchListCombo {
	b.Helper()
	account := fx.shape.BigAccount
	busiest, rarest := benchPickOperators(b, fx)
	type opChoice struct {
		name       string
		operator   string
		unassigned bool
	}
	ops := []opChoice{{name: "any"}, {name: "unassigned", unassigned: true}, {name: "busiest:" + busiest, operator: busiest}, {name: "rarest:" + rarest, operator: rarest}}
	contactTypes := append([]fsm.ContactType{fsm.ContactTypeAny}, fsm.AllContactTypes...)
	sources := append([]fsm.Source{fsm.SourceAny}, fsm.AllSources...)
	unreads := []fsm.UnreadFilter{fsm.UnreadAny, fsm.UnreadTrue, fsm.UnreadFalse}
	var combos []*benchListCombo
	for _, status := range []fsm.Status{fsm.StatusActive, fsm.StatusClosed} {
		for _, op := range ops {
			for _, ct := range contactTypes {
				for _, src := range sources {
					for _, unread := range unreads {
						f := fsm.ChatFilter{Status: status, Operator: op.operator, Unassigned: op.unassigned, ContactType: ct, Source: src, Unread: unread}
						c := &benchListCombo{
							name:   fmt.Sprintf("status=%v operator=%s contact=%s source=%s unread=%s", status, op.name, benchEnumName(ct), benchEnumName(src), benchUnreadName(unread)),
							filter: f,
						}
						c.cursors = benchPageCursors(b, fx.fsm, account, f, 4)
						combos = append(combos, c)
					}
				}
			}
		}
	}
	return combos
}

// benchEnumName names a filter value, "any" for the zero value.
func benchEnumName[E interface {
	~uint8
	String() string
}](v E) string {
	if v == 0 {
		return "any"
	}
	return v.String()
}

func benchUnreadName(u fsm.UnreadFilter) string {
	return [...]string{fsm.UnreadAny: "any", fsm.UnreadTrue: "true", fsm.UnreadFalse: "false"}[u]
}

// benchPickOperators returns the big account's operator with the most
// active chats and the one with the fewest (but some) closed chats.
func benchPickOperators(b *testing.B, fx *benchFixture) (busiest, rarest string) {
	b.Helper()
	account := fx.shape.BigAccount
	active, err := fx.fsm.Counts(account, fsm.CountQuery{Status: fsm.StatusActive})
	if err != nil {
		b.Fatal(err)
	}
	closed, err := fx.fsm.Counts(account, fsm.CountQuery{Status: fsm.StatusClosed, ContactType: fsm.ContactTypeVisitor, Source: fsm.SourceEmail})
	if err != nil {
		b.Fatal(err)
	}
	most, fewest := -1, math.MaxInt
	for _, oc := range active.Operators {
		if oc.Count > most {
			busiest, most = oc.Operator, oc.Count
		}
	}
	for _, oc := range closed.Operators {
		if oc.Count > 0 && oc.Count < fewest {
			rarest, fewest = oc.Operator, oc.Count
		}
	}
	if busiest == "" || rarest == "" {
		b.Fatalf("account %s: no operator with active chats or with closed visitor email chats (counts %+v, %+v)", account, active, closed)
	}
	return busiest, rarest
}

// benchPageCursors walks up to pages pages of a list and returns nil
// followed by the cursor of every page that has a next one. It checks that
// every chat matches the filter and that the order is strictly descending.
func benchPageCursors(b *testing.B, f *fsm.FSM, account string, filter fsm.ChatFilter, pages int) []*fsm.Cursor {
	b.Helper()
	cursors := []*fsm.Cursor{nil}
	var prev *fsm.Chat
	for len(cursors) <= pages {
		page, err := f.ListChats(account, fsm.ListQuery{Filter: filter, Limit: 50, After: cursors[len(cursors)-1]})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range page.Chats {
			if !filter.Matches(c) {
				b.Fatalf("filter %+v: chat %d (%+v) does not match", filter, c.ID, c)
			}
			if prev != nil && (c.LastActivityAt > prev.LastActivityAt || c.LastActivityAt == prev.LastActivityAt && c.ID >= prev.ID) {
				b.Fatalf("filter %+v: chat %d comes after chat %d out of order", filter, c.ID, prev.ID)
			}
			prev = c
		}
		if page.Next == nil {
			break
		}
		if len(page.Chats) != 50 {
			b.Fatalf("filter %+v: a page of %d chats with a next cursor", filter, len(page.Chats))
		}
		cursors = append(cursors, page.Next)
	}
	return cursors[:min(len(cursors), pages)]
}

// BenchmarkListChats lists pages of 50 chats of the big account. "all"
// cycles through every filter combination (and its first four pages) and
// reports the overall percentiles and the worst combination's p99 (target
// <= 20 µs); the named ones are single combinations worth watching.
func BenchmarkListChats(b *testing.B) {
	fx := benchFixtureFor(b)
	combos := benchListCombos(b, fx)
	account := fx.shape.BigAccount

	b.Run("all", func(b *testing.B) {
		benchCollectSetupGarbage()
		rec, unlock := newBenchRecorder(false)
		defer unlock()
		for _, c := range combos {
			c.samples = benchLatencies{}
		}
		var all benchLatencies
		i := 0
		for b.Loop() {
			c := combos[i%len(combos)]
			q := fsm.ListQuery{Filter: c.filter, Limit: 50, After: c.cursors[(i/len(combos))%len(c.cursors)]}
			m := rec.begin()
			_, err := fx.fsm.ListChats(account, q)
			rec.end(m, &c.samples)
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
		for _, c := range combos {
			all.wall = append(all.wall, c.samples.wall...)
			all.cpu = append(all.cpu, c.samples.cpu...)
			c.samples.sortAll()
		}
		all.report(b, "")
		if i < 100*len(combos) {
			return // too few samples per combination for a p99
		}
		b.ReportMetric(float64(len(combos)), "combos")
		byWall := slices.Clone(combos)
		slices.SortFunc(byWall, func(x, y *benchListCombo) int {
			return cmp.Compare(y.samples.wall.percentile(99), x.samples.wall.percentile(99))
		})
		b.ReportMetric(float64(byWall[0].samples.wall.percentile(99).Nanoseconds()), "worst-combo-p99-ns")
		var sb strings.Builder
		for _, c := range byWall[:min(5, len(byWall))] {
			fmt.Fprintf(&sb, "\n  p99 %9v  p50 %9v  %s", c.samples.wall.percentile(99), c.samples.wall.percentile(50), c.name)
		}
		if rec.hasCPU {
			byCPU := slices.Clone(combos)
			slices.SortFunc(byCPU, func(x, y *benchListCombo) int {
				return cmp.Compare(y.samples.cpu.percentile(99), x.samples.cpu.percentile(99))
			})
			b.ReportMetric(float64(byCPU[0].samples.cpu.percentile(99).Nanoseconds()), "worst-combo-cpu-p99-ns")
			fmt.Fprintf(&sb, "\nslowest by CPU p99:")
			for _, c := range byCPU[:min(5, len(byCPU))] {
				fmt.Fprintf(&sb, "\n  cpu-p99 %9v  cpu-p50 %9v  p99 %9v  %s", c.samples.cpu.percentile(99), c.samples.cpu.percentile(50), c.samples.wall.percentile(99), c.name)
			}
		}
		b.Logf("%d combinations, %d samples each; slowest by wall-clock p99:%s", len(combos), i/len(combos), sb.String())
	})

	busiest, rarest := benchPickOperators(b, fx)
	named := []struct {
		name   string
		filter fsm.ChatFilter
	}{
		{"active", fsm.ChatFilter{Status: fsm.StatusActive}},
		{"active-unassigned-unread", fsm.ChatFilter{Status: fsm.StatusActive, Unassigned: true, Unread: fsm.UnreadTrue}},
		{"active-busiest-operator", fsm.ChatFilter{Status: fsm.StatusActive, Operator: busiest}},
		{"closed", fsm.ChatFilter{Status: fsm.StatusClosed}},
		{"closed-rarest-operator-email-visitor", fsm.ChatFilter{Status: fsm.StatusClosed, Operator: rarest, Source: fsm.SourceEmail, ContactType: fsm.ContactTypeVisitor}},
		{"closed-unread-empty", fsm.ChatFilter{Status: fsm.StatusClosed, Unread: fsm.UnreadTrue}},
	}
	for _, n := range named {
		b.Run(n.name, func(b *testing.B) {
			cursors := benchPageCursors(b, fx.fsm, account, n.filter, 4)
			benchCollectSetupGarbage()
			rec, unlock := newBenchRecorder(false)
			defer unlock()
			var samples benchLatencies
			i := 0
			for b.Loop() {
				q := fsm.ListQuery{Filter: n.filter, Limit: 50, After: cursors[i%len(cursors)]}
				m := rec.begin()
				_, err := fx.fsm.ListChats(account, q)
				rec.end(m, &samples)
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			samples.report(b, "")
		})
	}
}

// BenchmarkCounts reads the big account's badge counts, cycling through
// every status x contact type x source x unread combination (target p99
// <= 2 µs): "new-slice" through Counts, which allocates the operators'
// slice of every answer (2.4 KB for 100 operators), and "reused-slice"
// through CountsInto, handing back the previous answer's slice as a
// caller that renders and drops the counts can.
func BenchmarkCounts(b *testing.B) {
	fx := benchFixtureFor(b)
	b.Run("new-slice", func(b *testing.B) {
		benchCounts(b, fx, func(account string, q fsm.CountQuery) (fsm.Counts, error) {
			return fx.fsm.Counts(account, q)
		})
	})
	b.Run("reused-slice", func(b *testing.B) {
		var ops []fsm.OperatorCount
		benchCounts(b, fx, func(account string, q fsm.CountQuery) (fsm.Counts, error) {
			c, err := fx.fsm.CountsInto(account, q, ops)
			ops = c.Operators
			return c, err
		})
	})
}

// benchCounts is BenchmarkCounts with one way of counting.
func benchCounts(b *testing.B, fx *benchFixture, count func(string, fsm.CountQuery) (fsm.Counts, error)) {
	account := fx.shape.BigAccount
	var queries []fsm.CountQuery
	for _, status := range []fsm.Status{fsm.StatusActive, fsm.StatusClosed} {
		for _, ct := range append([]fsm.ContactType{fsm.ContactTypeAny}, fsm.AllContactTypes...) {
			for _, src := range append([]fsm.Source{fsm.SourceAny}, fsm.AllSources...) {
				for _, unread := range []fsm.UnreadFilter{fsm.UnreadAny, fsm.UnreadTrue, fsm.UnreadFalse} {
					queries = append(queries, fsm.CountQuery{Status: status, ContactType: ct, Source: src, Unread: unread})
				}
			}
		}
	}
	active, err := fx.fsm.Counts(account, fsm.CountQuery{Status: fsm.StatusActive})
	if err != nil {
		b.Fatal(err)
	}
	closed, err := fx.fsm.Counts(account, fsm.CountQuery{Status: fsm.StatusClosed})
	if err != nil {
		b.Fatal(err)
	}
	if active.All+closed.All < fx.shape.BigChats {
		b.Fatalf("big account counts: %d active + %d closed, the dataset has %d chats", active.All, closed.All, fx.shape.BigChats)
	}
	benchCollectSetupGarbage()
	rec, unlock := newBenchRecorder(false)
	defer unlock()
	perQuery := make([]benchLatencies, len(queries))
	i := 0
	for b.Loop() {
		k := i % len(queries)
		m := rec.begin()
		_, err := count(account, queries[k])
		rec.end(m, &perQuery[k])
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	var all benchLatencies
	for k := range perQuery {
		all.wall = append(all.wall, perQuery[k].wall...)
		all.cpu = append(all.cpu, perQuery[k].cpu...)
		perQuery[k].sortAll()
	}
	all.report(b, "")
	if i < 100*len(queries) {
		return
	}
	worst, worstCPU := 0, 0
	for k := range perQuery {
		if perQuery[k].wall.percentile(99) > perQuery[worst].wall.percentile(99) {
			worst = k
		}
		if perQuery[k].cpu.percentile(99) > perQuery[worstCPU].cpu.percentile(99) {
			worstCPU = k
		}
	}
	b.ReportMetric(float64(perQuery[worst].wall.percentile(99).Nanoseconds()), "worst-combo-p99-ns")
	name := func(q fsm.CountQuery) string {
		return fmt.Sprintf("status=%v contact=%s source=%s unread=%s", q.Status, benchEnumName(q.ContactType), benchEnumName(q.Source), benchUnreadName(q.Unread))
	}
	b.Logf("slowest count query by wall-clock p99 (%v): %s", perQuery[worst].wall.percentile(99), name(queries[worst]))
	if rec.hasCPU {
		b.ReportMetric(float64(perQuery[worstCPU].cpu.percentile(99).Nanoseconds()), "worst-combo-cpu-p99-ns")
		b.Logf("slowest count query by CPU p99 (%v): %s", perQuery[worstCPU].cpu.percentile(99), name(queries[worstCPU]))
	}
}

// BenchmarkSnapshot times FSM.Snapshot, which raft runs while Apply waits
// (target <= 100 µs).
func BenchmarkSnapshot(b *testing.B) {
	fx := benchFixtureFor(b)
	benchCollectSetupGarbage()
	rec, unlock := newBenchRecorder(false)
	defer unlock()
	var samples benchLatencies
	for b.Loop() {
		m := rec.begin()
		snap, err := fx.fsm.Snapshot()
		rec.end(m, &samples)
		if err != nil {
			b.Fatal(err)
		}
		snap.Release()
	}
	samples.report(b, "")
}

// benchSink is a raft.SnapshotSink over any writer; it counts the bytes
// and, for files, flushes and syncs on Close as a snapshot store must.
type benchSink struct {
	w       io.Writer
	buf     *bufio.Writer // nil when writing straight to w
	file    *os.File      // nil unless writing to a file
	written int64

	// With writebackEvery set, every that many bytes a goroutine syncs
	// what the file has received so far, so that the disk writes while
	// the state is still being encoded and Close waits only for the rest
	// (what RocksDB's bytes_per_sync does). Without it, the whole
	// snapshot reaches the disk in the final sync, after the encoding.
	writebackEvery int64
	unsynced       int64
	writeback      chan struct{}
	writebackErr   chan error
}

// benchSnapshotBuffer is the write buffer of a file sink.
const benchSnapshotBuffer = 64 << 10

// newBenchFileSink creates path and returns a sink that writes to it
// through a benchSnapshotBuffer buffer; writebackEvery > 0 starts the
// writeback goroutine.
func newBenchFileSink(b *testing.B, path string, writebackEvery int64) *benchSink {
	b.Helper()
	file, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	s := &benchSink{w: file, buf: bufio.NewWriterSize(file, benchSnapshotBuffer), file: file}
	if writebackEvery > 0 {
		s.writebackEvery = writebackEvery
		s.writeback = make(chan struct{}, 1)
		s.writebackErr = make(chan error, 1)
		go func() {
			var err error
			for range s.writeback {
				if err == nil {
					err = file.Sync()
				}
			}
			s.writebackErr <- err
		}()
	}
	return s
}

func (s *benchSink) Write(p []byte) (int, error) {
	s.written += int64(len(p))
	var n int
	var err error
	if s.buf != nil {
		n, err = s.buf.Write(p)
	} else {
		n, err = s.w.Write(p)
	}
	if s.writeback != nil {
		if s.unsynced += int64(n); s.unsynced >= s.writebackEvery {
			s.unsynced = 0
			select {
			case s.writeback <- struct{}{}:
			default: // a sync is pending; it will cover these bytes
			}
		}
	}
	return n, err
}

// stopWriteback ends the writeback goroutine and returns its error.
func (s *benchSink) stopWriteback() error {
	if s.writeback == nil {
		return nil
	}
	close(s.writeback)
	s.writeback = nil
	return <-s.writebackErr
}

func (s *benchSink) Close() error {
	if s.buf != nil {
		if err := s.buf.Flush(); err != nil {
			return errors.Join(err, s.stopWriteback())
		}
	}
	if err := s.stopWriteback(); err != nil {
		return err
	}
	if s.file != nil {
		return errors.Join(s.file.Sync(), s.file.Close())
	}
	return nil
}

func (s *benchSink) ID() string { return "bench" }

func (s *benchSink) Cancel() error {
	err := s.stopWriteback()
	if s.file != nil {
		return errors.Join(err, s.file.Close())
	}
	return err
}

// benchCPUMeter sums the process's CPU time (every thread: encoders,
// decoders, the GC) over the measured parts of a benchmark.
type benchCPUMeter struct {
	total time.Duration
	runs  int
	start time.Duration
	ok    bool
}

func (m *benchCPUMeter) begin() { m.start, m.ok = benchProcessCPU() }

func (m *benchCPUMeter) end() {
	if now, ok := benchProcessCPU(); ok && m.ok {
		m.total += now - m.start
		m.runs++
	}
}

// report reports the mean process CPU seconds per run as "process-cpu-s/op".
func (m *benchCPUMeter) report(b *testing.B) {
	if m.runs > 0 {
		b.ReportMetric(m.total.Seconds()/float64(m.runs), "process-cpu-s/op")
	}
}

// benchPersist snapshots the fixture and persists it to sink.
func benchPersist(b *testing.B, fx *benchFixture, sink *benchSink) {
	b.Helper()
	snap, err := fx.fsm.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer snap.Release()
	if err := snap.Persist(sink); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPersist streams a snapshot of the whole state to io.Discard
// (encoding alone) and to a file through a 64 KiB buffer with a final fsync
// (target >= 200 MB/s). "file" leaves the whole snapshot to that one fsync,
// as raft's FileSnapshotStore does, so it measures encoding plus the disk
// one after the other; "file-writeback" syncs every 16 MiB from a
// goroutine, as a store should, so that the two overlap.
func BenchmarkPersist(b *testing.B) {
	fx := benchFixtureFor(b)
	fileSink := func(writebackEvery int64) func(b *testing.B, dir string) *benchSink {
		return func(b *testing.B, dir string) *benchSink {
			return newBenchFileSink(b, filepath.Join(dir, "snapshot"), writebackEvery)
		}
	}
	for _, sub := range []struct {
		name string
		sink func(b *testing.B, dir string) *benchSink
	}{
		{"discard", func(*testing.B, string) *benchSink { return &benchSink{w: io.Discard} }},
		{"file", fileSink(0)},
		{"file-writeback", fileSink(16 << 20)},
	} {
		b.Run(sub.name, func(b *testing.B) {
			dir := b.TempDir()
			var size int64
			var cpu benchCPUMeter
			for b.Loop() {
				sink := sub.sink(b, dir)
				cpu.begin()
				benchPersist(b, fx, sink)
				cpu.end()
				size = sink.written
			}
			cpu.report(b)
			b.SetBytes(size)
			b.ReportMetric(float64(size)/(1<<20), "snapshot-MiB")
		})
	}
}

// BenchmarkRestore restores the whole state from a snapshot file into a new
// state machine (target <= 5 s for 1,000,000 chats), and checks that the
// restored state answers as the original does.
func BenchmarkRestore(b *testing.B) {
	fx := benchFixtureFor(b)
	b.StopTimer()
	path := filepath.Join(b.TempDir(), "snapshot")
	sink := newBenchFileSink(b, path, 0)
	benchPersist(b, fx, sink)
	want, err := fx.fsm.Counts(fx.shape.BigAccount, fsm.CountQuery{Status: fsm.StatusClosed})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(sink.written)
	b.StartTimer()

	var cpu benchCPUMeter
	for b.Loop() {
		b.StopTimer()
		runtime.GC() // drop the previous iteration's state outside the timer
		restored := fsm.New(fsm.DefaultConfig())
		rc, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu.begin()
		if err := restored.Restore(rc); err != nil {
			b.Fatal(err)
		}
		cpu.end()
		b.StopTimer()
		rc.Close()
		got, err := restored.Counts(fx.shape.BigAccount, fsm.CountQuery{Status: fsm.StatusClosed})
		if err != nil {
			b.Fatal(err)
		}
		if got.All != want.All || got.Unassigned != want.Unassigned || got.Sources != want.Sources {
			b.Fatalf("restored closed counts %+v, want %+v", got, want)
		}
		if restored.AppliedIndex() != fx.fsm.AppliedIndex() {
			b.Fatalf("restored applied index %d, want %d", restored.AppliedIndex(), fx.fsm.AppliedIndex())
		}
		b.StartTimer()
	}
	cpu.report(b)
	b.ReportMetric(float64(fx.stats.Chats), "chats")
}

// benchLiveChat is the workload's view of an active chat, enough to build
// commands that the state machine accepts.
type benchLiveChat struct {
	account      string
	id           int64
	assignee     string
	participants []string
	closed       bool
}

// benchWorkload builds a realistic mix of writes against the loaded state:
// customer messages, replies (which take unassigned chats), joins, leaves,
// closes, and new chats to keep the number of active chats steady.
type benchWorkload struct {
	rng       *rand.Rand
	chats     []*benchLiveChat // active chats; closed ones are removed
	joined    []*benchLiveChat // chats that may have participants (checked lazily)
	operators map[string][]string
	text      string
	counts    map[string]int // commands built, by kind
}

// benchMix is the share of each kind of write, out of 100.
var benchMix = []struct {
	kind  string
	share int
}{
	{"customer", 30}, {"reply", 30}, {"join", 10}, {"leave", 10}, {"close", 10}, {"create", 10},
}

func newBenchWorkload(b *testing.B, fx *benchFixture) *benchWorkload {
	b.Helper()
	w := &benchWorkload{
		rng:       rand.New(rand.NewPCG(7, 11)),
		operators: map[string][]string{},
		counts:    map[string]int{},
		text:      strings.Repeat("thanks, we are looking into your order now and will get back to you shortly. ", 4),
	}
	for _, acc := range fx.fsm.Accounts() {
		ops, err := fx.fsm.Operators(acc.ID)
		if err != nil {
			b.Fatal(err)
		}
		for _, op := range ops {
			w.operators[acc.ID] = append(w.operators[acc.ID], op.ID)
		}
		var after *fsm.Cursor
		for {
			page, err := fx.fsm.ListChats(acc.ID, fsm.ListQuery{Filter: fsm.ChatFilter{Status: fsm.StatusActive}, Limit: 500, After: after})
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range page.Chats {
				w.add(acc.ID, c)
			}
			if page.Next == nil {
				break
			}
			after = page.Next
		}
	}
	if len(w.chats) == 0 {
		b.Fatal("no active chats in the loaded state")
	}
	return w
}

func (w *benchWorkload) add(account string, c *fsm.Chat) {
	lc := &benchLiveChat{account: account, id: c.ID, assignee: c.Assignee, participants: slices.Clone(c.Participants())}
	w.chats = append(w.chats, lc)
	if len(lc.participants) > 0 {
		w.joined = append(w.joined, lc)
	}
}

func (w *benchWorkload) pickOperator(account string, except ...string) string {
	ops := w.operators[account]
	for range 16 {
		op := ops[w.rng.IntN(len(ops))]
		if !slices.Contains(except, op) {
			return op
		}
	}
	return ""
}

// next builds one command at time now. The model follows the API's rules,
// so every command must apply without a business error.
func (w *benchWorkload) next(now fsm.Millis) fsm.Command {
	x := w.rng.IntN(100)
	kind := benchMix[len(benchMix)-1].kind
	for _, m := range benchMix {
		if x < m.share {
			kind = m.kind
			break
		}
		x -= m.share
	}
	i := w.rng.IntN(len(w.chats))
	c := w.chats[i]
	h := fsm.Header{Account: c.account, Time: now}
	switch kind {
	case "join":
		if c.assignee == "" {
			break // nobody to join yet: the reply below takes it
		}
		op := w.pickOperator(c.account, append([]string{c.assignee}, c.participants...)...)
		if op == "" {
			break
		}
		c.participants = append(c.participants, op)
		w.joined = append(w.joined, c)
		w.counts[kind]++
		return &fsm.Join{ChatAction: fsm.ChatAction{Header: h, Chat: c.id, Operator: op}}
	case "leave":
		for len(w.joined) > 0 {
			j := w.rng.IntN(len(w.joined))
			jc := w.joined[j]
			if jc.closed || len(jc.participants) == 0 {
				w.joined[j] = w.joined[len(w.joined)-1]
				w.joined = w.joined[:len(w.joined)-1]
				continue
			}
			k := w.rng.IntN(len(jc.participants))
			op := jc.participants[k]
			jc.participants = slices.Delete(slices.Clone(jc.participants), k, k+1)
			w.counts[kind]++
			return &fsm.Leave{ChatAction: fsm.ChatAction{Header: fsm.Header{Account: jc.account, Time: now}, Chat: jc.id, Operator: op}}
		}
	case "close":
		if len(w.chats) < 2 {
			break
		}
		op := c.assignee
		if op == "" {
			op = w.pickOperator(c.account)
		}
		c.closed, c.participants = true, nil
		w.chats[i] = w.chats[len(w.chats)-1]
		w.chats = w.chats[:len(w.chats)-1]
		w.counts[kind]++
		return &fsm.Close{ChatAction: fsm.ChatAction{Header: h, Chat: c.id, Operator: op}}
	case "create":
		id := fmt.Sprintf("v-%08x", w.rng.Uint32())
		w.counts[kind]++
		return &fsm.CreateChat{Header: h, Contact: fsm.Contact{ID: &id, Type: fsm.ContactTypeVisitor}, Source: fsm.AllSources[w.rng.IntN(4)], Text: w.textOf()}
	case "customer":
		w.counts[kind]++
		return &fsm.CustomerMessage{Header: h, Chat: c.id, Text: w.textOf()}
	}
	// A reply, also the fallback of a join or leave that found no chat for
	// it: by the assignee or a participant, or it takes an unassigned chat.
	author := c.assignee
	switch {
	case author == "":
		author = w.pickOperator(c.account)
		c.assignee = author
	case len(c.participants) > 0 && w.rng.IntN(3) == 0:
		author = c.participants[w.rng.IntN(len(c.participants))]
	}
	w.counts["reply"]++
	return &fsm.OperatorMessage{Header: h, Chat: c.id, Operator: author, Text: w.textOf()}
}

// textOf returns a message text of 60 to 140 bytes.
func (w *benchWorkload) textOf() string {
	n := 60 + w.rng.IntN(81)
	off := w.rng.IntN(len(w.text) - n)
	return w.text[off : off+n]
}

// BenchmarkApply applies the realistic mix of writes to the loaded state, in
// log entries of 64 commands. One op is one log entry; the per-command
// figures are the entry's time divided by 64 (target p50 <= 5 µs). It runs
// last because it changes the shared state a little.
//
// Only the Apply calls are timed, by the recorder. The loop does not stop
// the benchmark's timer while it builds the next entry: every
// StopTimer/StartTimer reads the memory statistics in a stop-the-world
// pause, and a pause right before each timed call raised its p50 by about
// a tenth. So ns/op includes building the entries, and Apply's own
// allocations are counted from runtime/metrics around the calls
// (apply-allocs/cmd, apply-B/cmd).
func BenchmarkApply(b *testing.B) {
	fx := benchFixtureFor(b)
	b.StopTimer()
	run := newApplyBenchRun(b, fx)
	defer run.unlock()
	b.StartTimer()
	pprof.Do(context.Background(), pprof.Labels("bench", "Apply"), func(context.Context) {
		for b.Loop() {
			run.batch(&run.perCommand)
		}
	})
	run.perCommand.report(b, "/cmd")
	run.reportCosts()
}

// BenchmarkApplyWarming compares Apply with and without reading ahead of a
// batch (fsm/warm.go), on alternate batches of one run, so that both
// figures see the same machine at the same time: on a shared machine, the
// same benchmark varies by a third from one run to the next.
func BenchmarkApplyWarming(b *testing.B) {
	fx := benchFixtureFor(b)
	b.StopTimer()
	run := newApplyBenchRun(b, fx)
	defer run.unlock()
	defer fsm.SetBatchWarming(fx.fsm, true)
	var cold benchLatencies
	b.StartTimer()
	warm := false
	for b.Loop() {
		warm = !warm
		fsm.SetBatchWarming(fx.fsm, warm)
		if warm {
			run.batch(&run.perCommand)
		} else {
			run.batch(&cold)
		}
	}
	run.perCommand.sortAll()
	cold.sortAll()
	if len(cold.wall) > 0 {
		warmP50, coldP50 := run.perCommand.wall.percentile(50), cold.wall.percentile(50)
		b.ReportMetric(float64(warmP50.Nanoseconds()), "warmed-p50-ns/cmd")
		b.ReportMetric(float64(coldP50.Nanoseconds()), "unwarmed-p50-ns/cmd")
		b.ReportMetric(float64(warmP50)/float64(coldP50), "warmed/unwarmed")
	}
}

// applyBenchRun applies batches of the benchmark workload and keeps what
// they cost.
type applyBenchRun struct {
	b          *testing.B
	fx         *benchFixture
	w          *benchWorkload
	rec        *benchRecorder
	unlock     func()
	perCommand benchLatencies

	allocs                   []metrics.Sample
	applyObjects, applyBytes uint64
	applyFaults              int64
	countsFaults             bool

	cmds    []fsm.Command
	encoded [][]byte
}

func newApplyBenchRun(b *testing.B, fx *benchFixture) *applyBenchRun {
	r := &applyBenchRun{
		b:       b,
		fx:      fx,
		w:       newBenchWorkload(b, fx),
		allocs:  []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}},
		cmds:    make([]fsm.Command, 0, benchBatchSize),
		encoded: make([][]byte, 0, benchBatchSize),
	}
	_, r.countsFaults = benchMinorFaults()
	r.rec, r.unlock = newBenchRecorder(true)
	return r
}

// batch builds and applies one log entry of benchBatchSize commands,
// timing only Apply, into lat.
func (r *applyBenchRun) batch(lat *benchLatencies) {
	b, fx, w := r.b, r.fx, r.w
	r.cmds, r.encoded = r.cmds[:0], r.encoded[:0]
	for range benchBatchSize {
		cmd := w.next(fx.now)
		fx.now++
		enc, err := fsm.EncodeCommand(cmd)
		if err != nil {
			b.Fatal(err)
		}
		r.cmds = append(r.cmds, cmd)
		r.encoded = append(r.encoded, enc)
	}
	data := fsm.EncodeBatch(r.encoded)
	fx.index++
	log := &raft.Log{Index: fx.index, Term: 1, Type: raft.LogCommand, Data: data}

	metrics.Read(r.allocs)
	objects, bytes := r.allocs[0].Value.Uint64(), r.allocs[1].Value.Uint64()
	faults, _ := benchMinorFaults()
	m := r.rec.begin()
	out := fx.fsm.Apply(log)
	r.rec.endScaled(m, lat, benchBatchSize)
	faultsAfter, _ := benchMinorFaults()
	r.applyFaults += faultsAfter - faults
	metrics.Read(r.allocs)
	r.applyObjects += r.allocs[0].Value.Uint64() - objects
	r.applyBytes += r.allocs[1].Value.Uint64() - bytes

	results, ok := out.([]fsm.Result)
	if !ok || len(results) != len(r.cmds) {
		b.Fatalf("Apply returned %T with %d results for %d commands", out, len(results), len(r.cmds))
	}
	for k, res := range results {
		if res.Err != nil {
			b.Fatalf("command %T %+v: %v", r.cmds[k], r.cmds[k], res.Err)
		}
		if _, ok := r.cmds[k].(*fsm.CreateChat); ok {
			w.add(r.cmds[k].Head().Account, res.Chat)
		}
	}
}

// reportCosts reports Apply's allocations, page faults and mean time per
// command, and the mix of commands applied.
func (r *applyBenchRun) reportCosts() {
	b := r.b
	if n := len(r.perCommand.wall); n > 0 {
		cmds := float64(n * benchBatchSize)
		b.ReportMetric(float64(r.applyObjects)/cmds, "apply-allocs/cmd")
		b.ReportMetric(float64(r.applyBytes)/cmds, "apply-B/cmd")
		if r.countsFaults {
			b.ReportMetric(float64(r.applyFaults)/cmds, "apply-faults/cmd")
		}
		var total time.Duration
		for _, d := range r.perCommand.wall {
			total += d
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(n), "mean-ns/cmd")
	}
	var mix []string
	for _, m := range benchMix {
		mix = append(mix, fmt.Sprintf("%s=%d", m.kind, r.w.counts[m.kind]))
	}
	b.Logf("%d log entries; commands by kind: %s; %d active chats in the workload", len(r.perCommand.wall), strings.Join(mix, " "), len(r.w.chats))
}

// TestStandardDatasetAppliesCleanly applies a small scale of the standard
// dataset, checks that every command is accepted and that the counts agree
// with the generator. It is the benchmarks' load path, kept small enough
// for every `go test` run.
func TestStandardDatasetAppliesCleanly(t *testing.T) {
	fx, err := benchLoad(dataset.Standard().WithScale(0.002))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(fx.fsm.Accounts()); got != fx.shape.Accounts {
		t.Fatalf("%d accounts, want %d", got, fx.shape.Accounts)
	}
	ops, err := fx.fsm.Operators(fx.shape.BigAccount)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != fx.shape.BigOperators {
		t.Fatalf("big account: %d operators, want %d", len(ops), fx.shape.BigOperators)
	}
	active, err := fx.fsm.Counts(fx.shape.BigAccount, fsm.CountQuery{Status: fsm.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := fx.fsm.Counts(fx.shape.BigAccount, fsm.CountQuery{Status: fsm.StatusClosed})
	if err != nil {
		t.Fatal(err)
	}
	if active.All != fx.stats.BigActiveChats || closed.All != fx.stats.BigClosedChats {
		t.Fatalf("big account: %d active, %d closed; the dataset made %d and %d",
			active.All, closed.All, fx.stats.BigActiveChats, fx.stats.BigClosedChats)
	}
	if fx.fsm.AppliedIndex() != fx.index || fx.index != uint64(fx.entries) {
		t.Fatalf("applied index %d, want %d (%d log entries)", fx.fsm.AppliedIndex(), fx.index, fx.entries)
	}
}
