package snapstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"io"
)

// readAhead is how many verified chunks a reader's loader may hold ready
// beyond the one being consumed. Loading a chunk (a copy out of the memory
// map and its CRC) then overlaps with the consumer's work on the previous
// one: during a restore, the state machine's decoding.
const readAhead = 2

// reader streams a complete snapshot. A loader goroutine copies one chunk
// at a time out of a read transaction of its own, so that the reader never
// holds a transaction (and never blocks the file from growing) while raft
// consumes the data, verifies it, and hands it over through loads. Read is
// not safe for concurrent use.
type reader struct {
	store *Store
	rec   *record

	// loads carries the loaded chunks in order, then one chunkLoad with
	// the end of the stream: io.EOF, or the error that ended it.
	loads chan chunkLoad
	// free returns consumed buffers to the loader; it holds all of them,
	// so returning one never blocks.
	free chan []byte
	// stop tells the loader to quit; loaderDone is closed when it has.
	stop       chan struct{}
	loaderDone chan struct{}

	// chunk holds the chunk being consumed, off how much of it was read;
	// holding says that chunk is a loader buffer, to be given back.
	chunk   []byte
	off     int
	holding bool
	// end is what Read returns once the data is exhausted or a load failed.
	end    error
	closed bool
}

type chunkLoad struct {
	data []byte
	end  error
}

func newReader(s *Store, rec *record) *reader {
	r := &reader{
		store:      s,
		rec:        rec,
		loads:      make(chan chunkLoad, readAhead),
		free:       make(chan []byte, readAhead+1),
		stop:       make(chan struct{}),
		loaderDone: make(chan struct{}),
	}
	for range readAhead + 1 {
		r.free <- nil // grown to the chunk size on first use
	}
	go r.load()
	return r
}

// Read reads the snapshot's data (ErrClosed once the store is closed).
// Every byte it returns was verified: with its chunk's CRC-64 (or, for a
// snapshot without chunk CRCs, by Open's pass over the whole data). At the end it returns io.EOF if the whole
// data matches the recorded CRC-64 and size; on damage it returns
// ErrChecksumMismatch (or ErrCorrupt for a missing chunk) instead of the
// damaged chunk's bytes.
func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("snapstore: read snapshot %s: %w", r.rec.Meta.ID, ErrReaderClosed)
	}
	if r.store.closed.Load() {
		// Chunks loaded ahead are not handed out after the store closed.
		return 0, fmt.Errorf("snapstore: read snapshot %s: %w", r.rec.Meta.ID, ErrClosed)
	}
	for r.off == len(r.chunk) {
		if r.end != nil {
			return 0, r.end
		}
		if r.holding {
			r.free <- r.chunk
		}
		l := <-r.loads
		r.chunk, r.off, r.end, r.holding = l.data, 0, l.end, l.end == nil
	}
	n := copy(p, r.chunk[r.off:])
	r.off += n
	return n, nil
}

// load runs in its own goroutine: it loads and verifies the chunks in
// order and sends them, then the end of the stream, unless stopped.
func (r *reader) load() {
	defer close(r.loaderDone)
	send := func(l chunkLoad) bool {
		select {
		case r.loads <- l:
			return true
		case <-r.stop:
			return false
		}
	}
	id := r.rec.Meta.ID
	var sum uint64 // CRC-64 of the chunks so far
	var size int64
	var lastLen int
	var lastShift *crcShift
	for seq := range r.rec.Chunks {
		var buf, storedCRC []byte
		select {
		case buf = <-r.free:
		case <-r.stop:
			return
		}
		var err error
		if buf, storedCRC, err = r.store.appendChunk(buf[:0], id, seq); err != nil {
			send(chunkLoad{end: fmt.Errorf("snapstore: read snapshot %s: %w", id, err)})
			return
		}
		if r.rec.ChunkCRCs {
			crc := crc64.Update(0, r.store.crcTable, buf)
			if len(storedCRC) != 8 || binary.BigEndian.Uint64(storedCRC) != crc {
				send(chunkLoad{end: fmt.Errorf("snapstore: read snapshot %s: %w: chunk %d has CRC %016x, recorded %x",
					id, ErrChecksumMismatch, seq, crc, storedCRC)})
				return
			}
			if len(buf) != lastLen {
				lastLen, lastShift = len(buf), r.store.shiftFor(len(buf))
			}
			sum = crcCombine(sum, crc, lastShift)
		} else {
			sum = crc64.Update(sum, r.store.crcTable, buf)
		}
		size += int64(len(buf))
		if !send(chunkLoad{data: buf}) {
			return
		}
	}
	end := io.EOF
	if size != r.rec.Meta.Size || sum != r.rec.CRC {
		end = fmt.Errorf("snapstore: read snapshot %s: %w: read %d bytes with CRC %016x, recorded %d bytes with CRC %016x",
			id, ErrChecksumMismatch, size, sum, r.rec.Meta.Size, r.rec.CRC)
	}
	send(chunkLoad{end: end})
}

// Close ends the reader and waits for its loader to stop. If the snapshot
// fell beyond Config.Retain while it was read and this was its last
// reader, Close deletes it and returns any error from that. Close again
// returns nil.
func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	close(r.stop)
	<-r.loaderDone
	r.chunk = nil
	return r.store.release(r.rec.Meta.ID)
}
