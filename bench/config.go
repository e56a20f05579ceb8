package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Config is one chatbench run. Start from DefaultConfig (the standard
// suite) or QuickConfig (the same suite at a small scale).
type Config struct {
	// Addrs targets an existing cluster (HTTP host:port of its nodes).
	// Empty: chatbench starts its own cluster of Nodes chatstated
	// processes on loopback.
	Addrs []string
	// Nodes is the size of the cluster chatbench starts (1 or 3), and of
	// the bare-Raft baseline either way (for an existing cluster, say how
	// many nodes it has).
	Nodes int
	// Chatstated is the binary to start; empty builds it with go build
	// (chatbench must then run inside the chatstate module).
	Chatstated string
	// ChatstatedArgs are extra flags for every node chatbench starts.
	ChatstatedArgs []string
	// Dir is where data directories go: a temporary directory is made in
	// it and removed at the end. Empty means the system's temp dir. The
	// fsync floor and the bare-Raft baseline use the same filesystem.
	Dir string
	// KeepData keeps the temporary directory (node logs, data).
	KeepData bool

	// Scale and Seed select the dataset (fsm/dataset): 1.0 is 1,000,000
	// chats over 1,000 accounts.
	Scale float64
	Seed  uint64
	// Load writes the dataset before the workloads; without it the
	// cluster must already hold it (an earlier run with KeepData, or
	// --addrs).
	Load bool
	// LoadClients is the concurrency of the load.
	LoadClients int

	// Encoding is the client's wire format: "msgpack" or "json".
	Encoding string
	// Consistency is the reads' consistency: "leader" (the API's
	// default), "linearizable" or "stale".
	Consistency string

	// Warmup and Duration are each phase's unmeasured start and
	// measured window.
	Warmup   time.Duration
	Duration time.Duration
	// Workloads selects what runs, from "baseline", "w1", "w2", "r1",
	// "m1" (the baselines run beside the write workloads they compare
	// with).
	Workloads []string
	// WriteClients are W2's concurrencies; Readers are R1's.
	WriteClients []int
	Readers      []int
	// MixClients is M1's closed-loop concurrency; MixRate its open-loop
	// arrival rate (operations per second), with at most MixOpenWorkers
	// operations in flight: when all are busy, operations that fall due
	// wait for one, and the wait counts in their latency.
	MixClients     int
	MixRate        float64
	MixOpenWorkers int
	// ReadsPerWrite is M1's read-to-write ratio.
	ReadsPerWrite float64
	// MessageBytes is the length of W1's and W2's customer messages.
	MessageBytes int

	// Out is the directory for results.json and report.html.
	Out string
	// Profile writes CPU profiles of every phase's measured window into
	// Out/profiles: every node's (when chatbench started the cluster) and
	// chatbench's own. It costs a few percent of CPU.
	Profile bool
	// Reference is an outside figure R1 at 64 readers is compared with.
	Reference Reference
}

// Reference is a throughput and p99 measured elsewhere, for comparison.
type Reference struct {
	Name       string  `json:"name"`
	Throughput float64 `json:"throughput"`
	P99Ms      float64 `json:"p99_ms"`
}

// AllWorkloads lists the workload names of Config.Workloads.
var AllWorkloads = []string{"baseline", "w1", "w2", "r1", "m1"}

// DefaultConfig is the standard suite: the 1,000,000-chat dataset on three
// local nodes, 20 s per phase after 5 s of warmup.
func DefaultConfig() Config {
	return Config{
		Nodes:          3,
		Scale:          1,
		Seed:           1,
		Load:           true,
		LoadClients:    256,
		Encoding:       "msgpack",
		Consistency:    "leader",
		Warmup:         5 * time.Second,
		Duration:       20 * time.Second,
		Workloads:      slices.Clone(AllWorkloads),
		WriteClients:   []int{16, 64, 256},
		Readers:        []int{1, 16, 64},
		MixClients:     64,
		MixRate:        5000,
		MixOpenWorkers: 256,
		ReadsPerWrite:  9,
		MessageBytes:   200,
		Out:            "bench-results",
		// Redis serving the same filtered lists at 64 clients, as
		// measured for the issue that asked for chatbench.
		Reference: Reference{Name: "Redis", Throughput: 5190, P99Ms: 26},
	}
}

// QuickConfig is the whole suite at 1% of the dataset with 2 s phases: a
// minute or so, for checking a change, not for quoting.
func QuickConfig() Config {
	c := DefaultConfig()
	c.Scale = 0.01
	c.Warmup = 500 * time.Millisecond
	c.Duration = 2 * time.Second
	return c
}

// Has reports whether workload w is selected.
func (c Config) Has(w string) bool { return slices.Contains(c.Workloads, w) }

// Validate checks c.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case len(c.Addrs) == 0 && c.Nodes != 1 && c.Nodes != 3:
		return bad("--nodes %d: chatbench starts 1 or 3 nodes", c.Nodes)
	case c.Nodes < 1:
		return bad("--nodes %d: want at least 1", c.Nodes)
	case math.IsNaN(c.Scale) || c.Scale <= 0 || c.Scale > 100:
		return bad("--scale %v: want a number in (0, 100]", c.Scale)
	case c.LoadClients < 1:
		return bad("--load-clients %d: want at least 1", c.LoadClients)
	case c.Encoding != "msgpack" && c.Encoding != "json":
		return bad("--encoding %q: want msgpack or json", c.Encoding)
	case c.Consistency != "leader" && c.Consistency != "linearizable" && c.Consistency != "stale":
		return bad("--consistency %q: want leader, linearizable or stale", c.Consistency)
	case c.Warmup < 0 || c.Duration <= 0:
		return bad("--warmup %v, --duration %v: want warmup >= 0 and duration > 0", c.Warmup, c.Duration)
	case c.MixClients < 1 || c.MixOpenWorkers < 1:
		return bad("--mix-clients and --mix-open-workers must be at least 1")
	case c.MixRate < 0 || math.IsNaN(c.MixRate) || math.IsInf(c.MixRate, 0):
		return bad("--mix-rate %v: want a rate >= 0 (0 skips the open loop)", c.MixRate)
	case c.ReadsPerWrite < 0:
		return bad("--reads-per-write %v: want >= 0", c.ReadsPerWrite)
	case c.MessageBytes < 1 || c.MessageBytes > 16384:
		return bad("--message-bytes %d: want 1..16384 (the API's limit)", c.MessageBytes)
	case c.Out == "":
		return bad("--out is empty")
	}
	for _, w := range c.Workloads {
		if !slices.Contains(AllWorkloads, w) {
			return bad("--workloads: unknown %q (want some of %v)", w, AllWorkloads)
		}
	}
	for _, list := range [][]int{c.WriteClients, c.Readers} {
		for _, n := range list {
			if n < 1 {
				return bad("client counts must be at least 1, got %d", n)
			}
		}
	}
	return nil
}
