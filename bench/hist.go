package bench

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in nanoseconds, from 1 ns to
// one minute, with three significant digits (0.1% resolution at every
// magnitude). A latency beyond a minute is clamped to it and counted in
// Recorder.Clamped: a benchmark that sees one has a bigger problem than
// its p99.
const (
	histLowest  = 1
	histHighest = int64(time.Minute)
	histDigits  = 3
)

// Recorder collects latencies for one worker. It is not safe for
// concurrent use: every worker has its own, and the runner merges them
// when the phase ends, so recording costs no lock and no shared cache line.
type Recorder struct {
	h       *hdrhistogram.Histogram
	errors  int64
	clamped int64
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{h: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// Record adds one successful operation's latency.
func (r *Recorder) Record(d time.Duration) {
	v := int64(d)
	if v < histLowest {
		v = histLowest
	}
	if v > histHighest {
		v = histHighest
		r.clamped++
	}
	// Cannot fail: v is within the histogram's range.
	_ = r.h.RecordValue(v)
}

// RecordError counts a failed operation. Failed operations are kept out of
// the latency histogram (a fast 409 would flatter it) and reported beside
// it.
func (r *Recorder) RecordError() { r.errors++ }

// Count is the number of latencies recorded.
func (r *Recorder) Count() int64 { return r.h.TotalCount() }

// Errors is the number of failed operations.
func (r *Recorder) Errors() int64 { return r.errors }

// Clamped is the number of latencies beyond the histogram's range.
func (r *Recorder) Clamped() int64 { return r.clamped }

// Merge adds everything other recorded into r.
func (r *Recorder) Merge(other *Recorder) {
	// Nothing is dropped: both histograms have the same range.
	r.h.Merge(other.h)
	r.errors += other.errors
	r.clamped += other.clamped
}

// MergeRecorders returns one Recorder holding everything the given ones
// recorded; nil entries are skipped.
func MergeRecorders(rs []*Recorder) *Recorder {
	out := NewRecorder()
	for _, r := range rs {
		if r != nil {
			out.Merge(r)
		}
	}
	return out
}

// Quantile returns the latency at quantile q (0..1): the smallest recorded
// value (to the histogram's resolution) that q of the samples do not
// exceed. It is 0 when nothing was recorded.
func (r *Recorder) Quantile(q float64) time.Duration {
	if r.h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(r.h.ValueAtQuantile(q * 100))
}

// Summary is the figures of one phase, as written to the JSON result.
// Latencies are in microseconds.
type Summary struct {
	Count   int64   `json:"count"`
	Errors  int64   `json:"errors"`
	Clamped int64   `json:"clamped,omitempty"`
	Seconds float64 `json:"seconds"`
	// Throughput is successful operations per second of the measured
	// window.
	Throughput float64 `json:"throughput"`
	MeanUs     float64 `json:"mean_us"`
	MinUs      float64 `json:"min_us"`
	P50Us      float64 `json:"p50_us"`
	P90Us      float64 `json:"p90_us"`
	P99Us      float64 `json:"p99_us"`
	P999Us     float64 `json:"p99_9_us"`
	P9999Us    float64 `json:"p99_99_us"`
	MaxUs      float64 `json:"max_us"`
	// Spectrum is the latency at percentiles spread evenly on the
	// 1/(1-p) log scale of HdrHistogram's percentile plots.
	Spectrum []SpectrumPoint `json:"spectrum"`
}

// SpectrumPoint is one point of a percentile spectrum.
type SpectrumPoint struct {
	Percentile float64 `json:"percentile"`
	LatencyUs  float64 `json:"latency_us"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Summarize computes r's figures over a measured window of elapsed time.
func (r *Recorder) Summarize(elapsed time.Duration) Summary {
	s := Summary{
		Count:   r.h.TotalCount(),
		Errors:  r.errors,
		Clamped: r.clamped,
		Seconds: elapsed.Seconds(),
	}
	if elapsed > 0 {
		s.Throughput = float64(s.Count) / elapsed.Seconds()
	}
	if s.Count == 0 {
		return s
	}
	s.MeanUs = r.h.Mean() / 1e3
	s.MinUs = float64(r.h.Min()) / 1e3
	s.P50Us = us(r.Quantile(0.50))
	s.P90Us = us(r.Quantile(0.90))
	s.P99Us = us(r.Quantile(0.99))
	s.P999Us = us(r.Quantile(0.999))
	s.P9999Us = us(r.Quantile(0.9999))
	s.MaxUs = float64(r.h.Max()) / 1e3
	s.Spectrum = r.Spectrum(spectrumStepsPerDecade)
	return s
}

// spectrumStepsPerDecade is how many points a spectrum has between 90%
// and 99%, 99% and 99.9%, and so on.
const spectrumStepsPerDecade = 20

// SpectrumPercentiles returns the percentiles of a spectrum over count
// samples: p = 100(1 - 10^-x) for x from 0 in steps of 1/stepsPerDecade,
// up to the last x that the samples resolve (1/(1-p) <= count), then 100
// (the maximum).
func SpectrumPercentiles(count int64, stepsPerDecade int) []float64 {
	if count <= 0 || stepsPerDecade <= 0 {
		return nil
	}
	maxX := math.Log10(float64(count))
	var ps []float64
	for i := 0; ; i++ {
		x := float64(i) / float64(stepsPerDecade)
		if x > maxX {
			break
		}
		ps = append(ps, 100*(1-math.Pow(10, -x)))
	}
	return append(ps, 100)
}

// Spectrum returns the latency at each of SpectrumPercentiles.
func (r *Recorder) Spectrum(stepsPerDecade int) []SpectrumPoint {
	ps := SpectrumPercentiles(r.h.TotalCount(), stepsPerDecade)
	out := make([]SpectrumPoint, len(ps))
	for i, p := range ps {
		v := r.h.ValueAtQuantile(p)
		if p == 100 {
			v = r.h.Max()
		}
		out[i] = SpectrumPoint{Percentile: p, LatencyUs: float64(v) / 1e3}
	}
	return out
}
