package snapstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc64"

	bolt "go.etcd.io/bbolt"
)

// sink is a pending snapshot: the raft.SnapshotSink that Create returns.
// raft drives it from one goroutine; it is not safe for concurrent use.
type sink struct {
	store *Store
	// rec is the record Close will commit; Meta.Size and Chunks count what
	// is already committed.
	rec record
	// buf collects the next chunk; its capacity is Config.ChunkSize.
	buf []byte
	// err is the first failure; the sink refuses every later Write.
	err    error
	closed bool
}

// ID returns the snapshot's id, which Open accepts once Close succeeded.
func (k *sink) ID() string {
	return k.rec.Meta.ID
}

// Write buffers p and commits each full chunk in a write transaction of
// its own. After a failure every later Write returns the same error, and
// raft is expected to Cancel.
func (k *sink) Write(p []byte) (int, error) {
	if k.closed {
		return 0, fmt.Errorf("snapstore: write snapshot %s: %w", k.ID(), ErrSinkClosed)
	}
	if k.err != nil {
		return 0, k.err
	}
	written := 0
	for len(p) > 0 {
		n := copy(k.buf[len(k.buf):cap(k.buf)], p)
		k.buf = k.buf[:len(k.buf)+n]
		p = p[n:]
		if len(k.buf) == cap(k.buf) {
			if err := k.commit(false); err != nil {
				k.err = err
				return written, err
			}
		}
		written += n
	}
	return written, nil
}

// Close commits the buffered rest of the data together with the metadata
// record, in one transaction: when it commits, the snapshot is complete and
// visible. Then it reaps the snapshots beyond Config.Retain and returns any
// error from that. If the snapshot cannot be completed, its chunks are
// deleted and the error returned. Close after Close or Cancel returns nil.
func (k *sink) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	err := k.err
	if err == nil {
		err = k.commit(true)
	}
	k.buf = nil
	if err != nil {
		k.store.log.Error("cannot complete snapshot", "id", k.ID(), "error", err)
		if discardErr := k.store.discard(k.ID()); discardErr != nil {
			// The next Open deletes the chunks.
			k.store.log.Error("cannot discard incomplete snapshot", "id", k.ID(), "error", discardErr)
		}
		return err
	}
	k.store.log.Info("snapshot complete", "id", k.ID(), "bytes", k.rec.Meta.Size, "chunks", k.rec.Chunks)
	return k.store.reap()
}

// Cancel discards the pending snapshot and its chunks. Cancel after Close or
// Cancel returns nil.
func (k *sink) Cancel() error {
	if k.closed {
		return nil
	}
	k.closed = true
	k.buf = nil
	if err := k.store.discard(k.ID()); err != nil {
		k.store.log.Error("cannot discard cancelled snapshot", "id", k.ID(), "error", err)
		return err
	}
	k.store.log.Info("snapshot cancelled", "id", k.ID())
	return nil
}

// commit stores the buffered bytes as the next chunk. With final set, the
// same transaction records the metadata, which completes the snapshot.
func (k *sink) commit(final bool) error {
	chunk := k.buf
	next := k.rec // what rec becomes once the transaction commits
	var chunkCRC []byte
	if len(chunk) > 0 {
		// One pass over the bytes: the chunk's own CRC, folded into the
		// CRC of the whole data.
		crc := crc64.Update(0, k.store.crcTable, chunk)
		chunkCRC = binary.BigEndian.AppendUint64(nil, crc)
		next.CRC = crcCombine(next.CRC, crc, k.store.shiftFor(len(chunk)))
		next.Chunks++
		next.Meta.Size += int64(len(chunk))
	}
	var encoded []byte
	if final {
		var err error
		if encoded, err = encodeRecord(&next); err != nil {
			return fmt.Errorf("snapstore: encode metadata of snapshot %s: %w", k.ID(), err)
		}
	}
	id := []byte(k.ID())
	err := k.store.write(final, func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks).Bucket(id)
		if chunks == nil {
			return fmt.Errorf("%w: the bucket of pending snapshot %s is missing", ErrCorrupt, id)
		}
		if len(chunk) > 0 {
			// A bucket of its own per chunk: see keyChunkData.
			child, err := chunks.CreateBucket(chunkKey(k.rec.Chunks))
			if err != nil {
				return err
			}
			if err := putChunkData(child, chunk, k.store.pieceSize); err != nil {
				return err
			}
			if err := child.Put(keyChunkCRC, chunkCRC); err != nil {
				return err
			}
		}
		if final {
			return tx.Bucket(bucketSnapshots).Put(id, encoded)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapstore: write snapshot %s: %w", id, err)
	}
	k.rec = next
	k.buf = k.buf[:0]
	return nil
}
