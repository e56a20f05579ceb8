//go:build !unix

package fsm_test

import "time"

// benchThreadCPU has no per-thread CPU clock to read on this platform; the
// benchmarks then report wall-clock figures only.
func benchThreadCPU() (time.Duration, bool) { return 0, false }

// benchProcessCPU has no process CPU clock to read on this platform.
func benchProcessCPU() (time.Duration, bool) { return 0, false }

// benchMinorFaults has no fault counter to read on this platform.
func benchMinorFaults() (int64, bool) { return 0, false }
