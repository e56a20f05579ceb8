package bench

import (
	"context"
	"math"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestCPUBetween(t *testing.T) {
	a := cpuSample{ok: true, all: 100, busy: 40, procs: map[string]float64{"chatbench": 1, "n1": 2}}
	b := cpuSample{ok: true, all: 120, busy: 55, procs: map[string]float64{"chatbench": 3, "n1": 7, "n2": 5}}
	u := cpuBetween(a, b, 1000)
	if u == nil {
		t.Fatal("no usage")
	}
	// chatbench 2 s + n1 5 s over 1000 ops (n2 has no start sample).
	if u.Seconds["chatbench"] != 2 || u.Seconds["n1"] != 5 || len(u.Seconds) != 2 {
		t.Errorf("seconds %v", u.Seconds)
	}
	if math.Abs(u.PerOpUs-7000) > 1e-6 {
		t.Errorf("per op %v µs, want 7000", u.PerOpUs)
	}
	if math.Abs(u.MachineBusy-0.75) > 1e-9 || math.Abs(u.OthersBusy-0.4) > 1e-9 {
		t.Errorf("busy %v others %v, want 0.75 and 0.4", u.MachineBusy, u.OthersBusy)
	}
	if cpuBetween(cpuSample{}, b, 10) != nil || cpuBetween(b, a, 10) != nil {
		t.Error("usage from an empty or reversed pair of samples")
	}
}

func TestSampleCPUReadsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		// /proc exists on Linux only; elsewhere the usage is left out.
		if s := sampleCPU(map[string]int{"self": os.Getpid()}); s.ok {
			t.Fatal("a sample without /proc")
		}
		return
	}
	pids := map[string]int{"self": os.Getpid()}
	a := sampleCPU(pids)
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	b := sampleCPU(pids)
	if !a.ok || !b.ok {
		t.Fatal("no sample")
	}
	if d := b.procs["self"] - a.procs["self"]; d <= 0 || d > 10 {
		t.Fatalf("this process used %v s of CPU spinning for 300 ms (x=%d)", d, x)
	}
	if b.all <= a.all || b.busy < a.busy {
		t.Fatalf("machine times did not advance: %+v %+v", a, b)
	}
}

func TestWaitIdle(t *testing.T) {
	if runtime.GOOS != "linux" {
		return
	}
	// A process that sleeps is idle within two quiet seconds.
	start := time.Now()
	if !waitIdle(context.Background(), map[string]int{"self": os.Getpid()}, 0.5, 10*time.Second) {
		t.Fatal("an idle test process never went idle")
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("idle after %v: two quiet seconds are needed", el)
	}
	// A cancelled wait is not idle.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if waitIdle(ctx, map[string]int{"self": os.Getpid()}, 0.5, time.Minute) {
		t.Fatal("idle reported after cancel")
	}
}
