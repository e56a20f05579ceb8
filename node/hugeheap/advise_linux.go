package hugeheap

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"golang.org/x/sys/unix"
)

// Advise grows the heap by grow bytes (zero for none), then marks every
// private anonymous read-write mapping of the process MADV_HUGEPAGE, and
// returns how many bytes it marked. Growing runs a garbage collection, so
// call it with grow > 0 only while the heap is small: at startup, before a
// restore.
//
// The growth is capped at half the memory the kernel would still grant:
// the runtime cannot recover from a mapping the kernel refuses, and a
// smaller growth only means that the rest of what follows lands in
// unmarked memory.
func Advise(grow int64) (int64, error) {
	if !madviseMode() {
		return 0, nil
	}
	var block []byte
	if grow = min(grow, grantable()/2); grow > 0 {
		// A fresh large allocation is mapped but not touched: the runtime
		// knows new memory is zero and does not clear it.
		block = make([]byte, grow)
	}
	marked, err := adviseMappings(unix.MADV_HUGEPAGE)
	if block != nil {
		runtime.KeepAlive(block)
		block = nil
		// Free the block now, so that the allocations that follow reuse
		// its marked pages rather than map new, unmarked ones.
		runtime.GC()
	}
	return marked, err
}

// grantable returns how much more memory the process can map: the
// memory available (MemAvailable), and under strict overcommit
// (vm.overcommit_memory 2) no more than the commit limit leaves, within
// the Go memory limit. Zero when it cannot tell.
func grantable() int64 {
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	field := func(name string) int64 {
		for line := range bytes.Lines(meminfo) {
			if rest, ok := bytes.CutPrefix(line, []byte(name+":")); ok {
				kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
		return 0
	}
	n := field("MemAvailable")
	if mode, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err == nil && string(bytes.TrimSpace(mode)) == "2" {
		n = min(n, field("CommitLimit")-field("Committed_AS"))
	}
	if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		n = min(n, limit-int64(ms.Sys))
	}
	return max(n, 0)
}

// Settle marks every private anonymous read-write mapping of the process
// MADV_NOHUGEPAGE, once what Advise prepared for has been allocated. The
// huge pages already faulted in stay. The kernel stops making new ones:
// left marked, the heap's later faults each try for a huge page (and may
// compact memory to get one) and the kernel keeps collapsing small pages
// in the background, which put a list's p99 at 15 µs instead of 1.5 µs.
func Settle() (int64, error) {
	if !madviseMode() {
		return 0, nil
	}
	return adviseMappings(unix.MADV_NOHUGEPAGE)
}

// madviseMode reports whether the kernel gives huge pages to marked
// memory only. Under "always" every mapping may get them already, and the
// marks would only take the operator's choice away; under "never" they
// change nothing.
func madviseMode() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && bytes.Contains(b, []byte("[madvise]"))
}

// adviseMappings gives advice to the private anonymous read-write
// mappings listed in /proc/self/maps.
func adviseMappings(advice int) (int64, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("hugeheap: %w", err)
	}
	var marked int64
	var errs []error
	for line := range bytes.Lines(maps) {
		start, end, ok := anonymousRW(line)
		if !ok {
			continue
		}
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), uintptr(advice))
		if errno != 0 {
			errs = append(errs, fmt.Errorf("hugeheap: madvise %#x-%#x: %w", start, end, errno))
			continue
		}
		marked += int64(end - start)
	}
	return marked, errors.Join(errs...)
}

// anonymousRW parses a line of /proc/self/maps ("start-end perms offset
// dev inode [path]") and reports whether it is a private read-write
// mapping of no file and no kernel region ([stack], [vdso] and the like).
func anonymousRW(line []byte) (start, end uint64, ok bool) {
	fields := bytes.Fields(line)
	if len(fields) != 5 || string(fields[1]) != "rw-p" || string(fields[4]) != "0" {
		return 0, 0, false
	}
	lo, hi, found := bytes.Cut(fields[0], []byte("-"))
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(string(lo), 16, 64)
	end, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return 0, 0, false
	}
	return start, end, true
}
