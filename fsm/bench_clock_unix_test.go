//go:build unix

package fsm_test

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// benchThreadCPU returns the CPU time the calling OS thread has used. The
// benchmarks lock their goroutine to its thread, so that differences are
// the CPU the measured call took on it (GC assists included), without the
// time the thread waited for a core: on a shared machine, that waiting
// dominates wall-clock percentiles.
func benchThreadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// benchProcessCPU returns the user and system CPU time of the whole process,
// every thread included.
func benchProcessCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// benchMinorFaults returns the page faults the process has taken without
// reading a disk: mostly first touches of memory the heap grows into.
func benchMinorFaults() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Minflt, true
}
