// Package hugeheap asks Linux to back the Go heap with transparent huge
// pages.
//
// A node's state is gigabytes of small records reached by pointers, so
// nearly every access of a write or a restore misses the TLB, and a
// restore's first touch of each new 4 KiB page is a page fault: a
// 1,000,000-chat restore takes about 750,000 of them. With 2 MiB pages a
// TLB entry covers 512 times as much, and the restore takes about 1,500
// faults.
//
// The Go runtime does not ask for huge pages itself, so on a kernel whose
// transparent huge pages are in "madvise" mode (the usual default) its
// heap never gets any. Advise marks the process's private anonymous
// mappings MADV_HUGEPAGE, as the JVM's -XX:+UseTransparentHugePages marks
// its heap. The runtime maps heap arenas as the heap grows, and a mapping
// made later carries no mark, so Advise first grows the heap by the
// memory about to be needed (untouched, and freed at once): allocations
// then reuse that marked memory. The growth is capped at half of what the
// process may still map (available memory, the commit limit under strict
// overcommit, the Go memory limit): the runtime cannot survive a mapping
// the kernel refuses.
//
// Settle takes the mark off once the memory prepared for is allocated.
// Left marked, the heap's later faults each try for a huge page (and may
// wait for the kernel to compact memory to get one), and the kernel keeps
// collapsing small pages in the background: in the state machine's
// benchmarks that put a list's p99 at about 15 µs instead of 1.5 µs.
// Settled, the huge pages already made stay.
//
// The cost is memory: a huge page is backed whole once any byte of it is
// touched. Both act only in the kernel's "madvise" mode: under "never"
// there is nothing to ask for, and under "always" the marks would only
// take the operator's choice away.
package hugeheap
