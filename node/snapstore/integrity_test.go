package snapstore_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/chatstate/chatstate/node/snapstore"
)

// TestCorruptDataDetectedOnOpen damages a snapshot's bytes in the file, as
// a failing disk would, and expects Open to refuse it by its CRC. BoltDB
// checks only its meta pages, not data pages, so the CRC is what catches it.
func TestCorruptDataDetectedOnOpen(t *testing.T) {
	s, path := newStore(t)
	damaged := payload(1, 8*testChunkSize)
	damagedID := writeSnapshot(t, s, 1, 1, damaged, 1000)
	intact := payload(2, 8*testChunkSize)
	intactID := writeSnapshot(t, s, 2, 1, intact, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	needle := damaged[5*testChunkSize+100 : 5*testChunkSize+164]
	at := bytes.Index(file, needle)
	if at < 0 || bytes.Index(file[at+1:], needle) >= 0 {
		t.Fatalf("the snapshot's bytes are not stored exactly once in the file (found at %d)", at)
	}
	file[at+10] ^= 0x01
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, path, testConfig(t))
	if _, _, err := s.Open(damagedID); !errors.Is(err, snapstore.ErrChecksumMismatch) {
		t.Fatalf("Open of the damaged snapshot: got %v, want ErrChecksumMismatch", err)
	}
	_, got := readSnapshot(t, s, intactID)
	mustEqualBytes(t, "intact snapshot", got, intact)

	// Open's failure released the damaged snapshot: it is reaped normally.
	writeSnapshot(t, s, 3, 1, []byte("newer"), 100)
	if ids := listIDs(t, s); slices.Contains(ids, damagedID) {
		t.Fatalf("the damaged snapshot was not reaped: %v", ids)
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

// TestChangeAfterOpenDetectedAtEnd damages a chunk after Open verified it:
// the reader must end with ErrChecksumMismatch, not io.EOF.
func TestChangeAfterOpenDetectedAtEnd(t *testing.T) {
	s, _ := newStore(t)
	data := payload(1, 4*testChunkSize)
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
	garbage := bytes.Repeat([]byte{0xAB}, testChunkSize)
	if err := snapstore.OverwriteChunk(s, id, 3, garbage); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(reader); !errors.Is(err, snapstore.ErrChecksumMismatch) {
		t.Fatalf("reading to the end: got %v, want ErrChecksumMismatch", err)
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
