package snapstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// This file gives the external tests a view of the file's layout, for what
// the public API cannot show: which chunks exist, and damage to them.

// ChunkBuckets returns, for every snapshot (pending or complete) that has
// chunks in the store, how many.
func ChunkBuckets(s *Store) (map[string]int, error) {
	out := make(map[string]int)
	err := s.db.View(func(tx *bolt.Tx) error { return countChunks(tx, out) })
	return out, err
}

// ChunkBucketsInFile is ChunkBuckets on the file of a closed store, read
// as it is: without the clean-up that Open does.
func ChunkBucketsInFile(path string) (map[string]int, error) {
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	out := make(map[string]int)
	err = db.View(func(tx *bolt.Tx) error { return countChunks(tx, out) })
	return out, err
}

func countChunks(tx *bolt.Tx, out map[string]int) error {
	chunks := tx.Bucket(bucketChunks)
	return chunks.ForEach(func(id, _ []byte) error {
		n := 0
		err := chunks.Bucket(id).ForEach(func(_, _ []byte) error { n++; return nil })
		out[string(id)] = n
		return err
	})
}

// OverwriteChunk replaces the data of chunk seq of snapshot id, in the
// current layout, keeping its CRC.
func OverwriteChunk(s *Store, id string, seq uint64, data []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks).Bucket([]byte(id))
		crc := slices.Clone(chunks.Bucket(chunkKey(seq)).Get(keyChunkCRC))
		if err := chunks.DeleteBucket(chunkKey(seq)); err != nil {
			return err
		}
		child, err := chunks.CreateBucket(chunkKey(seq))
		if err != nil {
			return err
		}
		if err := putChunkData(child, data, s.pieceSize); err != nil {
			return err
		}
		return child.Put(keyChunkCRC, crc)
	})
}

// SetChunkSize rewrites the recorded data length of chunk seq of
// snapshot id.
func SetChunkSize(s *Store, id string, seq uint64, n uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).Bucket([]byte(id)).Bucket(chunkKey(seq)).Put(keyChunkSize, binary.BigEndian.AppendUint64(nil, n))
	})
}

// DeletePiece deletes piece i of chunk seq of snapshot id.
func DeletePiece(s *Store, id string, seq uint64, i int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).Bucket([]byte(id)).Bucket(chunkKey(seq)).Delete(pieceKey(i))
	})
}

// RewriteAsFormat1 turns the file of a closed store into what format 1
// wrote: every chunk's data as one value, and format "1".
func RewriteAsFormat1(path string) error {
	db, err := bolt.Open(path, 0, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		err := chunks.ForEach(func(id, _ []byte) error {
			snap := chunks.Bucket(id)
			return snap.ForEach(func(seq, _ []byte) error {
				child := snap.Bucket(seq)
				data, err := appendChunkData(nil, child)
				if err != nil {
					return err
				}
				var keys [][]byte
				if err := child.ForEach(func(k, _ []byte) error {
					if !bytes.Equal(k, keyChunkCRC) {
						keys = append(keys, slices.Clone(k))
					}
					return nil
				}); err != nil {
					return err
				}
				for _, k := range keys {
					if err := child.Delete(k); err != nil {
						return err
					}
				}
				return child.Put(keyChunkData, data)
			})
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketStore).Put(keyFormat, []byte("1"))
	})
}

// FormatVersion returns the format version in the file of a closed store.
func FormatVersion(path string) (string, error) {
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketStore).Get(keyFormat))
		return nil
	})
	return v, err
}

// DeleteChunk deletes chunk seq of snapshot id.
func DeleteChunk(s *Store, id string, seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).Bucket([]byte(id)).DeleteBucket(chunkKey(seq))
	})
}

// SetRecordVersion rewrites the raft snapshot version in snapshot id's
// metadata.
func SetRecordVersion(s *Store, id string, version raft.SnapshotVersion) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		rec, err := decodeRecord([]byte(id), b.Get([]byte(id)))
		if err != nil {
			return err
		}
		rec.Meta.Version = version
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), data)
	})
}

// SetFormatVersion rewrites the format version in the file of a closed
// store.
func SetFormatVersion(path, version string) error {
	db, err := bolt.Open(path, 0, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStore).Put(keyFormat, []byte(version))
	})
}

// DeleteChunkCRC deletes the CRC of chunk seq of snapshot id.
func DeleteChunkCRC(s *Store, id string, seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).Bucket([]byte(id)).Bucket(chunkKey(seq)).Delete(keyChunkCRC)
	})
}

// DropChunkCRCs makes snapshot id look as stores wrote snapshots before
// chunks carried CRCs: no CRC in its chunks, none announced in its record.
func DropChunkCRCs(s *Store, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		rec, err := decodeRecord([]byte(id), b.Get([]byte(id)))
		if err != nil {
			return err
		}
		for seq := range rec.Chunks {
			if err := tx.Bucket(bucketChunks).Bucket([]byte(id)).Bucket(chunkKey(seq)).Delete(keyChunkCRC); err != nil {
				return err
			}
		}
		rec.ChunkCRCs = false
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), data)
	})
}

// RecordedCRC returns the CRC-64 recorded for snapshot id's whole data.
func RecordedCRC(s *Store, id string) (uint64, error) {
	var crc uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := decodeRecord([]byte(id), tx.Bucket(bucketSnapshots).Get([]byte(id)))
		if err == nil {
			crc = rec.CRC
		}
		return err
	})
	return crc, err
}

// FreelistRecorded reports whether the newest commit in the file at path
// recorded BoltDB's freelist, so that opening the file reads it instead of
// walking every page. It reads the two meta pages of BoltDB's file format:
// after a 16-byte page header, the meta holds magic, version, page size
// and flags (4 bytes each), the root bucket (16), then the freelist's page
// id, the high-water page id and the transaction id (8 bytes each).
func FreelistRecorded(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	const (
		offPageSize = 16 + 8
		offFreelist = 16 + 32
		offTxID     = 16 + 48
		noFreelist  = ^uint64(0)
	)
	head := make([]byte, offTxID+8)
	if _, err := f.ReadAt(head, 0); err != nil {
		return false, err
	}
	pageSize := int64(binary.LittleEndian.Uint32(head[offPageSize:]))
	var newestTx, freelist uint64
	for i := range int64(2) {
		meta := make([]byte, offTxID+8)
		if _, err := f.ReadAt(meta, i*pageSize); err != nil {
			return false, err
		}
		if tx := binary.LittleEndian.Uint64(meta[offTxID:]); i == 0 || tx > newestTx {
			newestTx, freelist = tx, binary.LittleEndian.Uint64(meta[offFreelist:])
		}
	}
	return freelist != noFreelist, nil
}
