package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUUsage is where the machine's CPU went during a measured window: the
// time each process of the benchmark used, and how busy the whole machine
// was (so a figure taken beside other work says so). Linux only; empty
// elsewhere.
type CPUUsage struct {
	// Seconds is CPU time (user + system) by process: "chatbench" and
	// each node ("n1", ...).
	Seconds map[string]float64 `json:"seconds"`
	// PerOpUs is the CPU time of chatbench and the nodes together per
	// successful operation, in microseconds.
	PerOpUs float64 `json:"per_op_us"`
	// MachineBusy is the share of all CPUs' time that was busy (any
	// process), 0..1; OthersBusy the share used by processes other than
	// chatbench and the nodes.
	MachineBusy float64 `json:"machine_busy"`
	OthersBusy  float64 `json:"others_busy"`
}

// userHZ is the unit of /proc's CPU times: fixed at 100 on Linux.
const userHZ = 100

// cpuSample is a reading of the processes' and the machine's CPU times.
type cpuSample struct {
	at        time.Time
	procs     map[string]float64 // seconds
	busy, all float64            // machine-wide, seconds summed over CPUs
	ok        bool
}

// sampleCPU reads /proc for the processes named in pids.
func sampleCPU(pids map[string]int) cpuSample {
	s := cpuSample{at: time.Now(), procs: make(map[string]float64)}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return s
		}
		if i >= 8 { // guest times are already in user and nice
			break
		}
		s.all += n / userHZ
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n / userHZ
		}
	}
	for name, pid := range pids {
		if sec, ok := processCPU(pid); ok {
			s.procs[name] = sec
		}
	}
	s.ok = true
	return s
}

// processCPU returns a process's user + system CPU seconds.
func processCPU(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// After ")": state(0) ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime(11) stime(12).
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (ut + st) / userHZ, true
}

// cpuBetween computes the usage between two samples, for ops successful
// operations.
func cpuBetween(a, b cpuSample, ops int64) *CPUUsage {
	if !a.ok || !b.ok || b.all <= a.all {
		return nil
	}
	u := &CPUUsage{Seconds: make(map[string]float64)}
	var ours float64
	for name, end := range b.procs {
		if start, ok := a.procs[name]; ok {
			u.Seconds[name] = end - start
			ours += end - start
		}
	}
	all := b.all - a.all
	u.MachineBusy = (b.busy - a.busy) / all
	u.OthersBusy = max(0, (b.busy-a.busy-ours)/all)
	if ops > 0 {
		u.PerOpUs = ours / float64(ops) * 1e6
	}
	return u
}

// waitIdle waits until the processes together use less than cores CPUs
// over two consecutive seconds, up to timeout. It reports whether they
// went idle.
func waitIdle(ctx context.Context, pids map[string]int, cores float64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	prev := sampleCPU(pids)
	if !prev.ok {
		return true // nothing to watch
	}
	quiet := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		cur := sampleCPU(pids)
		var used float64
		for name, sec := range cur.procs {
			used += sec - prev.procs[name]
		}
		if used/cur.at.Sub(prev.at).Seconds() < cores {
			quiet++
		} else {
			quiet = 0
		}
		if quiet >= 2 {
			return true
		}
		prev = cur
	}
	return false
}
