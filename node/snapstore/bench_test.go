package snapstore_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

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

// BenchmarkRead measures Open (which checks that the chunks are there)
// followed by reading the 256 MiB snapshot to the end (each chunk checked
// against its CRC as it is loaded). The snapshot was
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

// BenchmarkLogSyncDuringSnapshot measures what a snapshot being written
// does to the Raft log on the same disk: while one 256 MiB snapshot is
// written, a loop appends 4 KiB to another file and fdatasyncs it, as the
// log store does for every batch, and the latencies of those syncs are
// reported (log-sync-p50-ms, log-sync-p99-ms, log-sync-max-ms) next to the
// snapshot's own rate (snapshot-MB/s). Small chunks pace the snapshot's
// writes; FileSnapshotStore leaves them all to one fsync at the end.
func BenchmarkLogSyncDuringSnapshot(b *testing.B) {
	stores := []struct {
		name   string
		create func(b *testing.B, dir string) func(index uint64) (raft.SnapshotSink, error)
	}{
		{"none", nil},
		{"FileSnapshotStore", func(b *testing.B, dir string) func(uint64) (raft.SnapshotSink, error) {
			store, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			return func(index uint64) (raft.SnapshotSink, error) {
				return store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 0, nil)
			}
		}},
	}
	for _, chunkSize := range []int{1 << 20, 4 << 20, 16 << 20} {
		stores = append(stores, struct {
			name   string
			create func(b *testing.B, dir string) func(index uint64) (raft.SnapshotSink, error)
		}{"snapstore-chunk=" + strconv.Itoa(chunkSize>>20) + "MiB", func(b *testing.B, dir string) func(uint64) (raft.SnapshotSink, error) {
			cfg := snapstore.DefaultConfig()
			cfg.ChunkSize = chunkSize
			s := openStore(b, filepath.Join(dir, "snapshots.db"), cfg)
			return func(index uint64) (raft.SnapshotSink, error) {
				return s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 0, nil)
			}
		}})
	}
	block := payload(1, 1<<20)
	for _, store := range stores {
		b.Run(store.name, func(b *testing.B) {
			dir := b.TempDir()
			logFile, err := os.Create(filepath.Join(dir, "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer logFile.Close()
			var create func(uint64) (raft.SnapshotSink, error)
			if store.create != nil {
				create = store.create(b, dir)
			}
			var latencies []time.Duration
			var snapshotTime time.Duration
			entry := make([]byte, 4<<10)
			for i := range b.N {
				done := make(chan error, 1)
				start := time.Now()
				if create == nil {
					go func() { time.Sleep(time.Second); done <- nil }() // a second of syncs on an idle disk
				} else {
					go func() { done <- writeBlocks(create, uint64(i+1), block) }()
				}
				for waiting := true; waiting; {
					select {
					case err := <-done:
						if err != nil {
							b.Fatal(err)
						}
						waiting = false
					default:
					}
					syncStart := time.Now()
					if _, err := logFile.Write(entry); err != nil {
						b.Fatal(err)
					}
					if err := logFile.Sync(); err != nil {
						b.Fatal(err)
					}
					latencies = append(latencies, time.Since(syncStart))
				}
				snapshotTime += time.Since(start)
			}
			slices.Sort(latencies)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(latencies[len(latencies)/2]), "log-sync-p50-ms")
			b.ReportMetric(ms(latencies[len(latencies)*99/100]), "log-sync-p99-ms")
			b.ReportMetric(ms(latencies[len(latencies)-1]), "log-sync-max-ms")
			if create != nil {
				b.ReportMetric(float64(b.N)*benchSnapshotSize/1e6/snapshotTime.Seconds(), "snapshot-MB/s")
			}
		})
	}
}

// writeBlocks writes a benchSnapshotSize snapshot from block through
// create's sink.
func writeBlocks(create func(uint64) (raft.SnapshotSink, error), index uint64, block []byte) error {
	sink, err := create(index)
	if err != nil {
		return err
	}
	for written := 0; written < benchSnapshotSize; written += benchWriteSize {
		offset := written % len(block)
		if _, err := sink.Write(block[offset : offset+benchWriteSize]); err != nil {
			sink.Cancel()
			return err
		}
	}
	return sink.Close()
}
