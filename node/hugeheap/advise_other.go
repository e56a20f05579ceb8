//go:build !linux

package hugeheap

// Advise does nothing on this platform: it has no transparent huge pages
// to ask for.
func Advise(grow int64) (int64, error) { return 0, nil }

// Settle does nothing on this platform.
func Settle() (int64, error) { return 0, nil }
