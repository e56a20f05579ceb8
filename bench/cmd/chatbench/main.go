// Command chatbench measures chatstate's latency and throughput: it starts
// a local cluster (or targets one with --addrs), loads the standard
// dataset through the API, runs the write, read and mixed workloads beside
// their baselines (the fsync floor and bare hashicorp/raft), and writes a
// table to stdout, results.json and report.html. See package bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/chatstate/chatstate/bench"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fail(err)
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		// The load generator shares the machine with the cluster: collect
		// its garbage less often, so that its GC steals less CPU from the
		// system it measures. Its heap is small (histograms, one page
		// per worker), so the cost is a little memory.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	progress := bench.NewProgress(os.Stderr, bench.IsTerminal(os.Stderr))
	rep, runErr := bench.NewRunner(cfg, commandLine(os.Args), progress).Run(ctx)
	if rep != nil && len(rep.Phases) > 0 {
		fmt.Println()
		rep.WriteTable(os.Stdout)
		jsonPath, htmlPath, err := rep.WriteFiles(cfg.Out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "chatbench: writing results:", err)
			os.Exit(1)
		}
		fmt.Printf("\nwrote %s and %s\n", jsonPath, htmlPath)
	}
	if runErr != nil {
		fail(runErr)
		os.Exit(1)
	}
}

// fail prints err, with the program's name unless the error names it.
func fail(err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, "chatbench:") {
		msg = "chatbench: " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
}

// commandLine is how the report shows the command that produced it.
func commandLine(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'$") {
			a = strconv.Quote(a)
		}
		quoted[i] = a
	}
	quoted[0] = "chatbench"
	return strings.Join(quoted, " ")
}

// parseFlags turns the command line into a Config. --quick starts from
// bench.QuickConfig instead of bench.DefaultConfig; flags given
// explicitly override either.
func parseFlags(args []string, out io.Writer) (bench.Config, error) {
	quick := false
	for _, a := range args {
		if a == "--quick" || a == "-quick" || a == "--quick=true" || a == "-quick=true" {
			quick = true
		}
	}
	cfg := bench.DefaultConfig()
	if quick {
		cfg = bench.QuickConfig()
	}

	fs := flag.NewFlagSet("chatbench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Bool("quick", false, "the whole suite at a small scale (1% of the dataset, 2 s phases): about a minute")
	addrs := fs.String("addrs", "", "comma-separated HTTP addresses of an existing cluster (default: start one)")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "nodes of the cluster chatbench starts (1 or 3), and of the bare-Raft baseline")
	fs.StringVar(&cfg.Chatstated, "chatstated", cfg.Chatstated, "chatstated binary to start (default: go build it)")
	chatstatedArgs := fs.String("chatstated-args", "", "extra flags for every chatstated node, space-separated")
	fs.StringVar(&cfg.Dir, "dir", cfg.Dir, "where the temporary data directory goes (default: the system's temp dir)")
	fs.BoolVar(&cfg.KeepData, "keep", cfg.KeepData, "keep the data directory and node logs")
	fs.Float64Var(&cfg.Scale, "scale", cfg.Scale, "dataset scale: 1.0 is 1,000,000 chats over 1,000 accounts")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "dataset and workload seed")
	fs.BoolVar(&cfg.Load, "load", cfg.Load, "load the dataset first (--load=false: the cluster holds it already)")
	fs.IntVar(&cfg.LoadClients, "load-clients", cfg.LoadClients, "concurrent clients of the load")
	fs.StringVar(&cfg.Encoding, "encoding", cfg.Encoding, "wire format: msgpack or json")
	fs.StringVar(&cfg.Consistency, "consistency", cfg.Consistency, "read consistency: leader, linearizable or stale")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured start of every phase")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window of every phase")
	workloads := fs.String("workloads", strings.Join(cfg.Workloads, ","), "workloads to run: some of "+strings.Join(bench.AllWorkloads, ","))
	writeClients := fs.String("write-clients", joinInts(cfg.WriteClients), "W2's concurrencies")
	readers := fs.String("readers", joinInts(cfg.Readers), "R1's concurrencies")
	fs.IntVar(&cfg.MixClients, "mix-clients", cfg.MixClients, "M1's closed-loop clients")
	fs.Float64Var(&cfg.MixRate, "mix-rate", cfg.MixRate, "M1's open-loop arrival rate, operations/s (0: no open loop)")
	fs.IntVar(&cfg.MixOpenWorkers, "mix-open-workers", cfg.MixOpenWorkers, "M1's open loop: most operations in flight")
	fs.Float64Var(&cfg.ReadsPerWrite, "reads-per-write", cfg.ReadsPerWrite, "M1's reads per write")
	fs.IntVar(&cfg.MessageBytes, "message-bytes", cfg.MessageBytes, "W1/W2 customer message length")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "directory for results.json and report.html")
	fs.BoolVar(&cfg.Profile, "profile", cfg.Profile, "write CPU profiles of each measured window (every node and chatbench) to OUT/profiles")
	ref := fs.String("reference", formatReference(cfg.Reference), "outside figure R1 at 64 readers is held to, NAME:OPS_PER_S:P99_MS (empty: none)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: chatbench [flags]\n\nchatbench measures chatstate's write, read and mixed latency and throughput\nbeside the fsync floor and bare hashicorp/raft, in one run.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	cfg.Addrs = splitList(*addrs)
	cfg.ChatstatedArgs = strings.Fields(*chatstatedArgs)
	cfg.Workloads = splitList(*workloads)
	if cfg.WriteClients, err = parseInts("--write-clients", *writeClients); err != nil {
		return cfg, err
	}
	if cfg.Readers, err = parseInts("--readers", *readers); err != nil {
		return cfg, err
	}
	if cfg.Reference, err = parseReference(*ref); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func parseInts(name, s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive integer", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func formatReference(r bench.Reference) string {
	if r.Throughput == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%g:%g", r.Name, r.Throughput, r.P99Ms)
}

func parseReference(s string) (bench.Reference, error) {
	if s == "" {
		return bench.Reference{}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" {
		return bench.Reference{}, fmt.Errorf("--reference %q: want NAME:OPS_PER_S:P99_MS", s)
	}
	tp, err1 := strconv.ParseFloat(parts[1], 64)
	p99, err2 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || tp <= 0 || p99 <= 0 {
		return bench.Reference{}, fmt.Errorf("--reference %q: throughput and p99 must be positive numbers", s)
	}
	return bench.Reference{Name: parts[0], Throughput: tp, P99Ms: p99}, nil
}
