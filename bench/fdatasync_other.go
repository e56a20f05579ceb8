//go:build !linux

package bench

import "os"

// fdatasync falls back to fsync where the system has no fdatasync, as
// BoltDB does.
func fdatasync(f *os.File) error { return f.Sync() }
