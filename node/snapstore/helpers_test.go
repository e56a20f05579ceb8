package snapstore_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatstate/chatstate/node/snapstore"
	"github.com/hashicorp/raft"
)

// testChunkSize is small so that tests cover many chunks with little data.
const testChunkSize = 4 << 10

// testConfig is DefaultConfig with small chunks, a short lock timeout and
// the store's log sent to t.Log.
func testConfig(t testing.TB) snapstore.Config {
	cfg := snapstore.DefaultConfig()
	cfg.ChunkSize = testChunkSize
	cfg.LockTimeout = 100 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// openStore opens a store at path and closes it when the test ends.
func openStore(t testing.TB, path string, cfg snapstore.Config) *snapstore.Store {
	t.Helper()
	s, err := snapstore.Open(path, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newStore(t testing.TB) (*snapstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapshots.db")
	return openStore(t, path, testConfig(t)), path
}

// payload is n bytes that depend only on seed, so that a reader can check
// what a writer (maybe another process) wrote.
func payload(seed uint64, n int) []byte {
	data := make([]byte, n)
	payloadReader(seed).Read(data)
	return data
}

func payloadReader(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return rand.NewChaCha8(key)
}

func testConfiguration() raft.Configuration {
	return raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: "node-1", Address: "127.0.0.1:7001"},
		{Suffrage: raft.Voter, ID: "node-2", Address: "127.0.0.1:7002"},
		{Suffrage: raft.Nonvoter, ID: "node-3", Address: "127.0.0.1:7003"},
	}}
}

func testTransport(t testing.TB) raft.Transport {
	_, trans := raft.NewInmemTransport(raft.NewInmemAddr())
	t.Cleanup(func() { trans.Close() })
	return trans
}

// writeSnapshot writes data as a complete snapshot in writes of writeSize
// bytes and returns its id.
func writeSnapshot(t testing.TB, s *snapstore.Store, index, term uint64, data []byte, writeSize int) string {
	t.Helper()
	sink, err := s.Create(raft.SnapshotVersionMax, index, term, testConfiguration(), index-1, nil)
	if err != nil {
		t.Fatalf("Create(index %d, term %d): %v", index, term, err)
	}
	for rest := data; len(rest) > 0; {
		n := min(writeSize, len(rest))
		if written, err := sink.Write(rest[:n]); err != nil || written != n {
			t.Fatalf("Write: wrote %d of %d: %v", written, n, err)
		}
		rest = rest[n:]
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("sink Close: %v", err)
	}
	return sink.ID()
}

// readSnapshot opens snapshot id and reads it to the end.
func readSnapshot(t testing.TB, s *snapstore.Store, id string) (*raft.SnapshotMeta, []byte) {
	t.Helper()
	meta, rc, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read snapshot %s: %v", id, err)
	}
	return meta, data
}

// listIDs returns the ids List reports, in its order.
func listIDs(t testing.TB, s *snapstore.Store) []string {
	t.Helper()
	metas, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	ids := make([]string, len(metas))
	for i, m := range metas {
		ids[i] = m.ID
	}
	return ids
}

func chunkBuckets(t testing.TB, s *snapstore.Store) map[string]int {
	t.Helper()
	buckets, err := snapstore.ChunkBuckets(s)
	if err != nil {
		t.Fatalf("ChunkBuckets: %v", err)
	}
	return buckets
}

func mustEqualBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d bytes (contents differ)", what, len(got), len(want))
	}
}
