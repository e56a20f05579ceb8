package snapstore

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// Store is a raft.SnapshotStore kept in one BoltDB file. Its methods are
// safe for concurrent use; the sinks and readers it returns are each meant
// for one goroutine, as raft uses them.
type Store struct {
	db       *bolt.DB
	cfg      Config
	log      *slog.Logger
	crcTable *crc64.Table
	// chunkShift is shiftBy(Config.ChunkSize), for folding the CRC of a
	// full chunk into the CRC of the data before it.
	chunkShift crcShift
	// pieceSize is the size of the pieces chunk data is stored in, from
	// the file's page size.
	pieceSize int
	closed    atomic.Bool

	// mu guards readers and deferred. reap holds it across its whole
	// transaction, so that Open either registers its reader before reap
	// decides (and reap spares the snapshot) or looks the snapshot up after
	// reap committed (and finds it gone): never a reader of chunks being
	// deleted.
	mu sync.Mutex
	// readers counts the open readers of each snapshot id.
	readers map[string]int
	// deferred holds ids beyond Retain that reap spared for their readers;
	// the last reader's Close reaps them.
	deferred map[string]bool
}

var _ raft.SnapshotStore = (*Store)(nil)

// Open opens the snapshot store in the BoltDB file at path, creating the
// file and its directory if they do not exist. It deletes what a crash left
// behind (chunks of snapshots whose final transaction never committed) and
// the snapshots beyond cfg.Retain. The Store holds an exclusive lock on the
// file until Close; a second Open of the same file fails with ErrLocked
// after cfg.LockTimeout.
func Open(path string, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mode := cfg.FileMode
	if mode == 0 {
		mode = 0o600
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("snapstore: create the directory of %s: %w", path, err)
	}
	// Each write transaction says for itself whether it records the
	// freelist (see write). NoFreelistSync here keeps BoltDB from
	// committing on Open, before initFormat has checked that the file is
	// a snapshot store. A file whose last commit left no freelist (its
	// writer died mid-snapshot) is walked on Open, and recover's cleanup
	// of that snapshot records the freelist again.
	db, err := bolt.Open(path, mode, &bolt.Options{
		Timeout:        cfg.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		PageSize:       snapshotPageSize, // for a new file only
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("snapstore: %w: %s still locked after %v", ErrLocked, path, cfg.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("snapstore: open %s: %w", path, err)
	}
	s := &Store{
		db:         db,
		cfg:        cfg,
		log:        logger,
		crcTable:   crc64.MakeTable(crc64.ECMA),
		chunkShift: shiftBy(int64(cfg.ChunkSize)),
		pieceSize:  pieceSize(db.Info().PageSize),
		readers:    make(map[string]int),
		deferred:   make(map[string]bool),
	}
	if err := s.initFormat(); err != nil {
		db.Close()
		return nil, fmt.Errorf("snapstore: open %s: %w", path, err)
	}
	if err := s.recover(); err != nil {
		db.Close()
		return nil, fmt.Errorf("snapstore: open %s: %w", path, err)
	}
	return s, nil
}

// Close releases the file. Pending sinks and open readers fail with
// ErrClosed from then on; a pending snapshot is discarded by the next Open.
// Calling Close again returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("snapstore: close: %w", err)
	}
	return nil
}

// Create begins a snapshot at the given index and term with the given
// committed configuration. Only version 1 is supported. The snapshot is
// invisible to List and Open until the returned sink's Close succeeds.
func (s *Store) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("snapstore: create snapshot: %w: %d (only 1 is written)", ErrUnsupportedVersion, version)
	}
	peers, err := encodePeers(configuration, trans)
	if err != nil {
		return nil, fmt.Errorf("snapstore: create snapshot: %w", err)
	}
	var id string
	var seq uint64
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		if seq, err = tx.Bucket(bucketSnapshots).NextSequence(); err != nil {
			return err
		}
		id = snapshotID(term, index, seq)
		_, err = tx.Bucket(bucketChunks).CreateBucket([]byte(id))
		return err
	})
	if err != nil {
		s.log.Error("cannot create snapshot", "index", index, "term", term, "error", err)
		return nil, fmt.Errorf("snapstore: create snapshot: %w", err)
	}
	s.log.Info("creating snapshot", "id", id)
	return &sink{
		store: s,
		rec: record{
			Meta: raft.SnapshotMeta{
				Version:            version,
				ID:                 id,
				Index:              index,
				Term:               term,
				Peers:              peers,
				Configuration:      configuration.Clone(),
				ConfigurationIndex: configurationIndex,
			},
			Seq:       seq,
			ChunkCRCs: true,
		},
		buf: make([]byte, 0, s.cfg.ChunkSize),
	}, nil
}

// List returns the complete snapshots, newest first (highest term, then
// highest index), at most Config.Retain of them. Snapshots of a version raft
// cannot read, and metadata that does not decode, are skipped with a
// warning, as raft.FileSnapshotStore does.
func (s *Store) List() ([]*raft.SnapshotMeta, error) {
	var recs []*record
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		recs, err = s.complete(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("snapstore: list snapshots: %w", err)
	}
	recs = recs[:min(len(recs), s.cfg.Retain)]
	metas := make([]*raft.SnapshotMeta, len(recs))
	for i, rec := range recs {
		metas[i] = &rec.Meta
	}
	return metas, nil
}

// Open returns a complete snapshot's metadata and a reader of its data.
// It checks that every chunk is present (ErrCorrupt if not) and that their
// sizes add up to the recorded size; the reader then verifies each chunk
// against its own CRC-64 before it hands out any of its bytes, and the
// CRC-64 of the whole data when it reaches the end (ErrChecksumMismatch).
// So a consumer never sees a damaged byte, and a restore that consumes the
// reader to its end fails on damage instead of loading wrong state, without
// a pass over the data of its own before it starts. A snapshot written
// before chunks carried CRCs is verified whole here first, as
// hashicorp/raft's FileSnapshotStore does. The reader loads chunks ahead of
// the consumer in a goroutine of its own. The snapshot stays readable until
// the reader is closed, even if newer snapshots push it beyond
// Config.Retain meanwhile. An unknown id gives ErrNotFound.
func (s *Store) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.acquire(id)
	rec, err := s.check(id)
	if err != nil {
		if releaseErr := s.release(id); releaseErr != nil {
			s.log.Error("cannot release snapshot", "id", id, "error", releaseErr)
		}
		if !errors.Is(err, ErrNotFound) {
			s.log.Error("cannot open snapshot", "id", id, "error", err)
		}
		return nil, nil, fmt.Errorf("snapstore: open snapshot %s: %w", id, err)
	}
	meta := rec.Meta
	return &meta, newReader(s, rec), nil
}

// initFormat creates the buckets of a new file, and refuses a file written
// in another format or by something else.
func (s *Store) initFormat() error {
	var fresh, upgrade bool
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketStore); b != nil {
			v := b.Get(keyFormat)
			if !slices.ContainsFunc(readableFormats, func(f []byte) bool { return bytes.Equal(v, f) }) {
				return fmt.Errorf("%w: format %q, this build reads %q", ErrUnsupportedFormat, v, readableFormats)
			}
			upgrade = !bytes.Equal(v, formatVersion)
			for _, name := range [][]byte{bucketSnapshots, bucketChunks} {
				if tx.Bucket(name) == nil {
					return fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, name)
				}
			}
			return nil
		}
		// A new file has no buckets; any bucket here belongs to something
		// else (raft.db, say), and we must not write into it.
		fresh = true
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			return fmt.Errorf("%w: not a snapshot store (has bucket %q)", ErrUnsupportedFormat, name)
		})
	})
	if err != nil || !fresh && !upgrade {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		if upgrade {
			return tx.Bucket(bucketStore).Put(keyFormat, formatVersion)
		}
		b, err := tx.CreateBucket(bucketStore)
		if err != nil {
			return err
		}
		if err := b.Put(keyFormat, formatVersion); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketSnapshots, bucketChunks} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// recover deletes the chunk buckets that have no metadata record: snapshots
// whose writer died (or whose store was closed) before Close committed. It
// then reaps, in case the process died between a Close's commit and its
// reap. A healthy file is only read.
func (s *Store) recover() error {
	type orphan struct {
		id     string
		chunks int
	}
	var orphans []orphan
	findOrphans := func(tx *bolt.Tx) error {
		orphans = orphans[:0]
		metas, chunks := tx.Bucket(bucketSnapshots), tx.Bucket(bucketChunks)
		return chunks.ForEach(func(id, value []byte) error {
			if value == nil && metas.Get(id) == nil {
				orphans = append(orphans, orphan{id: string(id), chunks: chunks.Bucket(id).Stats().BucketN - 1})
			}
			return nil
		})
	}
	err := s.view(findOrphans)
	if err == nil && len(orphans) > 0 {
		err = s.update(func(tx *bolt.Tx) error {
			if err := findOrphans(tx); err != nil {
				return err
			}
			for _, o := range orphans {
				if err := tx.Bucket(bucketChunks).DeleteBucket([]byte(o.id)); err != nil {
					return fmt.Errorf("delete chunks of incomplete snapshot %s: %w", o.id, err)
				}
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	for _, o := range orphans {
		s.log.Warn("discarded incomplete snapshot", "id", o.id, "chunks", o.chunks)
	}
	return s.reap()
}

// complete returns the records of the complete snapshots of versions raft
// can read, newest first.
func (s *Store) complete(tx *bolt.Tx) ([]*record, error) {
	var recs []*record
	err := tx.Bucket(bucketSnapshots).ForEach(func(id, value []byte) error {
		rec, err := decodeRecord(id, value)
		if err != nil {
			s.log.Warn("skipping snapshot", "id", string(id), "error", err)
			return nil
		}
		if !supportedVersion(rec.Meta.Version) {
			s.log.Warn("skipping snapshot of unsupported version", "id", string(id), "version", rec.Meta.Version)
			return nil
		}
		recs = append(recs, rec)
		return nil
	})
	newestFirst(recs)
	return recs, err
}

// check reads snapshot id's record and checks its chunks against it: their
// presence and sizes when each chunk carries its own CRC (the reader
// verifies the data), every byte otherwise.
func (s *Store) check(id string) (*record, error) {
	var rec *record
	err := s.view(func(tx *bolt.Tx) error {
		value := tx.Bucket(bucketSnapshots).Get([]byte(id))
		if value == nil {
			return ErrNotFound
		}
		var err error
		if rec, err = decodeRecord([]byte(id), value); err != nil || !rec.ChunkCRCs {
			return err
		}
		return checkChunks(tx, rec)
	})
	if err != nil || rec.ChunkCRCs {
		return rec, err
	}
	return rec, s.verifyData(rec)
}

// checkChunks checks that every chunk of rec is present with its CRC and
// that their sizes add up to the snapshot's. It reads only the chunks'
// bucket pages, not their data.
func checkChunks(tx *bolt.Tx, rec *record) error {
	id := rec.Meta.ID
	b := tx.Bucket(bucketChunks).Bucket([]byte(id))
	if b == nil {
		return fmt.Errorf("%w: the chunks of snapshot %s are missing", ErrCorrupt, id)
	}
	var size int64
	for seq := range rec.Chunks {
		child := b.Bucket(chunkKey(seq))
		if child == nil {
			return fmt.Errorf("%w: chunk %d of snapshot %s is missing", ErrCorrupt, seq, id)
		}
		n, ok := chunkSize(child)
		if !ok || len(child.Get(keyChunkCRC)) != 8 {
			return fmt.Errorf("%w: chunk %d of snapshot %s has no data or no CRC", ErrCorrupt, seq, id)
		}
		size += n
	}
	if size != rec.Meta.Size {
		return fmt.Errorf("%w: the chunks hold %d bytes, recorded %d", ErrChecksumMismatch, size, rec.Meta.Size)
	}
	return nil
}

// verifyData reads every chunk of rec and checks the CRC-64 and size of the
// whole data: for snapshots whose chunks carry no CRC of their own.
func (s *Store) verifyData(rec *record) error {
	crc := crc64.New(s.crcTable)
	var size int64
	var chunk []byte
	for seq := range rec.Chunks {
		var err error
		if chunk, _, err = s.appendChunk(chunk[:0], rec.Meta.ID, seq); err != nil {
			return err
		}
		crc.Write(chunk)
		size += int64(len(chunk))
	}
	if size != rec.Meta.Size || crc.Sum64() != rec.CRC {
		return fmt.Errorf("%w: read %d bytes with CRC %016x, recorded %d bytes with CRC %016x",
			ErrChecksumMismatch, size, crc.Sum64(), rec.Meta.Size, rec.CRC)
	}
	return nil
}

// appendChunk appends the data of chunk seq of snapshot id to dst and
// returns it with the chunk's CRC (nil when it has none), read in a
// transaction of its own.
func (s *Store) appendChunk(dst []byte, id string, seq uint64) (data []byte, crc []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks).Bucket([]byte(id))
		if b == nil {
			return fmt.Errorf("%w: the chunks of snapshot %s are missing", ErrCorrupt, id)
		}
		child := b.Bucket(chunkKey(seq))
		if child == nil {
			return fmt.Errorf("%w: chunk %d of snapshot %s is missing", ErrCorrupt, seq, id)
		}
		var err error
		if data, err = appendChunkData(dst, child); err != nil {
			return fmt.Errorf("%w: chunk %d of snapshot %s: %v", ErrCorrupt, seq, id, err)
		}
		if v := child.Get(keyChunkCRC); v != nil {
			crc = slices.Clone(v)
		}
		return nil
	})
	return data, crc, err
}

// shiftFor returns shiftBy(n), precomputed for full chunks.
func (s *Store) shiftFor(n int) *crcShift {
	if n == s.cfg.ChunkSize {
		return &s.chunkShift
	}
	shift := shiftBy(int64(n))
	return &shift
}

// discard deletes a snapshot that will not complete: its chunks, and its
// record in case a failed final commit wrote it anyway.
func (s *Store) discard(id string) error {
	err := s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSnapshots).Delete([]byte(id)); err != nil {
			return err
		}
		err := tx.Bucket(bucketChunks).DeleteBucket([]byte(id))
		if errors.Is(err, bolt.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("snapstore: discard snapshot %s: %w", id, err)
	}
	return nil
}

// reap deletes the complete snapshots beyond the newest Config.Retain,
// except those with open readers: it marks them deferred, and their last
// reader's Close reaps them.
func (s *Store) reap() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Look in a read transaction first, and start a write transaction only
	// when there is something to delete: committing an empty one costs two
	// fdatasyncs, and rolling one back while a snapshot is being written
	// (no freelist recorded) makes BoltDB walk the whole file to rebuild
	// its freelist.
	var doomed, spared []string
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		doomed, spared, err = s.reapable(tx)
		return err
	})
	if err == nil && len(doomed) > 0 {
		err = s.update(func(tx *bolt.Tx) error {
			var err error
			if doomed, spared, err = s.reapable(tx); err != nil {
				return err
			}
			for _, id := range doomed {
				if err := tx.Bucket(bucketSnapshots).Delete([]byte(id)); err != nil {
					return err
				}
				err := tx.Bucket(bucketChunks).DeleteBucket([]byte(id))
				if err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("snapstore: reap snapshots: %w", err)
	}
	for _, id := range spared {
		if !s.deferred[id] {
			s.log.Info("keeping snapshot beyond retention until its readers close", "id", id)
		}
		s.deferred[id] = true
	}
	for _, id := range doomed {
		delete(s.deferred, id)
		s.log.Info("reaped snapshot", "id", id)
	}
	return nil
}

// reapable splits the complete snapshots beyond Config.Retain into those
// to delete now and those spared for their open readers. The caller holds
// mu.
func (s *Store) reapable(tx *bolt.Tx) (doomed, spared []string, err error) {
	recs, err := s.complete(tx)
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range recs[min(len(recs), s.cfg.Retain):] {
		if s.readers[rec.Meta.ID] > 0 {
			spared = append(spared, rec.Meta.ID)
		} else {
			doomed = append(doomed, rec.Meta.ID)
		}
	}
	return doomed, spared, nil
}

// acquire registers a reader of snapshot id, which reap then spares.
func (s *Store) acquire(id string) {
	s.mu.Lock()
	s.readers[id]++
	s.mu.Unlock()
}

// release ends a reader of snapshot id. The last reader of a snapshot that
// reap spared reaps it.
func (s *Store) release(id string) error {
	s.mu.Lock()
	s.readers[id]--
	last := s.readers[id] == 0
	if last {
		delete(s.readers, id)
	}
	due := last && s.deferred[id]
	s.mu.Unlock()
	if !due || s.closed.Load() {
		return nil
	}
	return s.reap()
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return closedAsErrClosed(s.db.View(fn))
}

// update runs fn in a write transaction that records BoltDB's freelist.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return s.write(true, fn)
}

// write runs fn in a write transaction. With recordFreelist, the commit
// also writes BoltDB's freelist (the ids of every free page, up to half a
// megabyte after a 1 GB snapshot is reaped); without it, the commit marks
// the file as having none, and the next Open rebuilds it by walking every
// page of the file. That walk costs seconds of a restart for a node with
// two 1 GB snapshots, so every commit records the freelist except the
// chunks of a snapshot before its last: those are most of the commits, and
// the snapshot's final commit records it. Only a file whose writer died
// mid-snapshot is walked.
func (s *Store) write(recordFreelist bool, fn func(*bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return closedAsErrClosed(s.db.Update(func(tx *bolt.Tx) error {
		// BoltDB reads the field only in Commit, under the writer lock
		// that fn holds too, so setting it here is safe.
		s.db.NoFreelistSync = !recordFreelist
		return fn(tx)
	}))
}

// closedAsErrClosed reports a transaction that lost the race with Close as
// ErrClosed.
func closedAsErrClosed(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
