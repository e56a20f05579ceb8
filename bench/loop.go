package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// OpKind classifies an operation for the per-kind figures of mixed
// workloads.
type OpKind uint8

const (
	// KindRead is a read: a list page, a count, a chat.
	KindRead OpKind = iota
	// KindWrite is a write that goes through the Raft log.
	KindWrite
	numKinds
)

func (k OpKind) String() string {
	if k == KindWrite {
		return "write"
	}
	return "read"
}

// Op is one operation of a workload, run by one worker at a time. It
// reports what kind of operation it was and whether it failed.
type Op func(ctx context.Context) (OpKind, error)

// NewOp returns the Op of worker number worker (from 0), with its own
// random source. Workers never share an Op, so an Op may keep state (its
// chats, its position in a conversation) without locks.
type NewOp func(worker int, rng *rand.Rand) Op

// Phase says how long a measurement runs.
type Phase struct {
	// Warmup runs the workload unmeasured first: connections open, caches
	// fill, the group-commit pipeline reaches its steady state.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
}

// Outcome is what a run measured: every operation, and each kind apart.
type Outcome struct {
	All     *Recorder
	ByKind  [numKinds]*Recorder
	Elapsed time.Duration
	// Rate is the arrival rate asked of an open-loop run; 0 for closed loop.
	Rate float64
	// Workers is the concurrency: the clients of a closed loop, the
	// largest number of operations in flight allowed in an open loop.
	Workers int
	// ErrorSamples holds the first few errors, to say what went wrong.
	ErrorSamples []string
}

// maxErrorSamples bounds Outcome.ErrorSamples.
const maxErrorSamples = 5

// workerRecorders is what one worker records into: a Recorder per kind
// of operation, made on first use (a histogram takes about 220 KB, and
// most workloads have one kind only).
type workerRecorders struct {
	byKind [numKinds]*Recorder
}

func (w *workerRecorders) record(kind OpKind, d time.Duration, err error) {
	r := w.byKind[kind]
	if r == nil {
		r = NewRecorder()
		w.byKind[kind] = r
	}
	if err != nil {
		r.RecordError()
		return
	}
	r.Record(d)
}

// errorLog keeps the first few errors of a run.
type errorLog struct {
	mu      sync.Mutex
	samples []string
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) < maxErrorSamples {
		l.samples = append(l.samples, err.Error())
	}
}

// mergeOutcome merges every worker's recorders: per kind, and all kinds
// together.
func mergeOutcome(ws []*workerRecorders, elapsed time.Duration, errs *errorLog) Outcome {
	o := Outcome{All: NewRecorder(), Elapsed: elapsed, Workers: len(ws), ErrorSamples: errs.samples}
	for k := range o.ByKind {
		o.ByKind[k] = NewRecorder()
	}
	for _, w := range ws {
		for k, r := range w.byKind {
			if r != nil {
				o.ByKind[k].Merge(r)
			}
		}
	}
	for _, r := range o.ByKind {
		o.All.Merge(r)
	}
	return o
}

// Counter is the live count of a running phase, read by the progress
// line.
type Counter struct {
	done   atomic.Int64
	errors atomic.Int64
}

// Done returns the operations completed so far (warmup included).
func (c *Counter) Done() int64 { return c.done.Load() }

// Errors returns the failed operations so far.
func (c *Counter) Errors() int64 { return c.errors.Load() }

func (c *Counter) add(err error) {
	c.done.Add(1)
	if err != nil {
		c.errors.Add(1)
	}
}

// workerRand returns worker w's random source: seeded from the run's seed
// and the worker's number, so a run's choices are repeatable.
func workerRand(seed uint64, w int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(w)+0x9e3779b97f4a7c15))
}

// RunClosed runs a closed loop: workers goroutines each issue an operation
// as soon as their previous one completes. An operation is measured when
// it starts inside the measured window, from its start to its end; the
// window's length is from its start to the end of the last measured
// operation.
func RunClosed(ctx context.Context, workers int, seed uint64, ph Phase, newOp NewOp, live *Counter) Outcome {
	start := time.Now()
	measureFrom := start.Add(ph.Warmup)
	stopAt := measureFrom.Add(ph.Duration)
	ws := make([]*workerRecorders, workers)
	lastEnd := make([]time.Time, workers)
	var errs errorLog
	var wg sync.WaitGroup
	for w := range workers {
		ws[w] = new(workerRecorders)
		op := newOp(w, workerRand(seed, w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := ws[w]
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stopAt) {
					return
				}
				kind, err := op(ctx)
				t1 := time.Now()
				if live != nil {
					live.add(err)
				}
				if err != nil && ctx.Err() != nil {
					return // cancelled, not failed
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					errs.add(err)
				}
				rec.record(kind, t1.Sub(t0), err)
				lastEnd[w] = t1
			}
		}()
	}
	wg.Wait()
	end := measureFrom
	for _, t := range lastEnd {
		if t.After(end) {
			end = t
		}
	}
	return mergeOutcome(ws, end.Sub(measureFrom), &errs)
}

// Schedule is the arrival plan of an open loop: operation k is due at
// Start + k/Rate. Its arithmetic is exact for any k: due times are
// computed from k, never accumulated, so no rounding drifts in.
type Schedule struct {
	Start time.Time
	// Rate is operations per second; it must be positive.
	Rate float64
}

// Due returns when operation k (from 0) is due.
func (s Schedule) Due(k int64) time.Time {
	return s.Start.Add(time.Duration(float64(k) * float64(time.Second) / s.Rate))
}

// Count returns how many operations are due before d has passed since
// Start: the k with Due(k) < Start+d.
func (s Schedule) Count(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	n := int64(d.Seconds() * s.Rate)
	// Correct the float estimate at the boundary.
	for n > 0 && !s.Due(n-1).Before(s.Start.Add(d)) {
		n--
	}
	for s.Due(n).Before(s.Start.Add(d)) {
		n++
	}
	return n
}

// Latency is the latency of an operation due at due that completed at
// end: measured from when it was due, not from when a worker got to it,
// so that time spent waiting behind a slow operation counts (the
// coordinated-omission correction).
func Latency(due, end time.Time) time.Duration { return end.Sub(due) }

// RunOpen runs an open loop: operations arrive at rate per second,
// whatever the system's speed, and up to workers of them are in flight at
// once. Each operation's latency is measured from when it was due (see
// Latency), so a stall shows in the figures as the queue it builds, not as
// the single slow operation a closed loop would see. Operations due in the
// warmup are run but not measured; operations due after the window are
// not issued. Elapsed is the window's length, stretched to the last
// measured completion when a backlog drained after it.
func RunOpen(ctx context.Context, workers int, rate float64, seed uint64, ph Phase, newOp NewOp, live *Counter) Outcome {
	sched := Schedule{Start: time.Now(), Rate: rate}
	first := sched.Count(ph.Warmup)
	last := sched.Count(ph.Warmup + ph.Duration) // exclusive
	ws := make([]*workerRecorders, workers)
	lastEnd := make([]time.Time, workers)
	var next atomic.Int64
	var errs errorLog
	var wg sync.WaitGroup
	for w := range workers {
		ws[w] = new(workerRecorders)
		op := newOp(w, workerRand(seed, w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := ws[w]
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for {
				k := next.Add(1) - 1
				if k >= last {
					return
				}
				due := sched.Due(k)
				if wait := time.Until(due); wait > 0 {
					timer.Reset(wait)
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				}
				kind, err := op(ctx)
				end := time.Now()
				if live != nil {
					live.add(err)
				}
				if err != nil && ctx.Err() != nil {
					return
				}
				if k < first {
					continue
				}
				if err != nil {
					errs.add(err)
				}
				rec.record(kind, Latency(due, end), err)
				lastEnd[w] = end
			}
		}()
	}
	wg.Wait()
	// The window runs from the first measured operation's due time to the
	// last measured completion: when the system cannot keep up, the
	// backlog drains after the last arrival and the throughput shows it.
	windowStart := sched.Due(first)
	end := windowStart.Add(ph.Duration)
	for _, t := range lastEnd {
		if t.After(end) {
			end = t
		}
	}
	o := mergeOutcome(ws, end.Sub(windowStart), &errs)
	o.Rate = rate
	return o
}
