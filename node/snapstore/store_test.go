package snapstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/chatstate/chatstate/node/snapstore"
	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

func TestCreateListOpen(t *testing.T) {
	s, _ := newStore(t)
	if ids := listIDs(t, s); len(ids) != 0 {
		t.Fatalf("new store lists %v", ids)
	}

	configuration := testConfiguration()
	sink, err := s.Create(raft.SnapshotVersionMax, 10, 3, configuration, 2, testTransport(t))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if ids := listIDs(t, s); len(ids) != 0 {
		t.Fatalf("a pending snapshot is listed: %v", ids)
	}
	if _, _, err := s.Open(sink.ID()); !errors.Is(err, snapstore.ErrNotFound) {
		t.Fatalf("Open of a pending snapshot: got %v, want ErrNotFound", err)
	}
	for _, part := range []string{"first\n", "second\n"} {
		if _, err := sink.Write([]byte(part)); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("sink Close: %v", err)
	}

	metas, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(metas) != 1 {
		t.Fatalf("List: got %d snapshots, want 1", len(metas))
	}
	latest := metas[0]
	want := raft.SnapshotMeta{
		Version:            raft.SnapshotVersionMax,
		ID:                 sink.ID(),
		Index:              10,
		Term:               3,
		Peers:              latest.Peers, // compared in TestPeersLikeFileSnapshotStore
		Configuration:      configuration,
		ConfigurationIndex: 2,
		Size:               13,
	}
	if !reflect.DeepEqual(*latest, want) {
		t.Fatalf("List: got %+v, want %+v", *latest, want)
	}

	meta, data := readSnapshot(t, s, latest.ID)
	if !reflect.DeepEqual(meta, latest) {
		t.Fatalf("Open's metadata %+v differs from List's %+v", *meta, *latest)
	}
	mustEqualBytes(t, "snapshot data", data, []byte("first\nsecond\n"))
}

func TestPeersLikeFileSnapshotStore(t *testing.T) {
	trans := testTransport(t)
	fileStore, err := raft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
	if err != nil {
		t.Fatalf("NewFileSnapshotStore: %v", err)
	}
	fileSink, err := fileStore.Create(raft.SnapshotVersionMax, 5, 1, testConfiguration(), 4, trans)
	if err != nil {
		t.Fatalf("file store Create: %v", err)
	}
	if err := fileSink.Close(); err != nil {
		t.Fatalf("file store sink Close: %v", err)
	}
	fileMetas, err := fileStore.List()
	if err != nil || len(fileMetas) != 1 {
		t.Fatalf("file store List: %v, %v", fileMetas, err)
	}

	s, _ := newStore(t)
	sink, err := s.Create(raft.SnapshotVersionMax, 5, 1, testConfiguration(), 4, trans)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("sink Close: %v", err)
	}
	meta, _ := readSnapshot(t, s, sink.ID())
	if len(meta.Peers) == 0 || !slices.Equal(meta.Peers, fileMetas[0].Peers) {
		t.Fatalf("Peers: got %x, FileSnapshotStore has %x", meta.Peers, fileMetas[0].Peers)
	}
}

func TestRoundTripSizes(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		writeSize int
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"a chunk less one", testChunkSize - 1, 100},
		{"one chunk in one write", testChunkSize, testChunkSize},
		{"one chunk in small writes", testChunkSize, 7},
		{"a chunk and a byte", testChunkSize + 1, testChunkSize + 1},
		{"many chunks in large writes", 10*testChunkSize + 7, 3*testChunkSize + 5},
		{"many chunks in odd writes", 10*testChunkSize + 7, 1000},
	}
	path := filepath.Join(t.TempDir(), "snapshots.db")
	cfg := testConfig(t)
	cfg.Retain = len(tests)
	s := openStore(t, path, cfg)
	ids := make([]string, len(tests))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(uint64(i), tt.size)
			ids[i] = writeSnapshot(t, s, uint64(i+1), 1, data, tt.writeSize)
			meta, got := readSnapshot(t, s, ids[i])
			if meta.Size != int64(tt.size) {
				t.Errorf("Size: got %d, want %d", meta.Size, tt.size)
			}
			mustEqualBytes(t, "snapshot data", got, data)
			wantChunks := (tt.size + testChunkSize - 1) / testChunkSize
			if got := chunkBuckets(t, s)[ids[i]]; got != wantChunks {
				t.Errorf("chunks: got %d, want %d", got, wantChunks)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Everything survives a restart.
	s = openStore(t, path, cfg)
	for i, tt := range tests {
		_, got := readSnapshot(t, s, ids[i])
		mustEqualBytes(t, tt.name+" after reopening", got, payload(uint64(i), tt.size))
	}
}

func TestCancel(t *testing.T) {
	s, _ := newStore(t)
	sink, err := s.Create(raft.SnapshotVersionMax, 10, 3, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := sink.Write(payload(1, 5*testChunkSize+1)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := chunkBuckets(t, s)[sink.ID()]; got != 5 {
		t.Fatalf("before Cancel: %d chunks committed, want 5", got)
	}
	if err := sink.Cancel(); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if ids := listIDs(t, s); len(ids) != 0 {
		t.Fatalf("a cancelled snapshot is listed: %v", ids)
	}
	if _, _, err := s.Open(sink.ID()); !errors.Is(err, snapstore.ErrNotFound) {
		t.Fatalf("Open of a cancelled snapshot: got %v, want ErrNotFound", err)
	}
	if buckets := chunkBuckets(t, s); len(buckets) != 0 {
		t.Fatalf("chunks left after Cancel: %v", buckets)
	}
}

// TestSinkEndings checks Close and Cancel in every order, as
// raft.FileSnapshotStore behaves: the first decides, later ones return nil.
func TestSinkEndings(t *testing.T) {
	tests := []struct {
		name       string
		first      func(raft.SnapshotSink) error
		second     func(raft.SnapshotSink) error
		wantListed bool
	}{
		{"close twice", raft.SnapshotSink.Close, raft.SnapshotSink.Close, true},
		{"close then cancel", raft.SnapshotSink.Close, raft.SnapshotSink.Cancel, true},
		{"cancel then close", raft.SnapshotSink.Cancel, raft.SnapshotSink.Close, false},
		{"cancel twice", raft.SnapshotSink.Cancel, raft.SnapshotSink.Cancel, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			sink, err := s.Create(raft.SnapshotVersionMax, 10, 3, raft.Configuration{}, 0, nil)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			data := payload(2, 2*testChunkSize+3)
			if _, err := sink.Write(data); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := tt.first(sink); err != nil {
				t.Fatalf("first ending: %v", err)
			}
			if err := tt.second(sink); err != nil {
				t.Fatalf("second ending: got %v, want nil", err)
			}
			if _, err := sink.Write([]byte("late")); !errors.Is(err, snapstore.ErrSinkClosed) {
				t.Fatalf("Write after the end: got %v, want ErrSinkClosed", err)
			}
			ids := listIDs(t, s)
			if listed := slices.Contains(ids, sink.ID()); listed != tt.wantListed {
				t.Fatalf("listed %v, want %v (List: %v)", listed, tt.wantListed, ids)
			}
			buckets := chunkBuckets(t, s)
			if tt.wantListed {
				_, got := readSnapshot(t, s, sink.ID())
				mustEqualBytes(t, "snapshot data", got, data)
			} else if len(buckets) != 0 {
				t.Fatalf("chunks left: %v", buckets)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	for _, retain := range []int{1, 2, 3} {
		t.Run("retain "+string(rune('0'+retain)), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snapshots.db")
			cfg := testConfig(t)
			cfg.Retain = retain
			s := openStore(t, path, cfg)
			var ids []string
			for index := uint64(10); index < 15; index++ {
				ids = append(ids, writeSnapshot(t, s, index, 3, payload(index, 2*testChunkSize), 1000))
			}
			slices.Reverse(ids)
			want := ids[:retain]
			if got := listIDs(t, s); !slices.Equal(got, want) {
				t.Fatalf("List: got %v, want %v", got, want)
			}
			for _, id := range ids[retain:] {
				if _, _, err := s.Open(id); !errors.Is(err, snapstore.ErrNotFound) {
					t.Fatalf("Open(%s) of a reaped snapshot: got %v, want ErrNotFound", id, err)
				}
			}
			if buckets := chunkBuckets(t, s); len(buckets) != retain {
				t.Fatalf("chunks of %d snapshots kept, want %d: %v", len(buckets), retain, buckets)
			}
			for _, id := range want {
				readSnapshot(t, s, id)
			}
		})
	}
}

// TestRetainLoweredOnOpen checks that Open reaps down to a smaller Retain.
func TestRetainLoweredOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshots.db")
	cfg := testConfig(t)
	cfg.Retain = 3
	s := openStore(t, path, cfg)
	for index := uint64(1); index <= 3; index++ {
		writeSnapshot(t, s, index, 1, payload(index, 100), 100)
	}
	newest := listIDs(t, s)[0]
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cfg.Retain = 1
	s = openStore(t, path, cfg)
	if got := listIDs(t, s); !slices.Equal(got, []string{newest}) {
		t.Fatalf("List: got %v, want [%s]", got, newest)
	}
	if buckets := chunkBuckets(t, s); len(buckets) != 1 {
		t.Fatalf("chunks kept: %v, want only %s's", buckets, newest)
	}
}

func TestOrdering(t *testing.T) {
	type snap struct{ index, term uint64 }
	tests := []struct {
		name    string
		created []snap // in order of creation
		want    []int  // positions in created, newest first
	}{
		{"higher term first", []snap{{130350, 5}, {204917, 36}}, []int{1, 0}},
		{"higher term wins over higher index", []snap{{900, 7}, {100, 8}}, []int{1, 0}},
		{"same term: higher index first", []snap{{20, 4}, {10, 4}, {30, 4}}, []int{2, 0, 1}},
		{"same term and index: later created first", []snap{{10, 4}, {10, 4}, {10, 4}}, []int{2, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Retain = len(tt.created)
			s := openStore(t, filepath.Join(t.TempDir(), "snapshots.db"), cfg)
			ids := make([]string, len(tt.created))
			for i, c := range tt.created {
				sink, err := s.Create(raft.SnapshotVersionMax, c.index, c.term, raft.Configuration{}, 0, nil)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				if err := sink.Close(); err != nil {
					t.Fatalf("sink Close: %v", err)
				}
				ids[i] = sink.ID()
			}
			if unique := slices.Compact(slices.Sorted(slices.Values(ids))); len(unique) != len(ids) {
				t.Fatalf("ids are not unique: %v", ids)
			}
			var want []string
			for _, i := range tt.want {
				want = append(want, ids[i])
			}
			if got := listIDs(t, s); !slices.Equal(got, want) {
				t.Fatalf("List: got %v, want %v", got, want)
			}
		})
	}
}

func TestUnsupportedVersion(t *testing.T) {
	s, _ := newStore(t)
	for _, version := range []raft.SnapshotVersion{0, 2} {
		if _, err := s.Create(version, 10, 3, raft.Configuration{}, 0, nil); !errors.Is(err, snapstore.ErrUnsupportedVersion) {
			t.Fatalf("Create(version %d): got %v, want ErrUnsupportedVersion", version, err)
		}
	}
	if buckets := chunkBuckets(t, s); len(buckets) != 0 {
		t.Fatalf("a refused Create left chunks: %v", buckets)
	}

	// A snapshot of a version raft cannot read is neither listed nor reaped.
	future := writeSnapshot(t, s, 10, 3, []byte("from a future raft"), 100)
	if err := snapstore.SetRecordVersion(s, future, raft.SnapshotVersionMax+1); err != nil {
		t.Fatalf("SetRecordVersion: %v", err)
	}
	if ids := listIDs(t, s); len(ids) != 0 {
		t.Fatalf("List shows a snapshot of an unsupported version: %v", ids)
	}
	for index := uint64(11); index <= 13; index++ {
		writeSnapshot(t, s, index, 3, []byte("current"), 100)
	}
	if _, ok := chunkBuckets(t, s)[future]; !ok {
		t.Fatalf("reaping deleted a snapshot of an unsupported version")
	}
}

func TestOpenUnknownID(t *testing.T) {
	s, _ := newStore(t)
	writeSnapshot(t, s, 1, 1, []byte("x"), 1)
	for _, id := range []string{"", "1-1-999", "../etc/passwd"} {
		if _, _, err := s.Open(id); !errors.Is(err, snapstore.ErrNotFound) {
			t.Fatalf("Open(%q): got %v, want ErrNotFound", id, err)
		}
	}
}

func TestOpenBadPaths(t *testing.T) {
	dir := t.TempDir()
	regularFile := filepath.Join(dir, "file")
	if err := os.WriteFile(regularFile, []byte("not a database, and longer than a page header or two"), 0o600); err != nil {
		t.Fatal(err)
	}
	foreignDB := filepath.Join(dir, "raft.db")
	func() {
		db, err := bolt.Open(foreignDB, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("logs"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}()
	tests := []struct {
		name    string
		path    string
		wantErr error // nil: any error
	}{
		{"a directory", dir, nil},
		{"below a regular file", filepath.Join(regularFile, "snapshots.db"), nil},
		{"not a BoltDB file", regularFile, nil},
		{"another BoltDB file", foreignDB, snapstore.ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := snapstore.Open(tt.path, testConfig(t))
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", tt.path)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open(%s): got %v, want %v", tt.path, err, tt.wantErr)
			}
			t.Log(err)
		})
	}
}

func TestOpenUnknownFormat(t *testing.T) {
	s, path := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snapstore.SetFormatVersion(path, "99"); err != nil {
		t.Fatalf("SetFormatVersion: %v", err)
	}
	if _, err := snapstore.Open(path, testConfig(t)); !errors.Is(err, snapstore.ErrUnsupportedFormat) {
		t.Fatalf("Open: got %v, want ErrUnsupportedFormat", err)
	}
}

// TestOpenForeignFileLeavesItAlone: a BoltDB file that is not a snapshot
// store (raft.db given by mistake, say) is refused without a byte of it
// changing, even when its freelist is not recorded (as raft.db's is not).
func TestOpenForeignFileLeavesItAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("logs"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snapstore.Open(path, testConfig(t)); !errors.Is(err, snapstore.ErrUnsupportedFormat) {
		t.Fatalf("Open: got %v, want ErrUnsupportedFormat", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("Open refused the file but changed it")
	}
}

func TestOpenBadPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(dir, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		t.Skip("this user ignores permission bits (root or CAP_DAC_OVERRIDE); TestOpenBadPaths covers unusable paths")
	}
	if s, err := snapstore.Open(filepath.Join(dir, "snapshots.db"), testConfig(t)); err == nil {
		s.Close()
		t.Fatalf("Open in a directory without permissions succeeded")
	}
}

func TestOpenMissingParentDirs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "snapshots.db")
	s := openStore(t, path, testConfig(t))
	writeSnapshot(t, s, 1, 1, []byte("x"), 1)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file was not created: %v", err)
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(*snapstore.Config)
	}{
		{"retain 0", func(c *snapstore.Config) { c.Retain = 0 }},
		{"chunk size 0", func(c *snapstore.Config) { c.ChunkSize = 0 }},
		{"chunk size 2 GiB", func(c *snapstore.Config) { c.ChunkSize = 2 << 30 }},
		{"negative lock timeout", func(c *snapstore.Config) { c.LockTimeout = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.change(&cfg)
			path := filepath.Join(t.TempDir(), "snapshots.db")
			if _, err := snapstore.Open(path, cfg); !errors.Is(err, snapstore.ErrInvalidConfig) {
				t.Fatalf("Open: got %v, want ErrInvalidConfig", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("an invalid config created the file: %v", err)
			}
		})
	}
}

func TestNilLoggerAndDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshots.db")
	s := openStore(t, path, snapstore.DefaultConfig())
	data := payload(3, 3<<20+5)
	id := writeSnapshot(t, s, 1, 1, data, 32<<10)
	_, got := readSnapshot(t, s, id)
	mustEqualBytes(t, "snapshot data", got, data)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Fatalf("file mode %v, want 0600", mode)
	}
}

func TestLocked(t *testing.T) {
	s, path := newStore(t)
	if other, err := snapstore.Open(path, testConfig(t)); !errors.Is(err, snapstore.ErrLocked) {
		if err == nil {
			other.Close()
		}
		t.Fatalf("second Open: got %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openStore(t, path, testConfig(t))
}

func TestClosedStore(t *testing.T) {
	s, _ := newStore(t)
	id := writeSnapshot(t, s, 1, 1, payload(1, 3*testChunkSize), 100)
	pending, err := s.Create(raft.SnapshotVersionMax, 2, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, reader, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := s.List(); !errors.Is(err, snapstore.ErrClosed) {
		t.Errorf("List: got %v, want ErrClosed", err)
	}
	if _, _, err := s.Open(id); !errors.Is(err, snapstore.ErrClosed) {
		t.Errorf("Open: got %v, want ErrClosed", err)
	}
	if _, err := s.Create(raft.SnapshotVersionMax, 3, 1, raft.Configuration{}, 0, nil); !errors.Is(err, snapstore.ErrClosed) {
		t.Errorf("Create: got %v, want ErrClosed", err)
	}
	if _, err := io.ReadAll(reader); !errors.Is(err, snapstore.ErrClosed) {
		t.Errorf("reading an open snapshot: got %v, want ErrClosed", err)
	}
	if err := reader.Close(); err != nil {
		t.Errorf("reader Close: %v", err)
	}
	if _, err := pending.Write(make([]byte, testChunkSize)); !errors.Is(err, snapstore.ErrClosed) {
		t.Errorf("Write of a full chunk: got %v, want ErrClosed", err)
	}
	if _, err := pending.Write([]byte("x")); !errors.Is(err, snapstore.ErrClosed) {
		t.Errorf("Write after a failed Write: got %v, want the same ErrClosed", err)
	}
	if err := pending.Close(); !errors.Is(err, snapstore.ErrClosed) {
		t.Errorf("sink Close: got %v, want ErrClosed", err)
	}
}

func TestReaderAfterClose(t *testing.T) {
	s, _ := newStore(t)
	id := writeSnapshot(t, s, 1, 1, []byte("data"), 100)
	_, reader, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	if err := reader.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := reader.Read(make([]byte, 10)); !errors.Is(err, snapstore.ErrReaderClosed) {
		t.Fatalf("Read after Close: got %v, want ErrReaderClosed", err)
	}
}

// TestReopenDiscardsPending checks the clean-up of a snapshot abandoned
// without Close or Cancel (the store closed under it); the crash tests do
// the same with a killed process.
func TestReopenDiscardsPending(t *testing.T) {
	s, path := newStore(t)
	complete := writeSnapshot(t, s, 1, 1, payload(1, 3*testChunkSize), 1000)
	pending, err := s.Create(raft.SnapshotVersionMax, 2, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pending.Write(payload(2, 4*testChunkSize)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := snapstore.ChunkBucketsInFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if before[pending.ID()] != 4 {
		t.Fatalf("the abandoned snapshot has %d chunks on disk, want 4", before[pending.ID()])
	}

	s = openStore(t, path, testConfig(t))
	if got := listIDs(t, s); !slices.Equal(got, []string{complete}) {
		t.Fatalf("List: got %v, want [%s]", got, complete)
	}
	if buckets := chunkBuckets(t, s); len(buckets) != 1 || buckets[complete] != 3 {
		t.Fatalf("chunks after reopening: %v, want only %s's 3", buckets, complete)
	}
	_, got := readSnapshot(t, s, complete)
	mustEqualBytes(t, "complete snapshot", got, payload(1, 3*testChunkSize))
}

// TestSpaceReused checks that the pages of reaped snapshots are reused:
// the file stays near the size of the snapshots kept (plus the one being
// written), however many were written before.
func TestSpaceReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshots.db")
	cfg := testConfig(t)
	cfg.ChunkSize = 256 << 10
	s := openStore(t, path, cfg) // Retain 2
	const size, rounds = 4 << 20, 10
	data := payload(1, size)
	fileSize := func() int64 {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	var steady int64
	for index := uint64(1); index <= rounds; index++ {
		writeSnapshot(t, s, index, 1, data, 64<<10)
		if index == 4 {
			steady = fileSize()
		}
	}
	// Three snapshots live at once (two kept, one being written), and
	// BoltDB grows the file ahead of use, by 16 MiB at a time once it is
	// that large. Without reuse it would hold all rounds*size bytes.
	got := fileSize()
	if limit := int64(3*size + 16<<20 + 1<<20); got > limit || got != steady {
		t.Fatalf("file size %d MiB after 4 snapshots of %d MiB and %d MiB after %d (limit %d MiB): reaped pages are not reused",
			steady>>20, size>>20, got>>20, rounds, limit>>20)
	}
	t.Logf("file size after %d snapshots of %d MiB: %.1f MiB", rounds, size>>20, float64(got)/(1<<20))
}

// TestFreelistRecordedBetweenSnapshots: a file left by a completed, a
// cancelled or a reaped snapshot, or by a store closed between snapshots,
// has BoltDB's freelist recorded, so opening it does not walk every page
// (seconds for a node with 1 GB snapshots). Only the chunk commits of a
// snapshot being written skip it, and a store that died mid-snapshot gets
// it back on its next Open.
func TestFreelistRecordedBetweenSnapshots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshots.db")
	recorded := func(when string, want bool) {
		t.Helper()
		got, err := snapstore.FreelistRecorded(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: freelist recorded = %v, want %v", when, got, want)
		}
	}
	s := openStore(t, path, testConfig(t)) // Retain 2
	recorded("new file", true)
	data := payload(1, 10*testChunkSize)
	for index := uint64(1); index <= 3; index++ { // the third reaps the first
		writeSnapshot(t, s, index, 1, data, testChunkSize)
		recorded(fmt.Sprintf("after snapshot %d", index), true)
	}

	sink, err := s.Create(raft.SnapshotVersionMax, 4, 1, testConfiguration(), 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatal(err)
	}
	recorded("chunks of a pending snapshot written", false)
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	recorded("pending snapshot cancelled", true)

	sink, err = s.Create(raft.SnapshotVersionMax, 5, 1, testConfiguration(), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // as if the process died here
		t.Fatal(err)
	}
	recorded("store closed mid-snapshot", false)
	s = openStore(t, path, testConfig(t))
	recorded("reopened", true)
	if got, want := listIDs(t, s), 2; len(got) != want {
		t.Fatalf("after reopening: %d snapshots listed, want %d: %v", len(got), want, got)
	}
	if got := chunkBuckets(t, s); len(got) != 2 {
		t.Fatalf("after reopening: chunks of %d snapshots remain, want 2: %v", len(got), got)
	}
}

// TestWriteMakesLittleGarbage writes snapshots of 32 chunks of the default
// 1 MiB: once the file has room (freed by reaped snapshots, as in a
// running node), what the store allocates to write one must stay a small
// fraction of its data. (Each byte written used to be a byte of garbage,
// in fresh memory, through BoltDB's buffer for a multi-page value; see
// pieceSize.)
func TestWriteMakesLittleGarbage(t *testing.T) {
	cfg := testConfig(t)
	cfg.ChunkSize = snapstore.DefaultConfig().ChunkSize
	s := openStore(t, filepath.Join(t.TempDir(), "snapshots.db"), cfg)
	data := payload(1, 32*cfg.ChunkSize)
	for i := range cfg.Retain + 1 {
		writeSnapshot(t, s, uint64(i+1), 1, data, 256<<10)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	writeSnapshot(t, s, uint64(cfg.Retain+2), 1, data, 256<<10)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB written, %d KiB allocated", len(data)>>20, allocated>>10)
	// One value per chunk allocated more than the data itself.
	limit := uint64(len(data)) / 4
	if raceEnabled {
		limit = uint64(len(data)) * 3 / 4 // BoltDB's page pool drops pages
	}
	if allocated > limit {
		t.Fatalf("writing %d MiB allocated %d KiB, want at most %d KiB", len(data)>>20, allocated>>10, limit>>10)
	}
}
