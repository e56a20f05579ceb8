//go:build linux

package hugeheap_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/chatstate/chatstate/node/hugeheap"
)

// TestAdviseMarksTheHeap checks, through /proc/self/smaps, that after
// Advise the mapping holding memory allocated afterwards carries the
// kernel's huge-page flag ("hg" in VmFlags).
func TestAdviseMarksTheHeap(t *testing.T) {
	requireMadviseMode(t)
	marked, err := hugeheap.Advise(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if marked < 64<<20 {
		t.Fatalf("marked %d bytes, want at least the 64 MiB grown", marked)
	}
	// Allocated after Advise, this reuses the grown memory.
	buf := make([]byte, 8<<20)
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	flags := vmFlagsOf(t, addr)
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("the mapping of %#x has VmFlags %q, without hg", addr, flags)
	}

	// Settled, the same memory is marked for small pages.
	if _, err := hugeheap.Settle(); err != nil {
		t.Fatal(err)
	}
	flags = vmFlagsOf(t, addr)
	if !strings.Contains(" "+flags+" ", " nh ") || strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("after Settle the mapping of %#x has VmFlags %q, want nh and no hg", addr, flags)
	}
	runtime.KeepAlive(buf)
}

// requireMadviseMode skips a test on a kernel where Advise and Settle do
// nothing by design: without transparent huge pages, or in the "always"
// or "never" modes.
func requireMadviseMode(t *testing.T) {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(b), "[madvise]") {
		t.Skipf("transparent huge pages are not in madvise mode here (%q, %v): Advise does nothing", b, err)
	}
}

// vmFlagsOf returns the VmFlags line of the smaps entry that holds addr.
func vmFlagsOf(t *testing.T, addr uint64) string {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inside := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uint64
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 {
			inside = lo <= addr && addr < hi
			continue
		}
		if inside && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

// TestAdviseCapsTheGrowth asks for far more than the process may have:
// Advise grows by what it may map instead (here bounded by the Go memory
// limit, 256 MiB above what the process holds), rather than failing the
// process on a refused mapping.
func TestAdviseCapsTheGrowth(t *testing.T) {
	requireMadviseMode(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(ms.Sys) + 256<<20))
	marked, err := hugeheap.Advise(1 << 60)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	if marked == 0 || ms.HeapSys > 2<<30 {
		t.Fatalf("marked %d bytes, heap holds %d bytes: want the growth capped near the limit", marked, ms.HeapSys)
	}
}
