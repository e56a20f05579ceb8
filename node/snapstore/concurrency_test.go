package snapstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatstate/chatstate/node/snapstore"
	"github.com/hashicorp/raft"
)

// concurrentSize is the size of the snapshot at index in the concurrency
// test: 4 to 13 chunks; the file keeps growing (BoltDB remaps it)
// while readers are in the middle of snapshots.
func concurrentSize(index uint64) int {
	return (4+int(index%9))*testChunkSize + int(index%13)
}

// TestReadWhileCreating runs readers of the newest snapshots, and one slow
// reader of the first snapshot, while a writer creates snapshot after
// snapshot (each Close reaping). Every read must return exactly what was
// written; the slow reader's snapshot must survive its reaping until the
// reader closes; nothing may be left behind.
func TestReadWhileCreating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshots.db")
	s := openStore(t, path, testConfig(t)) // Retain 2
	const firstIndex, lastIndex = 1, 12
	// Generating payloads is slow under the race detector: once only.
	payloads := make(map[uint64][]byte)
	for index := uint64(firstIndex); index <= lastIndex; index++ {
		payloads[index] = payload(index, concurrentSize(index))
	}
	firstID := writeSnapshot(t, s, firstIndex, 1, payloads[firstIndex], 1000)

	var (
		wg         sync.WaitGroup
		errs       = make(chan error, 64)
		writerDone = make(chan struct{})
		// step hands control between the slow reader and the writer: the
		// writer creates one snapshot per chunk the slow reader reads, so
		// the slow reader's snapshot is pushed out of retention mid-read.
		step      = make(chan struct{})
		fastReads atomic.Int64
	)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	wg.Go(func() { // writer
		defer close(writerDone)
		for index := uint64(firstIndex + 1); index <= lastIndex; index++ {
			<-step // returns at once when the slow reader is done
			if err := writeConcurrently(s, index, payloads[index]); err != nil {
				report(err)
				return
			}
		}
	})

	wg.Go(func() { // slow reader of the first snapshot
		defer close(step)
		meta, rc, err := s.Open(firstID)
		if err != nil {
			report(fmt.Errorf("slow reader: Open: %w", err))
			return
		}
		defer rc.Close()
		var got bytes.Buffer
		for {
			n, err := io.CopyN(&got, rc, testChunkSize)
			if err == io.EOF {
				break
			}
			if err != nil {
				report(fmt.Errorf("slow reader: after %d bytes: %w", got.Len(), err))
				return
			}
			if n > 0 {
				step <- struct{}{}
			}
		}
		if want := payloads[meta.Index]; !bytes.Equal(got.Bytes(), want) {
			report(fmt.Errorf("slow reader: read %d bytes that differ from the %d written", got.Len(), len(want)))
		}
	})

	for reader := range 3 {
		wg.Go(func() { // fast readers of whatever List shows
			for {
				select {
				case <-writerDone:
					return
				default:
				}
				if err := readNewest(s, reader, payloads); err != nil {
					report(err)
					return
				}
				fastReads.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if fastReads.Load() == 0 {
		t.Fatalf("the fast readers completed no read while the writer ran")
	}
	t.Logf("%d snapshots written while the readers read %d times", lastIndex-firstIndex, fastReads.Load())

	ids := listIDs(t, s)
	if len(ids) != 2 {
		t.Fatalf("List: %v, want the 2 newest", ids)
	}
	buckets := chunkBuckets(t, s)
	for _, id := range ids {
		if _, ok := buckets[id]; !ok || len(buckets) != len(ids) {
			t.Fatalf("chunks kept: %v, want only those of %v", buckets, ids)
		}
	}
}

func writeConcurrently(s *snapstore.Store, index uint64, data []byte) error {
	sink, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		return fmt.Errorf("writer: Create(%d): %w", index, err)
	}
	for len(data) > 0 {
		n := min(3000, len(data))
		if _, err := sink.Write(data[:n]); err != nil {
			sink.Cancel()
			return fmt.Errorf("writer: Write(%d): %w", index, err)
		}
		data = data[n:]
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("writer: Close(%d): %w", index, err)
	}
	return nil
}

// readNewest reads one of the listed snapshots and checks its contents. A
// snapshot reaped between List and Open is not an error.
func readNewest(s *snapstore.Store, reader int, payloads map[uint64][]byte) error {
	metas, err := s.List()
	if err != nil {
		return fmt.Errorf("reader %d: List: %w", reader, err)
	}
	if len(metas) == 0 {
		return fmt.Errorf("reader %d: List is empty", reader)
	}
	listed := metas[reader%len(metas)]
	meta, rc, err := s.Open(listed.ID)
	if errors.Is(err, snapstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reader %d: Open(%s): %w", reader, listed.ID, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("reader %d: read %s: %w", reader, meta.ID, err)
	}
	if want := payloads[meta.Index]; !bytes.Equal(got, want) {
		return fmt.Errorf("reader %d: snapshot %s: read %d bytes that differ from the %d written", reader, meta.ID, len(got), len(want))
	}
	return nil
}
