package snapstore_test

import (
	"bytes"
	"errors"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatstate/chatstate/node/snapstore"
)

// TestCorruptDataNeverHandedOut damages a snapshot's bytes in the file, as
// a failing disk would. BoltDB checks only its meta pages, not data pages,
// so the CRCs are what catch it: the reader returns the intact chunks
// before the damaged one, then ErrChecksumMismatch, never a damaged byte.
func TestCorruptDataNeverHandedOut(t *testing.T) {
	s, path := newStore(t)
	damaged := payload(1, 8*testChunkSize)
	damagedID := writeSnapshot(t, s, 1, 1, damaged, 1000)
	intact := payload(2, 8*testChunkSize)
	intactID := writeSnapshot(t, s, 2, 1, intact, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	flipByteInFile(t, path, damaged[5*testChunkSize+100:5*testChunkSize+164])

	s = openStore(t, path, testConfig(t))
	_, reader, err := s.Open(damagedID)
	if err != nil {
		t.Fatalf("Open of the damaged snapshot: %v (its chunks are all there)", err)
	}
	got, err := io.ReadAll(reader)
	if !errors.Is(err, snapstore.ErrChecksumMismatch) {
		t.Fatalf("reading the damaged snapshot: got %v, want ErrChecksumMismatch", err)
	}
	mustEqualBytes(t, "bytes before the damaged chunk", got, damaged[:5*testChunkSize])
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	_, got = readSnapshot(t, s, intactID)
	mustEqualBytes(t, "intact snapshot", got, intact)

	// Closing the failed reader released the damaged snapshot: it is
	// reaped normally.
	writeSnapshot(t, s, 3, 1, []byte("newer"), 100)
	if ids := listIDs(t, s); slices.Contains(ids, damagedID) {
		t.Fatalf("the damaged snapshot was not reaped: %v", ids)
	}
}

// flipByteInFile flips one bit in every place of the file that holds
// needle (BoltDB's copy-on-write may leave stale copies in free pages).
func flipByteInFile(t *testing.T, path string, needle []byte) {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for from := 0; ; found++ {
		at := bytes.Index(file[from:], needle)
		if at < 0 {
			break
		}
		file[from+at+10] ^= 0x01
		from += at + len(needle)
	}
	if found == 0 {
		t.Fatalf("the snapshot's bytes are not in the file")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMissingChunkDetectedOnOpen(t *testing.T) {
	s, _ := newStore(t)
	id := writeSnapshot(t, s, 1, 1, payload(1, 4*testChunkSize), 1000)
	if err := snapstore.DeleteChunk(s, id, 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); !errors.Is(err, snapstore.ErrCorrupt) {
		t.Fatalf("Open: got %v, want ErrCorrupt", err)
	}
}

func TestMissingChunkCRCDetectedOnOpen(t *testing.T) {
	s, _ := newStore(t)
	id := writeSnapshot(t, s, 1, 1, payload(1, 4*testChunkSize), 1000)
	if err := snapstore.DeleteChunkCRC(s, id, 3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); !errors.Is(err, snapstore.ErrCorrupt) {
		t.Fatalf("Open: got %v, want ErrCorrupt", err)
	}
}

// TestDamageAfterOpenDetectedBeforeUse damages a chunk after Open, ahead
// of the reader: the reader must end with ErrChecksumMismatch, not io.EOF,
// and hand out none of the damaged chunk's bytes.
func TestDamageAfterOpenDetectedBeforeUse(t *testing.T) {
	s, _ := newStore(t)
	const chunks, damaged = 16, 12
	data := payload(1, chunks*testChunkSize)
	id := writeSnapshot(t, s, 1, 1, data, 1000)
	_, reader, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	head := make([]byte, testChunkSize+10)
	if _, err := io.ReadFull(reader, head); err != nil {
		t.Fatal(err)
	}
	mustEqualBytes(t, "first bytes", head, data[:len(head)])
	// The reader holds chunk 1 and at most readAhead (2) more: chunk 12
	// is still in the file.
	garbage := bytes.Repeat([]byte{0xAB}, testChunkSize)
	if err := snapstore.OverwriteChunk(s, id, damaged, garbage); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(reader)
	if !errors.Is(err, snapstore.ErrChecksumMismatch) {
		t.Fatalf("reading to the end: got %v, want ErrChecksumMismatch", err)
	}
	mustEqualBytes(t, "bytes before the damaged chunk", append(head, rest...), data[:damaged*testChunkSize])
}

// TestRecordedCRCIsTheWholeData checks that the recorded CRC is the
// CRC-64 of the whole data, as stores written before chunk CRCs recorded
// it (it is folded from the chunks' CRCs, not computed in a pass of its
// own), for sizes around chunk boundaries.
func TestRecordedCRCIsTheWholeData(t *testing.T) {
	s, _ := newStore(t)
	table := crc64.MakeTable(crc64.ECMA)
	for i, size := range []int{1, testChunkSize - 1, testChunkSize, testChunkSize + 1, 5*testChunkSize + 77} {
		data := payload(uint64(i), size)
		id := writeSnapshot(t, s, uint64(i+1), 1, data, 999)
		crc, err := snapstore.RecordedCRC(s, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := crc64.Checksum(data, table); crc != want {
			t.Errorf("%d bytes: recorded CRC %016x, want %016x", size, crc, want)
		}
	}
}

// TestSnapshotWithoutChunkCRCs reads snapshots as stores wrote them before
// chunks carried CRCs: Open verifies the whole data first, and the reader
// checks it again at the end.
func TestSnapshotWithoutChunkCRCs(t *testing.T) {
	s, path := newStore(t)
	data := payload(1, 6*testChunkSize+5)
	id := writeSnapshot(t, s, 1, 1, data, 1000)
	damaged := payload(2, 6*testChunkSize)
	damagedID := writeSnapshot(t, s, 2, 1, damaged, 1000)
	for _, id := range []string{id, damagedID} {
		if err := snapstore.DropChunkCRCs(s, id); err != nil {
			t.Fatal(err)
		}
	}
	_, got := readSnapshot(t, s, id)
	mustEqualBytes(t, "snapshot without chunk CRCs", got, data)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	flipByteInFile(t, path, damaged[3*testChunkSize+100:3*testChunkSize+164])
	s = openStore(t, path, testConfig(t))
	if _, _, err := s.Open(damagedID); !errors.Is(err, snapstore.ErrChecksumMismatch) {
		t.Fatalf("Open of the damaged snapshot: got %v, want ErrChecksumMismatch", err)
	}

	// Damaged after Open verified it: detected at the end.
	_, reader, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := snapstore.OverwriteChunk(s, id, 5, bytes.Repeat([]byte{0xAB}, testChunkSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(reader); !errors.Is(err, snapstore.ErrChecksumMismatch) {
		t.Fatalf("reading to the end: got %v, want ErrChecksumMismatch", err)
	}
}

// TestReaderCloseMidStream closes readers at every point of a stream: the
// loader goroutine stops (TestMain checks for leaks) and the snapshot is
// released.
func TestReaderCloseMidStream(t *testing.T) {
	s, _ := newStore(t)
	data := payload(1, 8*testChunkSize)
	id := writeSnapshot(t, s, 1, 1, data, 1000)
	for _, n := range []int{0, 1, testChunkSize, 3*testChunkSize + 7, len(data)} {
		_, reader, err := s.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, n)
		if _, err := io.ReadFull(reader, head); err != nil {
			t.Fatal(err)
		}
		mustEqualBytes(t, "head", head, data[:n])
		if err := reader.Close(); err != nil {
			t.Fatal(err)
		}
	}
	writeSnapshot(t, s, 2, 1, nil, 1)
	writeSnapshot(t, s, 3, 1, nil, 1)
	if _, ok := chunkBuckets(t, s)[id]; ok {
		t.Fatalf("not reaped after its readers closed")
	}
}

// TestReaderOutlivesRetention reads a snapshot while newer ones push it
// beyond Retain: it must stay whole until the reader closes, then go.
func TestReaderOutlivesRetention(t *testing.T) {
	s, _ := newStore(t) // Retain 2
	oldData := payload(1, 6*testChunkSize+1)
	oldID := writeSnapshot(t, s, 1, 1, oldData, 1000)
	_, reader, err := s.Open(oldID)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, testChunkSize/2)
	if _, err := io.ReadFull(reader, head); err != nil {
		t.Fatal(err)
	}

	second := writeSnapshot(t, s, 2, 1, payload(2, 3*testChunkSize), 1000)
	third := writeSnapshot(t, s, 3, 1, payload(3, 3*testChunkSize), 1000)
	if got, want := listIDs(t, s), []string{third, second}; !slices.Equal(got, want) {
		t.Fatalf("List: got %v, want %v", got, want)
	}
	if _, ok := chunkBuckets(t, s)[oldID]; !ok {
		t.Fatalf("a snapshot being read was reaped")
	}

	rest, err := io.ReadAll(reader)
	if err != nil {
		t.Fatalf("reading the old snapshot after newer ones arrived: %v", err)
	}
	mustEqualBytes(t, "old snapshot", append(head, rest...), oldData)
	if err := reader.Close(); err != nil {
		t.Fatalf("reader Close: %v", err)
	}
	if _, ok := chunkBuckets(t, s)[oldID]; ok {
		t.Fatalf("the old snapshot was not reaped when its last reader closed")
	}
	if _, _, err := s.Open(oldID); !errors.Is(err, snapstore.ErrNotFound) {
		t.Fatalf("Open of the reaped snapshot: got %v, want ErrNotFound", err)
	}
}

// TestTwoReadersOfOneSnapshot checks that reaping waits for the last of
// several readers.
func TestTwoReadersOfOneSnapshot(t *testing.T) {
	s, _ := newStore(t)
	data := payload(1, 3*testChunkSize)
	id := writeSnapshot(t, s, 1, 1, data, 1000)
	_, first, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	writeSnapshot(t, s, 2, 1, nil, 1)
	writeSnapshot(t, s, 3, 1, nil, 1)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(second)
	if err != nil {
		t.Fatalf("second reader after the first closed: %v", err)
	}
	mustEqualBytes(t, "snapshot", got, data)
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := chunkBuckets(t, s)[id]; ok {
		t.Fatalf("not reaped after its last reader closed")
	}
}

// TestFormat1ChunksStayReadable reads snapshots whose chunks hold their
// data as one value, as format 1 wrote them, and checks that Open marks
// the file format 2 (so that older builds refuse it rather than miss the
// pieced chunks written from then on) and that both layouts read back.
func TestFormat1ChunksStayReadable(t *testing.T) {
	s, path := newStore(t)
	old := payload(1, 5*testChunkSize+9)
	oldID := writeSnapshot(t, s, 1, 1, old, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snapstore.RewriteAsFormat1(path); err != nil {
		t.Fatalf("RewriteAsFormat1: %v", err)
	}
	s = openStore(t, path, testConfig(t))
	newer := payload(2, 3*testChunkSize)
	newID := writeSnapshot(t, s, 2, 1, newer, 1000)
	_, got := readSnapshot(t, s, oldID)
	mustEqualBytes(t, "format-1 snapshot", got, old)
	_, got = readSnapshot(t, s, newID)
	mustEqualBytes(t, "snapshot written after the upgrade", got, newer)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, err := snapstore.FormatVersion(path); err != nil || v != "2" {
		t.Fatalf("format after Open: %q, %v; want \"2\"", v, err)
	}
}

// TestMissingPiece deletes one piece of a chunk: Open still lists the
// snapshot (its sizes are recorded apart from the pieces), and the reader
// ends with ErrCorrupt instead of handing out the chunk short.
func TestMissingPiece(t *testing.T) {
	cfg := testConfig(t)
	cfg.ChunkSize = 64 << 10 // several pieces a chunk
	s := openStore(t, filepath.Join(t.TempDir(), "snapshots.db"), cfg)
	data := payload(1, 4*cfg.ChunkSize)
	id := writeSnapshot(t, s, 1, 1, data, 1000)
	if err := snapstore.DeletePiece(s, id, 2, 3); err != nil {
		t.Fatal(err)
	}
	_, reader, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer reader.Close()
	got, err := io.ReadAll(reader)
	if !errors.Is(err, snapstore.ErrCorrupt) {
		t.Fatalf("reading to the end: got %v, want ErrCorrupt", err)
	}
	mustEqualBytes(t, "bytes before the damaged chunk", got, data[:2*cfg.ChunkSize])
}

// TestDamagedChunkSize gives a chunk a recorded size its pieces do not
// hold, from one byte off to sizes no chunk can have, after Open checked
// the sizes: the reader ends with ErrCorrupt, without allocating what the
// damaged size asks for.
func TestDamagedChunkSize(t *testing.T) {
	for _, size := range []uint64{testChunkSize - 1, testChunkSize + 1, 1 << 40, 1 << 63} {
		s, _ := newStore(t)
		const chunks, damaged = 16, 12 // beyond what the reader loads ahead
		data := payload(1, chunks*testChunkSize)
		id := writeSnapshot(t, s, 1, 1, data, 1000)
		_, reader, err := s.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := snapstore.SetChunkSize(s, id, damaged, size); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(reader)
		reader.Close()
		if !errors.Is(err, snapstore.ErrCorrupt) {
			t.Fatalf("recorded size %d: got %v, want ErrCorrupt", size, err)
		}
		mustEqualBytes(t, "bytes before the damaged chunk", got, data[:damaged*testChunkSize])
	}
}
