//go:build linux

package hugeheap_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/chatstate/chatstate/node/hugeheap"
)

// TestAdviseMarksTheHeap checks, through /proc/self/smaps, that after
// Advise the mapping holding memory allocated afterwards carries the
// kernel's huge-page flag ("hg" in VmFlags).
func TestAdviseMarksTheHeap(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skipf("this kernel has no transparent huge pages: %v", err)
	}
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
