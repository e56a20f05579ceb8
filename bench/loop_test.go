package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

func TestScheduleDue(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Schedule{Start: start, Rate: 4000}
	tests := []struct {
		k    int64
		want time.Duration
	}{{0, 0}, {1, 250 * time.Microsecond}, {4000, time.Second}, {4_000_000, 1000 * time.Second}, {6, 1500 * time.Microsecond}}
	for _, tc := range tests {
		if got := s.Due(tc.k).Sub(start); got != tc.want {
			t.Errorf("Due(%d) = start+%v, want start+%v", tc.k, got, tc.want)
		}
	}
	// A rate that does not divide a second: due times are computed from
	// k, so the millionth is exact to the nanosecond, with no drift.
	s = Schedule{Start: start, Rate: 3}
	if got, want := s.Due(3_000_000).Sub(start), 1_000_000*time.Second; got != want {
		t.Errorf("Due(3e6) at 3/s = %v, want %v", got, want)
	}
}

func TestScheduleCount(t *testing.T) {
	start := time.Now()
	tests := []struct {
		rate float64
		d    time.Duration
		want int64
	}{
		{1000, 0, 0},
		{1000, -time.Second, 0},
		{1000, time.Second, 1000},          // due at 0, 1ms, ..., 999ms
		{1000, time.Second + 1, 1001},      // 1000ms is before 1s+1ns
		{1000, 500 * time.Microsecond, 1},  // only op 0
		{3, time.Second, 3},                // 0, 333ms, 666ms
		{5000, 20 * time.Second, 100000},   // M1's open loop
		{0.5, 10 * time.Second, 5},         // 0, 2s, 4s, 6s, 8s
		{7919, 3 * time.Second, 23757},     // a prime rate: ceil(3*7919)
		{1e6, time.Millisecond, 1000},      // 1 µs apart
		{1000, 2500 * time.Microsecond, 3}, // 0, 1, 2 ms
		{1000, 1999999 * time.Nanosecond, 2} /* 0, 1ms */}
	for _, tc := range tests {
		s := Schedule{Start: start, Rate: tc.rate}
		got := s.Count(tc.d)
		if got != tc.want {
			t.Errorf("rate %v, %v: Count = %d, want %d", tc.rate, tc.d, got, tc.want)
			continue
		}
		// Count is exactly the number of due times inside the window.
		if got > 0 && !s.Due(got-1).Before(start.Add(tc.d)) {
			t.Errorf("rate %v, %v: op %d is due at the window's end or after", tc.rate, tc.d, got-1)
		}
		if tc.d > 0 && s.Due(got).Before(start.Add(tc.d)) {
			t.Errorf("rate %v, %v: op %d is due inside the window but not counted", tc.rate, tc.d, got)
		}
	}
}

func TestLatencyIsFromDueTime(t *testing.T) {
	due := time.Now()
	// An operation due at t that a busy worker only starts 40ms later and
	// that takes 1ms has a latency of 41ms, not 1ms.
	if got := Latency(due, due.Add(41*time.Millisecond)); got != 41*time.Millisecond {
		t.Fatalf("Latency = %v, want 41ms", got)
	}
}

func TestRunClosedMeasuresOnlyTheWindow(t *testing.T) {
	var calls atomic.Int64
	newOp := func(w int, rng *rand.Rand) Op {
		return func(ctx context.Context) (OpKind, error) {
			n := calls.Add(1)
			time.Sleep(time.Millisecond)
			if n%10 == 0 {
				return KindWrite, errors.New("every tenth fails")
			}
			return KindRead, nil
		}
	}
	live := new(Counter)
	out := RunClosed(context.Background(), 4, 1, Phase{Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond}, newOp, live)
	measured := out.All.Count() + out.All.Errors()
	if measured == 0 || measured >= calls.Load() {
		t.Fatalf("measured %d of %d calls: the warmup's must be left out", measured, calls.Load())
	}
	if live.Done() != calls.Load() {
		t.Fatalf("live counter %d, calls %d", live.Done(), calls.Load())
	}
	if out.All.Errors() == 0 || out.ByKind[KindWrite].Errors() != out.All.Errors() || out.ByKind[KindRead].Count() != out.All.Count() {
		t.Fatalf("kinds: all %d/%d, read %d, write errors %d", out.All.Count(), out.All.Errors(),
			out.ByKind[KindRead].Count(), out.ByKind[KindWrite].Errors())
	}
	if len(out.ErrorSamples) == 0 || len(out.ErrorSamples) > maxErrorSamples {
		t.Fatalf("error samples %q", out.ErrorSamples)
	}
	if out.Elapsed < 200*time.Millisecond || out.Elapsed > 2*time.Second {
		t.Fatalf("elapsed %v, want the 200ms window and the last operation's end", out.Elapsed)
	}
	if q := out.All.Quantile(0.5); q < time.Millisecond {
		t.Fatalf("p50 %v, below the operation's 1ms sleep", q)
	}
}

func TestRunClosedStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	newOp := func(int, *rand.Rand) Op {
		return func(ctx context.Context) (OpKind, error) {
			<-ctx.Done()
			return KindRead, ctx.Err()
		}
	}
	done := make(chan Outcome)
	go func() { done <- RunClosed(ctx, 3, 1, Phase{Duration: time.Hour}, newOp, nil) }()
	cancel()
	select {
	case out := <-done:
		if out.All.Errors() != 0 {
			t.Fatalf("cancelled operations counted as errors: %d", out.All.Errors())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunClosed did not return after cancel")
	}
}

func TestRunOpenIssuesTheScheduleAndCountsTheQueue(t *testing.T) {
	const rate = 1000.0
	var calls atomic.Int64
	newOp := func(int, *rand.Rand) Op {
		return func(context.Context) (OpKind, error) {
			// The first measured operation stalls for 100ms; with one
			// worker, every operation due meanwhile waits behind it.
			if calls.Add(1) == 51 {
				time.Sleep(100 * time.Millisecond)
			}
			return KindWrite, nil
		}
	}
	ph := Phase{Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond}
	out := RunOpen(context.Background(), 1, rate, 1, ph, newOp, nil)
	sched := Schedule{Rate: rate}
	wantMeasured := sched.Count(ph.Warmup+ph.Duration) - sched.Count(ph.Warmup)
	if out.All.Count() != wantMeasured {
		t.Fatalf("measured %d operations, want %d (every one due in the window)", out.All.Count(), wantMeasured)
	}
	if calls.Load() != sched.Count(ph.Warmup+ph.Duration) {
		t.Fatalf("issued %d operations, want %d", calls.Load(), sched.Count(ph.Warmup+ph.Duration))
	}
	// A closed loop would report one slow operation; the open loop
	// reports the ~100 that were due during the stall as late: the p90
	// of 300 operations lies among them.
	if p90 := out.All.Quantile(0.90); p90 < 20*time.Millisecond {
		t.Fatalf("p90 %v: the queue behind the stall was not counted", p90)
	}
	if max := out.All.Quantile(1); max < 100*time.Millisecond {
		t.Fatalf("max %v, want at least the 100ms stall", max)
	}
	if out.Rate != rate || out.Workers != 1 {
		t.Fatalf("outcome rate %v workers %d", out.Rate, out.Workers)
	}
}
