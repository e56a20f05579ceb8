//go:build race

package snapstore_test

// raceEnabled: the race detector makes sync.Pool drop a share of what is
// put back, so pooled buffers show up as allocations.
const raceEnabled = true
