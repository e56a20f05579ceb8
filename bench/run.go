package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/chatstate/chatstate/client"
	"github.com/chatstate/chatstate/fsm/dataset"
)

// Runner runs a Config's suite. Make one with NewRunner, then call Run.
type Runner struct {
	cfg      Config
	command  string
	progress *Progress
	report   *Report
	profiler *profiler     // nil unless Config.Profile
	lc       *LocalCluster // nil with --addrs
	pids     map[string]int
}

// NewRunner returns a Runner for cfg; command is the command line,
// recorded in the report; progress receives the status lines.
func NewRunner(cfg Config, command string, progress *Progress) *Runner {
	if progress == nil {
		progress = NewProgress(io.Discard, false)
	}
	return &Runner{cfg: cfg, command: command, progress: progress}
}

// Run sets up the cluster (or connects to cfg.Addrs), loads the dataset,
// runs the selected workloads beside their baselines and returns the
// report. When ctx ends early, it returns what was measured so far with
// ctx's error. The cluster it started is stopped and its data removed
// (unless KeepData) before Run returns.
func (r *Runner) Run(ctx context.Context) (rep *Report, err error) {
	cfg := r.cfg
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	rep = &Report{
		Started: time.Now().UTC(),
		Host: HostInfo{Hostname: hostname, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
			GoVersion: runtime.Version(), LoadAvgStart: loadAvg()},
		Settings: Settings{Command: r.command, Scale: cfg.Scale, Seed: cfg.Seed, Encoding: cfg.Encoding,
			Consistency: cfg.Consistency, Warmup: cfg.Warmup.String(), Duration: cfg.Duration.String(),
			MessageBytes: cfg.MessageBytes, ReadsPerWrite: cfg.ReadsPerWrite, MixRate: cfg.MixRate,
			MixOpenWorkers: cfg.MixOpenWorkers},
	}
	if cfg.Reference.Throughput > 0 {
		ref := cfg.Reference
		rep.Settings.Reference = &ref
	}
	r.report = rep
	defer func() {
		r.progress.Stop()
		rep.Finished = time.Now().UTC()
		rep.Host.LoadAvgEnd = loadAvg()
		rep.Evaluate()
	}()

	tmp, err := os.MkdirTemp(cfg.Dir, "chatbench-")
	if err != nil {
		return rep, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	rep.Cluster.DataDir = tmp
	rep.Cluster.Filesystem = filesystemOf(tmp)
	defer func() {
		if cfg.KeepData {
			r.progress.Printf("kept %s", tmp)
			return
		}
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = rmErr
		}
	}()

	addrs := cfg.Addrs
	if len(addrs) == 0 {
		lc, err := r.startCluster(ctx, tmp)
		if err != nil {
			return rep, err
		}
		defer func() {
			r.progress.Printf("stopping the cluster")
			if stopErr := lc.Stop(); stopErr != nil {
				rep.Notes = append(rep.Notes, "stopping the cluster: "+stopErr.Error())
			}
		}()
		addrs = lc.HTTP
		r.lc = lc
		rep.Cluster.Own = true
		if cfg.Profile {
			r.profiler = &profiler{dir: filepath.Join(cfg.Out, "profiles")}
		}
	}
	if cfg.Profile && r.profiler == nil {
		r.profiler = &profiler{dir: filepath.Join(cfg.Out, "profiles")}
		rep.Notes = append(rep.Notes, "--profile with --addrs profiles chatbench only")
	}
	if r.profiler != nil {
		if err := os.MkdirAll(r.profiler.dir, 0o755); err != nil {
			return rep, fmt.Errorf("%w: %v", ErrSetup, err)
		}
		// Profiles of an earlier run would pass for this one's.
		old, _ := filepath.Glob(filepath.Join(r.profiler.dir, "*.pprof"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	rep.Cluster.Nodes = cfg.Nodes
	rep.Cluster.Addrs = addrs
	r.pids = map[string]int{"chatbench": os.Getpid()}
	if r.lc != nil {
		for i, pid := range r.lc.Pids() {
			r.pids["n"+strconv.Itoa(i+1)] = pid
		}
	}

	c, err := r.newClient(addrs)
	if err != nil {
		return rep, err
	}
	defer c.Close()
	if st, err := c.Status(ctx); err == nil {
		rep.Cluster.Version = st.Version
		if st.Leader != nil {
			rep.Cluster.Leader = st.Leader.ID + " (" + st.Leader.HTTP + ")"
			if r.profiler != nil && r.lc != nil {
				for i, a := range r.lc.HTTP {
					name := "n" + strconv.Itoa(i+1)
					if a == st.Leader.HTTP {
						name += "-leader"
					}
					if i < len(r.lc.Pprof) {
						r.profiler.nodes = append(r.profiler.nodes, profiledNode{name: name, pprof: r.lc.Pprof[i]})
					}
				}
			}
		}
		if !rep.Cluster.Own && len(st.Nodes) != cfg.Nodes {
			rep.Notes = append(rep.Notes, fmt.Sprintf("the cluster has %d nodes but the bare-Raft baseline uses --nodes %d", len(st.Nodes), cfg.Nodes))
		}
	} else {
		return rep, fmt.Errorf("%w: status: %v", ErrSetup, err)
	}

	dcfg := dataset.Standard().WithScale(cfg.Scale)
	dcfg.Seed = cfg.Seed
	shape, err := dcfg.Shape()
	if err != nil {
		return rep, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if cfg.Load {
		res, err := r.load(ctx, c, dcfg)
		if err != nil {
			return rep, err
		}
		rep.Load = &res
		r.progress.Start("settle", func(el time.Duration) string {
			return el.Truncate(time.Second).String() + " snapshot on the leader, followers catching up"
		})
		index, err := Settle(ctx, c, 10*time.Minute)
		r.progress.Stop()
		if err != nil {
			return rep, err
		}
		r.progress.Printf("snapshot at index %d; every node has applied the load", index)
		if r.lc != nil {
			// Followers take their own snapshots after a load, which
			// costs seconds of CPU: let them finish before measuring.
			r.progress.Start("settle", func(el time.Duration) string {
				return el.Truncate(time.Second).String() + " waiting for the nodes to go idle"
			})
			idle := waitIdle(ctx, r.nodePids(), 0.1, 3*time.Minute)
			r.progress.Stop()
			if !idle {
				rep.Notes = append(rep.Notes, "the nodes were still busy 3 minutes after the load; the first phases ran beside them")
			}
		}
	}
	targets, err := DiscoverTargets(ctx, c, shape.BigAccount)
	if err != nil {
		return rep, err
	}
	r.progress.Printf("workloads on %s: %d operators, %d active chats", targets.Account, len(targets.Operators), len(targets.ActiveChats))

	texts := NewTexts(cfg.MessageBytes, cfg.Seed)
	if err := r.writePhases(ctx, c, tmp, targets, texts); err != nil {
		return rep, err
	}
	if cfg.Has("r1") {
		for _, n := range cfg.Readers {
			r.closed(ctx, PhaseResult{ID: fmt.Sprintf("r1-%d", n), Workload: "R1", Title: "filtered list pages",
				System: SystemChatstate}, n, ListPages(c, targets))
		}
	}
	if cfg.Has("m1") {
		mc := MixConfig{ReadsPerWrite: cfg.ReadsPerWrite, ChatsPerWorker: 4}
		r.closed(ctx, PhaseResult{ID: "m1-closed", Workload: "M1", Title: "operators' day",
			System: SystemChatstate}, cfg.MixClients, OperatorsDay(c, targets, texts, mc))
		if cfg.MixRate > 0 {
			r.open(ctx, PhaseResult{ID: "m1-open", Workload: "M1", Title: "operators' day",
				System: SystemChatstate}, cfg.MixOpenWorkers, cfg.MixRate, OperatorsDay(c, targets, texts, mc))
		}
	}
	return rep, ctx.Err()
}

func (r *Runner) startCluster(ctx context.Context, tmp string) (*LocalCluster, error) {
	bin := r.cfg.Chatstated
	if bin == "" {
		r.progress.Printf("building chatstated")
		var err error
		if bin, err = BuildChatstated(ctx, tmp); err != nil {
			return nil, err
		}
	}
	r.progress.Printf("starting %d chatstated node(s) under %s", r.cfg.Nodes, tmp)
	return StartLocal(ctx, LocalConfig{Nodes: r.cfg.Nodes, Binary: bin, Dir: tmp, Args: r.cfg.ChatstatedArgs, Pprof: r.cfg.Profile})
}

func (r *Runner) newClient(addrs []string) (*client.Client, error) {
	ccfg := client.DefaultConfig()
	ccfg.Addrs = addrs
	if r.cfg.Encoding == "json" {
		ccfg.Encoding = client.JSON
	} else {
		ccfg.Encoding = client.MessagePack
	}
	ccfg.Consistency = client.Consistency(r.cfg.Consistency)
	// Room for the largest concurrency of any phase, so no worker waits
	// for a connection.
	ccfg.MaxConnsPerAddr = max(ccfg.MaxConnsPerAddr, r.cfg.LoadClients, r.cfg.MixClients, r.cfg.MixOpenWorkers,
		maxOf(r.cfg.WriteClients), maxOf(r.cfg.Readers))
	// A benchmark's operation has no use for the default 10 s budget of
	// retries; a stall should show, then fail.
	ccfg.Timeout = 30 * time.Second
	ccfg.AttemptTimeout = 15 * time.Second
	c, err := client.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("%w: client: %v", ErrSetup, err)
	}
	return c, nil
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func (r *Runner) load(ctx context.Context, c *client.Client, dcfg dataset.Config) (LoadResult, error) {
	prog := new(LoadProgress)
	r.progress.Start("load", func(el time.Duration) string {
		chats, cmds := prog.Chats.Load(), prog.Commands.Load()
		s := fmt.Sprintf("%s  %d/%d chats, %d writes, %.0f writes/s", el.Truncate(time.Second), chats, prog.TotalChats, cmds, float64(cmds)/el.Seconds())
		if chats > 0 && prog.TotalChats > 0 {
			eta := time.Duration(float64(el) * float64(prog.TotalChats-chats) / float64(chats))
			s += ", about " + eta.Truncate(time.Second).String() + " left"
		}
		return s
	})
	var waitProfile func() ([]string, error)
	if r.profiler != nil {
		// Ten seconds of the load, once it has reached the chats.
		waitProfile = r.profiler.start(ctx, "load", 3*time.Second, 10*time.Second)
	}
	res, err := Load(ctx, c, dcfg, r.cfg.LoadClients, prog)
	r.progress.Stop()
	if waitProfile != nil {
		if _, perr := waitProfile(); perr != nil {
			r.report.Notes = append(r.report.Notes, perr.Error())
		}
	}
	if err == nil {
		r.progress.Printf("loaded %d chats (%d writes) in %.1f s: %.0f writes/s", res.Chats, res.Commands, res.Seconds, res.Rate)
	}
	return res, err
}

// writePhases runs the fsync floor, W1 and W2, each right after the
// bare-Raft phase it is compared with.
func (r *Runner) writePhases(ctx context.Context, c *client.Client, tmp string, t Targets, texts Texts) error {
	cfg := r.cfg
	baseline := cfg.Has("baseline")
	if !baseline && !cfg.Has("w1") && !cfg.Has("w2") {
		return nil
	}
	var br *BareRaft
	if baseline {
		ff, err := OpenFsyncFloor(tmp)
		if err != nil {
			return err
		}
		r.closed(ctx, PhaseResult{ID: "fsync", Workload: "W1", Title: "write+fdatasync of 64 bytes", System: SystemFsync}, 1, ff.Op())
		ff.Close()
		if (cfg.Has("w1") || cfg.Has("w2")) && ctx.Err() == nil {
			dir := filepath.Join(tmp, "bare")
			if err := os.Mkdir(dir, 0o700); err != nil {
				return fmt.Errorf("%w: %v", ErrSetup, err)
			}
			r.progress.Printf("starting bare raft (%d node(s))", cfg.Nodes)
			startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			var err error
			br, err = OpenBareRaft(startCtx, dir, cfg.Nodes)
			cancel()
			if err != nil {
				return err
			}
			defer br.Close()
		}
	}
	pair := func(workload string, clients int, id string) {
		base := ""
		if br != nil {
			base = fmt.Sprintf("bare-%d", clients)
			r.closed(ctx, PhaseResult{ID: base, Workload: workload, Title: "bare raft Apply of a no-op", System: SystemBareRaft}, clients, br.Op())
		}
		r.closed(ctx, PhaseResult{ID: id, Workload: workload, Title: "customer messages", System: SystemChatstate, Baseline: base},
			clients, CustomerMessages(c, t, texts))
	}
	if cfg.Has("w1") {
		pair("W1", 1, "w1")
	}
	if cfg.Has("w2") {
		for _, n := range cfg.WriteClients {
			pair("W2", n, fmt.Sprintf("w2-%d", n))
		}
	}
	return nil
}

// closed runs one closed-loop phase and appends its result.
func (r *Runner) closed(ctx context.Context, p PhaseResult, clients int, newOp NewOp) {
	if ctx.Err() != nil {
		return
	}
	p.Mode, p.Clients = "closed", clients
	live := new(Counter)
	r.startLine(p, live)
	wait := r.startProfile(ctx, p.ID)
	pids := r.pidsFor(p.System)
	cpuStart := r.sampleAfterWarmup(ctx, pids)
	out := RunClosed(ctx, clients, r.cfg.Seed, Phase{Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}, newOp, live)
	p.CPU = cpuBetween(<-cpuStart, sampleCPU(pids), out.All.Count())
	r.finish(ctx, p, out, wait)
}

// open runs one open-loop phase and appends its result.
func (r *Runner) open(ctx context.Context, p PhaseResult, workers int, rate float64, newOp NewOp) {
	if ctx.Err() != nil {
		return
	}
	p.Mode, p.Clients, p.Rate = "open", workers, rate
	live := new(Counter)
	r.startLine(p, live)
	wait := r.startProfile(ctx, p.ID)
	pids := r.pidsFor(p.System)
	cpuStart := r.sampleAfterWarmup(ctx, pids)
	out := RunOpen(ctx, workers, rate, r.cfg.Seed, Phase{Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}, newOp, live)
	p.CPU = cpuBetween(<-cpuStart, sampleCPU(pids), out.All.Count())
	r.finish(ctx, p, out, wait)
}

func (r *Runner) startLine(p PhaseResult, live *Counter) {
	total := r.cfg.Warmup + r.cfg.Duration
	var last int64
	var lastAt time.Duration
	r.progress.Start(p.ID, func(el time.Duration) string {
		done := live.Done()
		cur := 0.0
		if d := el - lastAt; d > 0 {
			cur = float64(done-last) / d.Seconds()
		}
		last, lastAt = done, el
		stage := "measuring"
		switch {
		case el < r.cfg.Warmup:
			stage = "warming up"
		case el > total+time.Second:
			// An open loop the cluster could not keep up with.
			stage = "draining the backlog"
		}
		return fmt.Sprintf("%s %s/%s  %d ops, %.0f ops/s, %d errors", stage, el.Truncate(100*time.Millisecond), total, done, cur, live.Errors())
	})
}

// nodePids returns the nodes' pids by name.
func (r *Runner) nodePids() map[string]int {
	out := make(map[string]int)
	for name, pid := range r.pids {
		if name != "chatbench" {
			out[name] = pid
		}
	}
	return out
}

// pidsFor returns the processes whose CPU a phase of system is charged:
// chatbench and the nodes for chatstate, chatbench alone for the
// baselines (which run inside it; the idle nodes are not theirs).
func (r *Runner) pidsFor(system string) map[string]int {
	if system == SystemChatstate {
		return r.pids
	}
	return map[string]int{"chatbench": r.pids["chatbench"]}
}

// sampleAfterWarmup reads the CPU times when the measured window starts.
func (r *Runner) sampleAfterWarmup(ctx context.Context, pids map[string]int) <-chan cpuSample {
	ch := make(chan cpuSample, 1)
	go func() {
		t := time.NewTimer(r.cfg.Warmup)
		defer t.Stop()
		select {
		case <-ctx.Done():
			ch <- cpuSample{}
		case <-t.C:
			ch <- sampleCPU(pids)
		}
	}()
	return ch
}

// startProfile starts the phase's profiles when profiling is on.
func (r *Runner) startProfile(ctx context.Context, phase string) func() ([]string, error) {
	if r.profiler == nil {
		return nil
	}
	return r.profiler.start(ctx, phase, r.cfg.Warmup, r.cfg.Duration)
}

func (r *Runner) finish(ctx context.Context, p PhaseResult, out Outcome, waitProfile func() ([]string, error)) {
	r.progress.Stop()
	if waitProfile != nil {
		files, err := waitProfile()
		p.Profiles = files
		if err != nil {
			r.report.Notes = append(r.report.Notes, err.Error())
		}
	}
	p.All = out.All.Summarize(out.Elapsed)
	if p.Workload == "M1" {
		reads, writes := out.ByKind[KindRead].Summarize(out.Elapsed), out.ByKind[KindWrite].Summarize(out.Elapsed)
		p.Reads, p.Writes = &reads, &writes
	}
	p.ErrorSamples = out.ErrorSamples
	if ctx.Err() != nil {
		r.report.Notes = append(r.report.Notes, p.ID+" was interrupted: its figures cover part of the window")
	}
	r.report.Phases = append(r.report.Phases, p)
	r.progress.Printf("%-10s %-11s %4d clients  %8s ops/s  p50 %s  p99 %s  p99.9 %s  max %s ms  errors %d",
		p.ID, p.System, p.Clients, rate(p.All.Throughput), ms(p.All.P50Us), ms(p.All.P99Us), ms(p.All.P999Us), ms(p.All.MaxUs), p.All.Errors)
}

// loadAvg returns /proc/loadavg's three averages, or "" where there is
// none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// filesystemOf returns the type and device of the filesystem dir is on,
// from /proc/self/mounts ("" where there is none): an fsync floor means
// little without it (tmpfs makes every fsync free).
func filesystemOf(dir string) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	best, out := -1, ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mnt := f[1]
		if (abs == mnt || strings.HasPrefix(abs, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) > best {
			best, out = len(mnt), f[2]+" on "+f[0]+" ("+mnt+")"
		}
	}
	return out
}
