package snapstore_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chatstate/chatstate/node/snapstore"
	"github.com/hashicorp/raft"
)

// benchSnapshotSize is the snapshot size the benchmarks write and read.
const benchSnapshotSize = 256 << 20

// benchWriteSize is how much each Write hands the sink, as io.Copy does.
const benchWriteSize = 32 << 10

// BenchmarkWrite measures writing a 256 MiB snapshot, from Create to a
// Close that commits, fsyncs and (from the third snapshot on) reaps. MB/s is
// snapshot bytes per second; disk-bytes/byte is what the process wrote to
// the disk per snapshot byte (Linux), i.e. write amplification.
func BenchmarkWrite(b *testing.B) {
	for _, chunkSize := range []int{256 << 10, 1 << 20, 4 << 20} {
		b.Run("chunk="+strconv.Itoa(chunkSize>>10)+"KiB", func(b *testing.B) {
			cfg := snapstore.DefaultConfig()
			cfg.ChunkSize = chunkSize
			s := openStore(b, filepath.Join(b.TempDir(), "snapshots.db"), cfg)
			benchWrite(b, func(index uint64) (raft.SnapshotSink, error) {
				return s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 0, nil)
			})
		})
	}
}

// BenchmarkWriteFileSnapshotStore is raft's own file store on the same
// disk, for comparison.
func BenchmarkWriteFileSnapshotStore(b *testing.B) {
	store, err := raft.NewFileSnapshotStore(b.TempDir(), 2, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	benchWrite(b, func(index uint64) (raft.SnapshotSink, error) {
		return store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 0, nil)
	})
}

func benchWrite(b *testing.B, create func(index uint64) (raft.SnapshotSink, error)) {
	block := payload(1, 1<<20)
	b.SetBytes(benchSnapshotSize)
	diskBefore, diskOK := processDiskWrites()
	b.ResetTimer()
	for i := range b.N {
		sink, err := create(uint64(i + 1))
		if err != nil {
			b.Fatal(err)
		}
		for written := 0; written < benchSnapshotSize; written += benchWriteSize {
			offset := written % len(block)
			if _, err := sink.Write(block[offset : offset+benchWriteSize]); err != nil {
				b.Fatal(err)
			}
		}
		if err := sink.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if diskAfter, ok := processDiskWrites(); ok && diskOK {
		b.ReportMetric(float64(diskAfter-diskBefore)/float64(b.N)/benchSnapshotSize, "disk-bytes/byte")
	}
}

// BenchmarkRead measures Open (which reads every chunk to check the CRC)
// followed by reading the 256 MiB snapshot to the end. The snapshot was
// just written, so it is in the page cache: this is the store's own cost,
// not the disk's.
func BenchmarkRead(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "snapshots.db"), snapstore.DefaultConfig())
	block := payload(1, 1<<20)
	id := writeSnapshot(b, s, 1, 1, bytes.Repeat(block, benchSnapshotSize/len(block)), benchWriteSize)
	b.Run("open+read", func(b *testing.B) {
		b.SetBytes(benchSnapshotSize)
		for b.Loop() {
			_, rc, err := s.Open(id)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			if err != nil || n != benchSnapshotSize {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			rc.Close()
		}
	})
	b.Run("open", func(b *testing.B) {
		b.SetBytes(benchSnapshotSize)
		for b.Loop() {
			_, rc, err := s.Open(id)
			if err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
}

// processDiskWrites returns the bytes this process caused to be written to
// storage, from /proc/self/io (Linux only).
func processDiskWrites() (int64, bool) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(data) {
		if value, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// BenchmarkOpenStore measures opening a file that holds two 256 MiB
// snapshots, as a node does at start: BoltDB rebuilds its freelist by
// walking every page (NoFreelistSync), then the store checks its format,
// looks for incomplete snapshots and reaps.
func BenchmarkOpenStore(b *testing.B) {
	path := filepath.Join(b.TempDir(), "snapshots.db")
	cfg := snapstore.DefaultConfig()
	s, err := snapstore.Open(path, cfg)
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(payload(1, 1<<20), benchSnapshotSize>>20)
	writeSnapshot(b, s, 1, 1, data, benchWriteSize)
	writeSnapshot(b, s, 2, 1, data, benchWriteSize)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := snapstore.Open(path, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
