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
// The cost is memory: a huge page is backed whole once any byte of it is
// touched. Kernels in "never" mode ignore the mark; in "always" mode it
// changes nothing.
package hugeheap
