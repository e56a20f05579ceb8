package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything a run measured; it is written as results.json and
// rendered as the table and report.html.
type Report struct {
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Host     HostInfo      `json:"host"`
	Settings Settings      `json:"settings"`
	Cluster  ClusterInfo   `json:"cluster"`
	Load     *LoadResult   `json:"load,omitempty"`
	Phases   []PhaseResult `json:"phases"`
	Checks   []Check       `json:"checks"`
	// Notes are remarks on the run (an aborted phase, a busy machine).
	Notes []string `json:"notes,omitempty"`
}

// HostInfo describes the machine, so figures are read in their context.
type HostInfo struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	// LoadAvgStart and LoadAvgEnd are /proc/loadavg's 1, 5 and 15 minute
	// averages when the run started and ended ("" where unknown).
	LoadAvgStart string `json:"load_avg_start"`
	LoadAvgEnd   string `json:"load_avg_end"`
}

// Settings are the Config values that shape the figures.
type Settings struct {
	Command        string     `json:"command"`
	Scale          float64    `json:"scale"`
	Seed           uint64     `json:"seed"`
	Encoding       string     `json:"encoding"`
	Consistency    string     `json:"consistency"`
	Warmup         string     `json:"warmup"`
	Duration       string     `json:"duration"`
	MessageBytes   int        `json:"message_bytes"`
	ReadsPerWrite  float64    `json:"reads_per_write"`
	MixRate        float64    `json:"mix_rate"`
	MixOpenWorkers int        `json:"mix_open_workers"`
	Reference      *Reference `json:"reference,omitempty"`
}

// ClusterInfo describes the cluster measured.
type ClusterInfo struct {
	// Own is true when chatbench started the cluster.
	Own     bool     `json:"own"`
	Nodes   int      `json:"nodes"`
	Addrs   []string `json:"addrs"`
	Leader  string   `json:"leader"`
	Version string   `json:"version"`
	// DataDir is the filesystem the nodes, the fsync floor and the bare
	// Raft baseline write to.
	DataDir string `json:"data_dir"`
	// Filesystem is DataDir's filesystem type and device.
	Filesystem string `json:"filesystem,omitempty"`
}

// Systems measured by a phase.
const (
	SystemChatstate = "chatstate"
	SystemBareRaft  = "bare raft"
	SystemFsync     = "fsync floor"
)

// PhaseResult is one measured phase.
type PhaseResult struct {
	// ID is unique in the report: "w1", "w2-64", "bare-256", "r1-16",
	// "m1-closed", "m1-open", "fsync".
	ID string `json:"id"`
	// Workload is W1, W2, R1 or M1, or the write workload a baseline is
	// measured for.
	Workload string `json:"workload"`
	Title    string `json:"title"`
	System   string `json:"system"`
	// Mode is "closed" (fixed concurrency) or "open" (fixed arrival
	// rate, latency from each operation's due time).
	Mode    string  `json:"mode"`
	Clients int     `json:"clients"`
	Rate    float64 `json:"rate,omitempty"`
	All     Summary `json:"all"`
	// Reads and Writes split a mixed workload's figures.
	Reads  *Summary `json:"reads,omitempty"`
	Writes *Summary `json:"writes,omitempty"`
	// Baseline is the ID of the bare-Raft phase this one is compared with.
	Baseline     string   `json:"baseline,omitempty"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Profiles are the CPU profiles taken of the measured window.
	Profiles []string `json:"profiles,omitempty"`
	// CPU is where the CPU went during the measured window.
	CPU *CPUUsage `json:"cpu,omitempty"`
}

// Check is one of the targets a run is held to.
type Check struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	// Pass is nil for figures reported without a target.
	Pass *bool  `json:"pass"`
	Note string `json:"note,omitempty"`
}

// Phase returns the phase with id, or nil.
func (r *Report) Phase(id string) *PhaseResult {
	for i := range r.Phases {
		if r.Phases[i].ID == id {
			return &r.Phases[i]
		}
	}
	return nil
}

// ms formats microseconds as milliseconds with three significant digits.
func ms(us float64) string {
	v := us / 1000
	switch {
	case v == 0:
		return "0"
	case v < 0.1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func rate(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// Versus says how p compares with its baselines, for the table's last
// column: a sequential write against bare Raft's and the fsync floor's
// p50, a concurrent one against bare Raft's throughput and p99.
func (r *Report) Versus(p *PhaseResult) string {
	base := r.Phase(p.Baseline)
	if base == nil {
		return ""
	}
	if p.Clients == 1 {
		s := "p50 " + ratio(p.All.P50Us, base.All.P50Us) + " bare raft"
		if f := r.Phase("fsync"); f != nil {
			s += ", " + ratio(p.All.P50Us, f.All.P50Us) + " fsync"
		}
		return s
	}
	return "ops/s " + ratio(p.All.Throughput, base.All.Throughput) + ", p99 " + ratio(p.All.P99Us, base.All.P99Us) + " bare raft"
}

// WriteTable prints the figures as a table.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Numbers align right; the names are padded to align left.
	const head = "%-10s\t%-11s\t%-11s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\t\n"
	fmt.Fprintf(tw, head, "phase", "system", "mode", "clients", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
		"cpu µs/op", "busy", "vs baseline")
	row := func(id, system, mode, clients string, s Summary, cpu *CPUUsage, vs string) {
		perOp, busy := "", ""
		if cpu != nil {
			perOp, busy = fmt.Sprintf("%.0f", cpu.PerOpUs), fmt.Sprintf("%.0f%%", 100*cpu.MachineBusy)
		}
		fmt.Fprintf(tw, head, id, system, mode, clients, rate(s.Throughput), ms(s.P50Us), ms(s.P90Us), ms(s.P99Us),
			ms(s.P999Us), ms(s.MaxUs), strconv.FormatInt(s.Errors, 10), perOp, busy, vs)
	}
	for i := range r.Phases {
		p := &r.Phases[i]
		mode := p.Mode
		if p.Mode == "open" {
			mode = "open@" + rate(p.Rate)
		}
		row(p.ID, p.System, mode, strconv.Itoa(p.Clients), p.All, p.CPU, r.Versus(p))
		if p.Reads != nil {
			row("  reads", "", "", "", *p.Reads, nil, "")
		}
		if p.Writes != nil {
			row("  writes", "", "", "", *p.Writes, nil, "")
		}
	}
	tw.Flush()
	if r.Load != nil {
		fmt.Fprintf(w, "\nload: %d commands (%d chats) in %.1f s, %.0f writes/s with %d clients\n",
			r.Load.Commands, r.Load.Chats, r.Load.Seconds, r.Load.Rate, r.Load.Clients)
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range r.Checks {
			verdict := "info"
			if c.Pass != nil {
				verdict = map[bool]string{true: "PASS", false: "FAIL"}[*c.Pass]
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", verdict, c.Name, c.Measured, c.Target, c.Note)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\ncpu µs/op: CPU time of chatbench and the nodes per operation; busy: the whole machine's CPU use in the window (other processes included).")
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// Evaluate fills r.Checks from the phases: the targets chatbench is held
// to, each checked only when its phases ran.
func (r *Report) Evaluate() {
	r.Checks = nil
	pass := func(b bool) *bool { return &b }
	if w1, b := r.Phase("w1"), r.Phase("bare-1"); w1 != nil && b != nil {
		lim := 1.2 * b.All.P50Us
		r.Checks = append(r.Checks, Check{
			Name:     "W1 p50 vs bare Raft p50",
			Target:   "<= 1.2× bare raft (" + ms(lim) + " ms)",
			Measured: ms(w1.All.P50Us) + " ms (" + ratio(w1.All.P50Us, b.All.P50Us) + ")",
			Pass:     pass(w1.All.P50Us <= lim),
		})
	}
	if w2, b := r.Phase("w2-256"), r.Phase("bare-256"); w2 != nil && b != nil {
		r.Checks = append(r.Checks, Check{
			Name:     "W2@256 throughput vs bare Raft",
			Target:   ">= 1.5× bare raft (" + rate(1.5*b.All.Throughput) + "/s)",
			Measured: rate(w2.All.Throughput) + "/s (" + ratio(w2.All.Throughput, b.All.Throughput) + ")",
			Pass:     pass(w2.All.Throughput >= 1.5*b.All.Throughput),
		}, Check{
			Name:     "W2@256 p99 vs bare Raft p99",
			Target:   "<= bare raft (" + ms(b.All.P99Us) + " ms)",
			Measured: ms(w2.All.P99Us) + " ms (" + ratio(w2.All.P99Us, b.All.P99Us) + ")",
			Pass:     pass(w2.All.P99Us <= b.All.P99Us),
		})
	}
	if r1 := r.Phase("r1-1"); r1 != nil {
		r.Checks = append(r.Checks, Check{
			Name: "R1@1 p50", Target: "<= 0.15 ms", Measured: ms(r1.All.P50Us) + " ms",
			Pass: pass(r1.All.P50Us <= 150),
		}, Check{
			Name: "R1@1 p99", Target: "<= 0.5 ms", Measured: ms(r1.All.P99Us) + " ms",
			Pass: pass(r1.All.P99Us <= 500),
		})
	}
	if r1, ref := r.Phase("r1-64"), r.Settings.Reference; r1 != nil && ref != nil && ref.Throughput > 0 {
		note := fmt.Sprintf("%s reference: %s/s, p99 %g ms (not measured in this run)", ref.Name, rate(ref.Throughput), ref.P99Ms)
		r.Checks = append(r.Checks, Check{
			Name:     "R1@64 throughput vs " + ref.Name,
			Target:   ">= 2× " + ref.Name + " (" + rate(2*ref.Throughput) + "/s)",
			Measured: rate(r1.All.Throughput) + "/s (" + ratio(r1.All.Throughput, ref.Throughput) + ")",
			Pass:     pass(r1.All.Throughput >= 2*ref.Throughput),
			Note:     note,
		}, Check{
			Name:     "R1@64 p99 vs " + ref.Name,
			Target:   "<= half of " + ref.Name + " (" + fmt.Sprintf("%g", ref.P99Ms/2) + " ms)",
			Measured: ms(r1.All.P99Us) + " ms",
			Pass:     pass(r1.All.P99Us <= ref.P99Ms/2*1000),
			Note:     note,
		})
	}
	if m := r.Phase("m1-closed"); m != nil {
		r.Checks = append(r.Checks, Check{
			Name: "M1 throughput", Target: "reported",
			Measured: fmt.Sprintf("%s ops/s at %d clients, p99 %s ms", rate(m.All.Throughput), m.Clients, ms(m.All.P99Us)),
		})
	}
	if m := r.Phase("m1-open"); m != nil {
		c := Check{
			Name: "M1 p99 at " + rate(m.Rate) + " ops/s (open loop)", Target: "reported",
			Measured: fmt.Sprintf("p99 %s ms, p99.9 %s ms; achieved %s ops/s", ms(m.All.P99Us), ms(m.All.P999Us), rate(m.All.Throughput)),
		}
		if m.All.Throughput < 0.98*m.Rate {
			c.Note = "the cluster did not keep up with the arrival rate: latencies include the queue"
		}
		r.Checks = append(r.Checks, c)
	}
}

// WriteFiles writes results.json and report.html into dir, creating it.
func (r *Report) WriteFiles(dir string) (jsonPath, htmlPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	jsonPath = filepath.Join(dir, "results.json")
	htmlPath = filepath.Join(dir, "report.html")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return "", "", err
	}
	var html strings.Builder
	if err := r.WriteHTML(&html); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(htmlPath, []byte(html.String()), 0o644); err != nil {
		return "", "", err
	}
	return jsonPath, htmlPath, nil
}
