package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// summary makes a Summary of count operations in one second: 98% at p50
// µs, the slowest 2% at p99 µs (so that the 99th percentile is p99).
func summary(count int64, p50, p99 float64) Summary {
	r := NewRecorder()
	for i := int64(0); i < count; i++ {
		v := p50
		if i >= count*98/100 {
			v = p99
		}
		r.Record(time.Duration(v * float64(time.Microsecond)))
	}
	return r.Summarize(time.Second)
}

func sampleReport() *Report {
	ref := Reference{Name: "Redis", Throughput: 5190, P99Ms: 26}
	return &Report{
		Started:  time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		Finished: time.Date(2026, 11, 27, 8, 15, 0, 0, time.UTC),
		Settings: Settings{Command: "chatbench --quick", Scale: 0.01, Encoding: "msgpack", MessageBytes: 200, Reference: &ref},
		Cluster:  ClusterInfo{Own: true, Nodes: 3},
		Load:     &LoadResult{Accounts: 10, Operators: 40, Chats: 10000, Commands: 65000, Seconds: 5, Rate: 13000, Clients: 256},
		Phases: []PhaseResult{
			{ID: "fsync", Workload: "W1", System: SystemFsync, Mode: "closed", Clients: 1, All: summary(1000, 500, 900)},
			{ID: "bare-1", Workload: "W1", System: SystemBareRaft, Mode: "closed", Clients: 1, All: summary(400, 2000, 4000)},
			{ID: "w1", Workload: "W1", System: SystemChatstate, Mode: "closed", Clients: 1, All: summary(380, 2200, 4500), Baseline: "bare-1"},
			{ID: "bare-256", Workload: "W2", System: SystemBareRaft, Mode: "closed", Clients: 256, All: summary(10000, 20000, 40000)},
			{ID: "w2-256", Workload: "W2", System: SystemChatstate, Mode: "closed", Clients: 256, All: summary(14000, 15000, 45000), Baseline: "bare-256"},
			{ID: "r1-1", Workload: "R1", System: SystemChatstate, Mode: "closed", Clients: 1, All: summary(8000, 120, 400)},
			{ID: "r1-64", Workload: "R1", System: SystemChatstate, Mode: "closed", Clients: 64, All: summary(12000, 4000, 12000)},
			{ID: "m1-open", Workload: "M1", System: SystemChatstate, Mode: "open", Clients: 1024, Rate: 5000,
				All: summary(4990, 1000, 9000), Reads: ptr(summary(4490, 800, 5000)), Writes: ptr(summary(500, 3000, 9000)),
				ErrorSamples: []string{`M1 join: <409> "not_participant"`}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestEvaluateChecksTheTargets(t *testing.T) {
	r := sampleReport()
	r.Evaluate()
	want := map[string]bool{
		"W1 p50 vs bare Raft p50":        true,  // 2.2 <= 1.2*2.0
		"W2@256 throughput vs bare Raft": false, // 14000 < 1.5*10000
		"W2@256 p99 vs bare Raft p99":    false, // 45 > 40
		"R1@1 p50":                       true,
		"R1@1 p99":                       true,
		"R1@64 throughput vs Redis":      true, // 12000 >= 10380
		"R1@64 p99 vs Redis":             true, // 12 <= 13
	}
	seen := map[string]bool{}
	for _, c := range r.Checks {
		seen[c.Name] = true
		w, ok := want[c.Name]
		if !ok {
			if c.Pass != nil {
				t.Errorf("check %q has a verdict but no target", c.Name)
			}
			continue
		}
		if c.Pass == nil || *c.Pass != w {
			t.Errorf("check %q: pass %v, want %v (measured %s, target %s)", c.Name, c.Pass, w, c.Measured, c.Target)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("check %q missing", name)
		}
	}
	if !seen["M1 p99 at 5000 ops/s (open loop)"] {
		t.Errorf("M1 open-loop figure missing: %+v", r.Checks)
	}
}

func TestEvaluateSkipsTargetsWhosePhasesDidNotRun(t *testing.T) {
	r := &Report{Phases: []PhaseResult{{ID: "w1", All: summary(10, 1000, 1000)}}}
	r.Evaluate()
	if len(r.Checks) != 0 {
		t.Fatalf("checks without baselines: %+v", r.Checks)
	}
}

func TestVersusNamesTheBaselineRatios(t *testing.T) {
	r := sampleReport()
	if got := r.Versus(r.Phase("w1")); got != "p50 1.10× bare raft, 4.40× fsync" {
		t.Errorf("w1: %q", got)
	}
	if got := r.Versus(r.Phase("w2-256")); got != "ops/s 1.40×, p99 1.13× bare raft" {
		t.Errorf("w2-256: %q", got)
	}
	if got := r.Versus(r.Phase("r1-1")); got != "" {
		t.Errorf("r1-1 has no baseline: %q", got)
	}
}

func TestWriteTable(t *testing.T) {
	r := sampleReport()
	r.Evaluate()
	var b bytes.Buffer
	r.WriteTable(&b)
	out := b.String()
	for _, want := range []string{"w2-256", "bare raft", "open@5000", "writes", "PASS", "FAIL", "load: 65000 commands", "4.40× fsync"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	r := sampleReport()
	r.Evaluate()
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "<svg"); n < 4 {
		t.Errorf("%d charts, want at least 4 (W1, W2, write throughput, R1, M1)", n)
	}
	if strings.Count(page, "<svg") != strings.Count(page, "</svg>") {
		t.Error("unbalanced svg elements")
	}
	for _, bad := range []string{"<script", "<link", "@import", "src=", "url(http"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: it must open offline", bad)
		}
	}
	// The only URL allowed is the SVG namespace.
	for _, u := range regexp.MustCompile(`https?://[^"' )<]+`).FindAllString(page, -1) {
		if u != "http://www.w3.org/2000/svg" {
			t.Errorf("external reference %q", u)
		}
	}
	// Error samples are escaped, not injected.
	if !strings.Contains(page, "&lt;409&gt;") || strings.Contains(page, "<409>") {
		t.Error("error sample not escaped")
	}
	for _, want := range []string{"W1: sequential writes", "W2: concurrent writes", "R1: filtered list pages", "M1: an operators", "Write throughput against concurrency", "chatbench --quick"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestWriteFilesRoundTrips(t *testing.T) {
	r := sampleReport()
	r.Evaluate()
	dir := filepath.Join(t.TempDir(), "out")
	jsonPath, htmlPath, err := r.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(htmlPath); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Phases) != len(r.Phases) || back.Phase("w2-256").All.P99Us != r.Phase("w2-256").All.P99Us ||
		len(back.Checks) != len(r.Checks) || back.Load.Commands != 65000 {
		t.Fatalf("round trip lost data: %+v", back)
	}
	if len(back.Phase("r1-64").All.Spectrum) == 0 {
		t.Fatal("spectrum missing from the JSON")
	}
}

func TestSpectrumAxis(t *testing.T) {
	for _, tc := range []struct{ p, x float64 }{{0, 0}, {90, 1}, {99, 2}, {99.9, 3}} {
		if got := spectrumX(tc.p); math.Abs(got-tc.x) > 1e-9 {
			t.Errorf("spectrumX(%v) = %v, want %v", tc.p, got, tc.x)
		}
	}
	ts := logTicks(-1, 1)
	var labels []string
	for _, tk := range ts {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "0.1 0.2 0.5 1 2 5 10" {
		t.Errorf("log ticks %q", got)
	}
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {7, 10}, {1200, 2000}, {100, 100}} {
		if got := niceStep(tc.in); got != tc.want {
			t.Errorf("niceStep(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
