package snapstore

import (
	"fmt"
	"hash"
	"io"
)

// reader streams a complete snapshot, copying one chunk at a time out of a
// read transaction of its own, so that it never holds a transaction (and
// never blocks the file from growing) while raft consumes the data. It is
// not safe for concurrent use.
type reader struct {
	store *Store
	rec   *record
	// next is the sequence number of the next chunk to load.
	next uint64
	// chunk holds the current chunk, off how much of it was read.
	chunk []byte
	off   int
	// crc and size cover the chunks loaded so far, for the check at the end.
	crc  hash.Hash64
	size int64
	// end is what Read returns once the data is exhausted or a load failed:
	// io.EOF, or the error.
	end    error
	closed bool
}

// Read reads the snapshot's data. At the end it returns io.EOF if the data
// read matches the recorded CRC-64 and size, ErrChecksumMismatch if not.
func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("snapstore: read snapshot %s: %w", r.rec.Meta.ID, ErrReaderClosed)
	}
	for r.off == len(r.chunk) {
		if r.end != nil {
			return 0, r.end
		}
		r.end = r.load()
	}
	n := copy(p, r.chunk[r.off:])
	r.off += n
	return n, nil
}

// load fetches the next chunk, or returns the end of the stream.
func (r *reader) load() error {
	id := r.rec.Meta.ID
	if r.next == r.rec.Chunks {
		r.chunk, r.off = nil, 0
		if r.size != r.rec.Meta.Size || r.crc.Sum64() != r.rec.CRC {
			return fmt.Errorf("snapstore: read snapshot %s: %w: the data changed after it was opened: read %d bytes with CRC %016x, recorded %d bytes with CRC %016x",
				id, ErrChecksumMismatch, r.size, r.crc.Sum64(), r.rec.Meta.Size, r.rec.CRC)
		}
		return io.EOF
	}
	err := r.store.readChunk(id, r.next, func(chunk []byte) {
		r.chunk = append(r.chunk[:0], chunk...)
	})
	if err != nil {
		r.chunk, r.off = nil, 0
		return fmt.Errorf("snapstore: read snapshot %s: %w", id, err)
	}
	r.off = 0
	r.next++
	r.crc.Write(r.chunk)
	r.size += int64(len(r.chunk))
	return nil
}

// Close ends the reader. If the snapshot fell beyond Config.Retain while it
// was read and this was its last reader, Close deletes it and returns any
// error from that. Close again returns nil.
func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.chunk = nil
	return r.store.release(r.rec.Meta.ID)
}
