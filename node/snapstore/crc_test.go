package snapstore

import (
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

// TestCRCCombine checks crcCombine against one pass over the data, for
// splits at every kind of length (zero, short, odd, powers of two).
func TestCRCCombine(t *testing.T) {
	table := crc64.MakeTable(crc64.ECMA)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, split := range [][2]int{{0, 0}, {0, 1}, {1, 0}, {3, 5}, {100, 1}, {1, 4096}, {4096, 4096}, {12345, 54321}, {65536, 4464}} {
		a, b := data[:split[0]], data[split[0]:split[0]+split[1]]
		shift := shiftBy(int64(len(b)))
		got := crcCombine(crc64.Checksum(a, table), crc64.Checksum(b, table), &shift)
		if want := crc64.Checksum(data[:len(a)+len(b)], table); got != want {
			t.Errorf("split %d+%d: combined %016x, want %016x", len(a), len(b), got, want)
		}
	}
}
