package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// This file holds a minimal MessagePack writer and reader for snapshots.
// msgpack.Encoder and msgpack.Decoder cost 15-30 ns per primitive (an
// interface call and a small read or write per value); a snapshot of a
// million chats holds a few hundred million primitives, so they were measured
// at about 30 MB/s for Persist and a quarter of the speed needed for
// Restore. The bytes are the same MessagePack: only the hot loop differs.

// maxSnapshotString bounds a string or binary value in a snapshot, so that
// a corrupt length cannot make Restore allocate without limit.
const (
	maxSnapshotString = 64 << 20
	maxSnapshotFrame  = 1 << 30
)

var errSnapshotValue = errors.New("unexpected value")

// mpWriter appends MessagePack values to a buffer that it flushes to w.
type mpWriter struct {
	w      io.Writer
	frames *frameList // when set, flushed buffers become frames instead
	buf    []byte
	err    error
}

func newMPWriter(w io.Writer) *mpWriter {
	return &mpWriter{w: w, buf: make([]byte, 0, 256<<10)}
}

// maybeFlush writes the buffer out once it is large; callers call it
// between records, so that a flush never splits a record.
func (w *mpWriter) maybeFlush() {
	if len(w.buf) >= frameSize {
		w.flush()
	}
}

func (w *mpWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	if w.frames != nil {
		// Hand the buffer over as a frame instead of copying it.
		w.frames.push(w.buf)
		w.buf = w.frames.pool.get()
		return
	}
	if w.err == nil {
		_, w.err = w.w.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

// raw writes p as it is, after what is buffered.
func (w *mpWriter) raw(p []byte) {
	w.flush()
	if w.err == nil {
		_, w.err = w.w.Write(p)
	}
}

// binHeader starts a binary value of n bytes.
func (w *mpWriter) binHeader(n int) {
	b := w.buf
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = append(b, 0xc6)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	w.buf = b
}

// frameSize is the size at which a snapshot writer cuts its output; frames
// only ever end between records.
const frameSize = 1 << 20

// frameList hands one account's frames from its encoder (push, finish) to
// the writer (take) as they are cut.
type frameList struct {
	pool    *framePool
	charge  func(n int) // counts a pushed frame against the pipeline's budget
	ready   chan struct{}
	mu      sync.Mutex
	pending [][]byte // pushed, not yet taken
	done    bool
}

func newFrameList(pool *framePool, charge func(n int)) *frameList {
	return &frameList{pool: pool, charge: charge, ready: make(chan struct{}, 1)}
}

func (l *frameList) push(f []byte) {
	l.charge(len(f))
	l.mu.Lock()
	l.pending = append(l.pending, f)
	l.mu.Unlock()
	l.signal()
}

// finish says that every frame was pushed.
func (l *frameList) finish() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
	l.signal()
}

// signal wakes a waiting taker; a wake-up already pending covers this one.
func (l *frameList) signal() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// take appends the frames pushed since the last take to dst, and says
// whether they are the last. When they are not, ready receives once more
// frames (or the end) arrive.
func (l *frameList) take(dst [][]byte) ([][]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dst = append(dst, l.pending...)
	clear(l.pending)
	l.pending = l.pending[:0]
	return dst, l.done
}

// newFrameWriter returns a writer whose flushes become frames of l.
func newFrameWriter(l *frameList) *mpWriter {
	return &mpWriter{frames: l, buf: l.pool.get()}
}

// framePool recycles frame buffers between the accounts of a Persist, so
// that encoding allocates (and the collector scans) next to nothing.
type framePool struct{ p sync.Pool }

func (fp *framePool) get() []byte {
	if b, ok := fp.p.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, frameSize+frameSize/4)
}

func (fp *framePool) put(b []byte) {
	if cap(b) <= 4*frameSize {
		fp.p.Put(&b)
	}
}

func (w *mpWriter) uint(v uint64) {
	b := w.buf
	switch {
	case v <= 0x7f:
		b = append(b, byte(v))
	case v <= math.MaxUint8:
		b = append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		b = append(b, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		b = append(b, 0xce)
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	default:
		b = append(b, 0xcf)
		b = binary.BigEndian.AppendUint64(b, v)
	}
	w.buf = b
}

func (w *mpWriter) int(v int64) {
	if v >= 0 {
		w.uint(uint64(v))
		return
	}
	b := w.buf
	switch {
	case v >= -32:
		b = append(b, byte(v))
	case v >= math.MinInt8:
		b = append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		b = append(b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		b = append(b, 0xd2)
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	default:
		b = append(b, 0xd3)
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	w.buf = b
}

func (w *mpWriter) nil() { w.buf = append(w.buf, 0xc0) }

func (w *mpWriter) bool(v bool) {
	if v {
		w.buf = append(w.buf, 0xc3)
	} else {
		w.buf = append(w.buf, 0xc2)
	}
}

func (w *mpWriter) str(s string) {
	n := len(s)
	b := w.buf
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	w.buf = append(b, s...)
}

func (w *mpWriter) bytes(v []byte) {
	n := len(v)
	b := w.buf
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = append(b, 0xc6)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	w.buf = append(b, v...)
}

func (w *mpWriter) arr(n int) {
	b := w.buf
	switch {
	case n < 16:
		b = append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xdc, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdd)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	w.buf = b
}

// mpReader reads MessagePack values from a buffered window over r. The
// first error sticks: later reads return zero values, and the caller checks
// err at record boundaries.
type mpReader struct {
	r        io.Reader
	buf      []byte
	pos, end int
	err      error
}

func newMPReader(r io.Reader) *mpReader {
	return &mpReader{r: r, buf: make([]byte, 1<<20)}
}

// resetFrame makes the reader read frame and nothing after it.
func (r *mpReader) resetFrame(frame []byte) {
	r.r, r.buf, r.pos, r.end = nil, frame, 0, len(frame)
}

// done reports whether a frame has been read to its end.
func (r *mpReader) done() bool { return r.pos == r.end }

func (r *mpReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// need makes n bytes available at buf[pos:], or fails.
func (r *mpReader) need(n int) bool {
	if r.end-r.pos >= n {
		return true
	}
	if r.err != nil {
		return false
	}
	if r.r == nil {
		r.fail(fmt.Errorf("%w: a record runs past the end of its frame", errSnapshotValue))
		return false
	}
	if n > len(r.buf) {
		nb := make([]byte, max(n, 2*len(r.buf)))
		r.end = copy(nb, r.buf[r.pos:r.end])
		r.buf, r.pos = nb, 0
	} else if r.pos > 0 {
		r.end = copy(r.buf, r.buf[r.pos:r.end])
		r.pos = 0
	}
	for r.end < n {
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			if r.end >= n {
				break
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			r.fail(err)
			return false
		}
	}
	return true
}

func (r *mpReader) byte() byte {
	if !r.need(1) {
		return 0
	}
	c := r.buf[r.pos]
	r.pos++
	return c
}

func (r *mpReader) be(n int) uint64 {
	if !r.need(n) {
		return 0
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	switch n {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

func (r *mpReader) int() int64 {
	c := r.byte()
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	}
	switch c {
	case 0xcc:
		return int64(r.be(1))
	case 0xcd:
		return int64(r.be(2))
	case 0xce:
		return int64(r.be(4))
	case 0xcf:
		v := r.be(8)
		if v > math.MaxInt64 {
			r.fail(fmt.Errorf("%w: integer overflows int64", errSnapshotValue))
			return 0
		}
		return int64(v)
	case 0xd0:
		return int64(int8(r.be(1)))
	case 0xd1:
		return int64(int16(r.be(2)))
	case 0xd2:
		return int64(int32(r.be(4)))
	case 0xd3:
		return int64(r.be(8))
	}
	r.fail(fmt.Errorf("%w: code 0x%02x where an integer belongs", errSnapshotValue, c))
	return 0
}

func (r *mpReader) uint() uint64 {
	c := r.byte()
	switch {
	case c <= 0x7f:
		return uint64(c)
	case c == 0xcc:
		return r.be(1)
	case c == 0xcd:
		return r.be(2)
	case c == 0xce:
		return r.be(4)
	case c == 0xcf:
		return r.be(8)
	}
	r.fail(fmt.Errorf("%w: code 0x%02x where an unsigned integer belongs", errSnapshotValue, c))
	return 0
}

func (r *mpReader) bool() bool {
	switch c := r.byte(); c {
	case 0xc2:
		return false
	case 0xc3:
		return true
	default:
		r.fail(fmt.Errorf("%w: code 0x%02x where a bool belongs", errSnapshotValue, c))
		return false
	}
}

// isNil consumes a nil and reports true, or leaves anything else unread.
func (r *mpReader) isNil() bool {
	if !r.need(1) {
		return false
	}
	if r.buf[r.pos] == 0xc0 {
		r.pos++
		return true
	}
	return false
}

// rawStr returns the bytes of a string, valid until the next read.
func (r *mpReader) rawStr() []byte {
	c := r.byte()
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9:
		n = int(r.be(1))
	case c == 0xda:
		n = int(r.be(2))
	case c == 0xdb:
		n = int(r.be(4))
	default:
		r.fail(fmt.Errorf("%w: code 0x%02x where a string belongs", errSnapshotValue, c))
		return nil
	}
	return r.take(n)
}

func (r *mpReader) take(n int) []byte {
	if n > maxSnapshotString {
		r.fail(fmt.Errorf("%w: value of %d bytes", errSnapshotValue, n))
		return nil
	}
	if !r.need(n) {
		return nil
	}
	b := r.buf[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b
}

func (r *mpReader) str() string { return string(r.rawStr()) }

func (r *mpReader) binLen() int {
	switch c := r.byte(); c {
	case 0xc4:
		return int(r.be(1))
	case 0xc5:
		return int(r.be(2))
	case 0xc6:
		return int(r.be(4))
	default:
		r.fail(fmt.Errorf("%w: code 0x%02x where binary belongs", errSnapshotValue, c))
		return 0
	}
}

// frame reads a binary value into a buffer from pool, without growing the
// reader's buffer to its size.
func (r *mpReader) frame(pool *framePool) []byte {
	n := r.binLen()
	if r.err != nil {
		return nil
	}
	if n > maxSnapshotFrame {
		r.fail(fmt.Errorf("%w: frame of %d bytes", errSnapshotValue, n))
		return nil
	}
	out := pool.get()
	buffered := min(n, r.end-r.pos)
	out = append(out, r.buf[r.pos:r.pos+buffered]...)
	r.pos += buffered
	if len(out) == n {
		return out
	}
	if r.r == nil {
		r.fail(fmt.Errorf("%w: a frame runs past the end of its input", errSnapshotValue))
		return nil
	}
	// The rest is read straight into the frame rather than through the
	// reader's buffer: a snapshot is mostly frames, and this saves copying
	// every byte once more. The frame grows with the bytes actually read
	// (at most doubling), so that a corrupt length on a short stream
	// costs nothing.
	for len(out) < n {
		want := min(n, max(2*len(out), len(out)+frameSize))
		out = slices.Grow(out, want-len(out))
		m, err := io.ReadFull(r.r, out[len(out):want])
		out = out[:len(out)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			r.fail(err)
			return nil
		}
	}
	return out
}

func (r *mpReader) bytes() []byte {
	n := r.binLen()
	if r.err != nil {
		return nil
	}
	b := r.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (r *mpReader) arr() int {
	c := r.byte()
	switch {
	case c&0xf0 == 0x90:
		return int(c & 0x0f)
	case c == 0xdc:
		return int(r.be(2))
	case c == 0xdd:
		return int(r.be(4))
	}
	r.fail(fmt.Errorf("%w: code 0x%02x where an array belongs", errSnapshotValue, c))
	return 0
}
