package bench

import (
	"math"
	"testing"
	"time"
)

func TestMergedRecordersEqualOneRecorder(t *testing.T) {
	whole := NewRecorder()
	parts := []*Recorder{NewRecorder(), NewRecorder(), NewRecorder(), nil}
	for i := 1; i <= 30000; i++ {
		d := time.Duration(i) * 997 * time.Nanosecond
		whole.Record(d)
		parts[i%3].Record(d)
	}
	parts[0].RecordError()
	parts[2].RecordError()
	merged := MergeRecorders(parts)
	if merged.Count() != whole.Count() || merged.Count() != 30000 {
		t.Fatalf("merged count %d, whole %d, want 30000", merged.Count(), whole.Count())
	}
	if merged.Errors() != 2 {
		t.Fatalf("merged errors %d, want 2", merged.Errors())
	}
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		if a, b := merged.Quantile(q), whole.Quantile(q); a != b {
			t.Errorf("quantile %v: merged %v, whole %v", q, a, b)
		}
	}
}

func TestQuantilesWithinResolution(t *testing.T) {
	r := NewRecorder()
	// 1..10000 µs, uniformly: the p-th percentile is p*100 µs.
	for i := 1; i <= 10000; i++ {
		r.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.9, 9000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := r.Quantile(tc.q)
		if diff := math.Abs(float64(got-tc.want)) / float64(tc.want); diff > 0.001 {
			t.Errorf("quantile %v = %v, want %v within 0.1%%", tc.q, got, tc.want)
		}
	}
	s := r.Summarize(2 * time.Second)
	if s.Throughput != 5000 {
		t.Errorf("throughput %v, want 5000/s", s.Throughput)
	}
	if s.P50Us < 4995 || s.P50Us > 5005 || s.MaxUs < 9990 || s.MinUs > 1.01 {
		t.Errorf("summary %+v", s)
	}
}

func TestErrorsStayOutOfTheHistogram(t *testing.T) {
	r := NewRecorder()
	r.Record(time.Millisecond)
	r.RecordError()
	r.RecordError()
	if r.Count() != 1 || r.Errors() != 2 {
		t.Fatalf("count %d errors %d, want 1 and 2", r.Count(), r.Errors())
	}
	s := r.Summarize(time.Second)
	if s.Throughput != 1 || s.Errors != 2 {
		t.Fatalf("summary %+v: throughput counts successes only", s)
	}
}

func TestOutOfRangeLatenciesAreClampedAndCounted(t *testing.T) {
	r := NewRecorder()
	r.Record(-time.Second)
	r.Record(2 * time.Minute)
	if r.Count() != 2 || r.Clamped() != 1 {
		t.Fatalf("count %d clamped %d", r.Count(), r.Clamped())
	}
	if got := r.Quantile(1); got < time.Minute-time.Minute/1000 {
		t.Fatalf("max %v, want about a minute", got)
	}
}

func TestEmptyRecorderSummary(t *testing.T) {
	s := NewRecorder().Summarize(time.Second)
	if s.Count != 0 || s.P99Us != 0 || s.Spectrum != nil {
		t.Fatalf("summary of nothing: %+v", s)
	}
	if NewRecorder().Quantile(0.5) != 0 {
		t.Fatal("quantile of nothing is not 0")
	}
}

func TestSpectrumPercentiles(t *testing.T) {
	tests := []struct {
		count int64
		steps int
		want  []float64
	}{
		{0, 2, nil},
		{1, 2, []float64{0, 100}},
		{10, 1, []float64{0, 90, 100}},
		{1000, 1, []float64{0, 90, 99, 99.9, 100}},
		{100, 2, []float64{0, 100 * (1 - math.Pow(10, -0.5)), 90, 100 * (1 - math.Pow(10, -1.5)), 99, 100}},
	}
	for _, tc := range tests {
		got := SpectrumPercentiles(tc.count, tc.steps)
		if len(got) != len(tc.want) {
			t.Errorf("count %d steps %d: %v, want %v", tc.count, tc.steps, got, tc.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("count %d steps %d: %v, want %v", tc.count, tc.steps, got, tc.want)
				break
			}
		}
	}
}

func TestSpectrumIsMonotonicAndEndsAtMax(t *testing.T) {
	r := NewRecorder()
	for i := 1; i <= 5000; i++ {
		r.Record(time.Duration(i*i) * time.Nanosecond)
	}
	sp := r.Spectrum(20)
	if len(sp) < 2 {
		t.Fatalf("spectrum %v", sp)
	}
	for i := 1; i < len(sp); i++ {
		if sp[i].Percentile <= sp[i-1].Percentile || sp[i].LatencyUs < sp[i-1].LatencyUs {
			t.Fatalf("not monotonic at %d: %v then %v", i, sp[i-1], sp[i])
		}
	}
	last := sp[len(sp)-1]
	if last.Percentile != 100 || last.LatencyUs*1e3 < float64(5000*5000)*0.999 {
		t.Fatalf("last point %+v, want the maximum", last)
	}
}
