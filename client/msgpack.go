package client

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// msgpackReader decodes the API's MessagePack answers straight from the
// body, without reflection: the list endpoints return pages of 50 chats,
// and decoding them through msgpack's reflection cost a benchmark client
// more CPU than the requests themselves.
//
// The first error sticks: later reads return zero values and the decoders
// check err once at the end. Every length is checked against the bytes
// left before anything is allocated for it, so a hostile or truncated body
// fails instead of allocating what its headers claim.
//
// Allocation. The reader reads the body in place and copies only the
// string values out of it, into shared chunks (see textOf); the API's
// enumerations (status, source, types) become the package's constants
// without a copy. The targets of optional fields (*string, *time.Time,
// *Message) and participant lists also come from chunks shared by the
// records of one answer. A page therefore costs a handful of allocations
// instead of several per chat, and a string or pointer kept from it keeps
// its chunk (a few kilobytes) alive.
type msgpackReader struct {
	rest []byte // the body not yet read
	size int    // the body's length, for the offsets in errors
	err  error

	// hint is the number of records the array being decoded holds; it
	// sizes the chunks below.
	hint     int
	strs     []string
	times    []time.Time
	messages []Message
	// text holds the string values copied out of the body; see textOf.
	text strings.Builder

	// The date of the last time parsed and its day number: the times of
	// one page mostly fall on a few days.
	lastDate [10]byte
	lastDay  int64
}

// maxSkipDepth bounds the nesting of unknown values skipped, so that a
// body of nested arrays cannot exhaust the stack.
const maxSkipDepth = 64

func newMsgpackReader(body []byte) *msgpackReader {
	return &msgpackReader{rest: body, size: len(body), hint: 1}
}

// pos is the offset of the next byte in the body.
func (r *msgpackReader) pos() int { return r.size - len(r.rest) }

// fail records the first error, at the current offset, and stops the
// reading: nothing is left to read after it.
func (r *msgpackReader) fail(format string, args ...any) { r.failAt(r.pos(), format, args...) }

func (r *msgpackReader) failAt(pos int, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("msgpack: at byte %d: "+format, append([]any{pos}, args...)...)
	}
	r.rest = nil
}

// finish returns the first error, or an error when bytes follow the value.
func (r *msgpackReader) finish() error {
	if r.err == nil && len(r.rest) != 0 {
		return fmt.Errorf("msgpack: %d trailing bytes after the body", len(r.rest))
	}
	return r.err
}

func (r *msgpackReader) byte() byte {
	if len(r.rest) == 0 {
		return r.eof()
	}
	c := r.rest[0]
	r.rest = r.rest[1:]
	return c
}

// eof fails at the end of the body; it returns a code that is never used,
// which every caller treats as a wrong type.
//
//go:noinline
func (r *msgpackReader) eof() byte {
	r.fail("unexpected end of the body")
	return 0xc1
}

// peekNil consumes a nil and reports true, or consumes nothing.
func (r *msgpackReader) peekNil() bool {
	if len(r.rest) != 0 && r.rest[0] == 0xc0 {
		r.rest = r.rest[1:]
		return true
	}
	return false
}

// take returns the next n bytes.
func (r *msgpackReader) take(n int) []byte {
	if uint(n) > uint(len(r.rest)) {
		return r.short(n)
	}
	b := r.rest[:n:n]
	r.rest = r.rest[n:]
	return b
}

//go:noinline
func (r *msgpackReader) short(n int) []byte {
	r.fail("%d bytes declared, %d left", n, len(r.rest))
	return nil
}

// be reads an n-byte big-endian unsigned integer (n is 1, 2, 4 or 8).
func (r *msgpackReader) be(n int) uint64 {
	b := r.take(n)
	if len(b) != n {
		return 0
	}
	var v uint64
	for i := range n {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// length reads a map's or array's declared length and checks that the
// body can hold it (each element takes at least perElement bytes).
func (r *msgpackReader) length(n uint64, perElement int) int {
	if n > uint64(len(r.rest)/perElement) {
		r.fail("%d elements declared, %d bytes left", n, len(r.rest))
		return 0
	}
	return int(n)
}

// mapLen reads a map header; nil is an empty map.
func (r *msgpackReader) mapLen() int {
	if len(r.rest) != 0 {
		if c := r.rest[0]; c&0xf0 == 0x80 && int(c&0x0f)*2 < len(r.rest) {
			r.rest = r.rest[1:]
			return int(c & 0x0f)
		}
	}
	return r.mapLenSlow()
}

func (r *msgpackReader) mapLenSlow() int {
	c := r.byte()
	switch {
	case c&0xf0 == 0x80:
		return r.length(uint64(c&0x0f), 2)
	case c == 0xde:
		return r.length(r.be(2), 2)
	case c == 0xdf:
		return r.length(r.be(4), 2)
	case c == 0xc0:
		return 0
	}
	r.wrongType(c, "a map")
	return 0
}

// arrayLen reads an array header; nil is -1.
func (r *msgpackReader) arrayLen() int {
	c := r.byte()
	switch {
	case c&0xf0 == 0x90:
		return r.length(uint64(c&0x0f), 1)
	case c == 0xdc:
		return r.length(r.be(2), 1)
	case c == 0xdd:
		return r.length(r.be(4), 1)
	case c == 0xc0:
		return -1
	}
	r.wrongType(c, "an array")
	return -1
}

// wrongType fails on code c, just read, which is not of the type wanted.
func (r *msgpackReader) wrongType(c byte, want string) {
	if r.err == nil {
		r.failAt(r.pos()-1, "want %s, got code 0x%02x", want, c)
	}
}

// str reads a string (or binary) and copies it out of the body; nil is "".
func (r *msgpackReader) str() string { return r.textOf(r.raw()) }

// raw reads a string (or binary) without copying it; nil is empty. The
// bytes are the body's: valid until the decoding ends.
func (r *msgpackReader) raw() []byte {
	// The short strings (keys, ids, times) inline.
	if len(r.rest) != 0 {
		if c := r.rest[0]; c&0xe0 == 0xa0 {
			if end := 1 + int(c&0x1f); end <= len(r.rest) {
				b := r.rest[1:end:end]
				r.rest = r.rest[end:]
				return b
			}
		}
	}
	return r.rawSlow()
}

func (r *msgpackReader) rawSlow() []byte {
	c := r.byte()
	switch {
	case c&0xe0 == 0xa0:
		return r.take(int(c & 0x1f))
	case c == 0xd9, c == 0xc4:
		return r.take(int(r.be(1)))
	case c == 0xda, c == 0xc5:
		return r.take(int(r.be(2)))
	case c == 0xdb, c == 0xc6:
		return r.take(int(r.be(4)))
	case c == 0xc0:
		return nil
	}
	r.wrongType(c, "a string")
	return nil
}

// textOf returns b as a string. The bytes go into the current chunk of
// text (a strings.Builder, whose String stays valid and unchanged while
// later writes append after it), so that a page's strings share a few
// allocations instead of one each.
func (r *msgpackReader) textOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if r.text.Cap()-r.text.Len() < len(b) {
		r.text = strings.Builder{}
		r.text.Grow(max(len(b), min(r.hint*textPerRecord, maxTextChunk)))
	}
	start := r.text.Len()
	r.text.Write(b)
	return r.text.String()[start:]
}

// textPerRecord sizes the chunks of text: about what a chat holds (the
// last message's text, a contact's name and email, operator ids).
const (
	textPerRecord = 192
	maxTextChunk  = 64 << 10
)

// optStr reads a string, or nil as a nil pointer.
func (r *msgpackReader) optStr() *string {
	if r.peekNil() {
		return nil
	}
	s := r.str()
	if r.err != nil {
		return nil
	}
	if len(r.strs) == 0 {
		r.strs = make([]string, r.chunk(4))
	}
	p := &r.strs[0]
	*p = s
	r.strs = r.strs[1:]
	return p
}

// strList reads an array of strings into a slice whose capacity is its
// length, so that appending to it never writes over a neighbour's
// elements. An empty array is an empty, non-nil slice; nil is nil.
func (r *msgpackReader) strList() []string {
	n := r.arrayLen()
	if n <= 0 {
		if n == 0 {
			return []string{}
		}
		return nil
	}
	if len(r.strs) < n {
		r.strs = make([]string, max(n, r.chunk(4)))
	}
	list := r.strs[:n:n]
	r.strs = r.strs[n:]
	for i := range list {
		list[i] = r.str()
	}
	return list
}

// chunk is how many elements to allocate at once for perRecord of them
// per record of the array being decoded.
func (r *msgpackReader) chunk(perRecord int) int {
	return min(max(r.hint*perRecord, 4), 1024)
}

// int reads an integer; nil is 0.
func (r *msgpackReader) int() int64 {
	if len(r.rest) != 0 && r.rest[0] <= 0x7f {
		c := r.rest[0]
		r.rest = r.rest[1:]
		return int64(c)
	}
	return r.intSlow()
}

func (r *msgpackReader) intSlow() int64 {
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
			r.fail("integer %d overflows int64", v)
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
	case 0xc0:
		return 0
	}
	r.wrongType(c, "an integer")
	return 0
}

// optInt reads an integer, or nil as a nil pointer.
func (r *msgpackReader) optInt() *int64 {
	if r.peekNil() {
		return nil
	}
	v := r.int()
	if r.err != nil {
		return nil
	}
	return &v
}

// bool reads a boolean; nil is false.
func (r *msgpackReader) bool() bool {
	switch c := r.byte(); c {
	case 0xc3:
		return true
	case 0xc2, 0xc0:
		return false
	default:
		r.wrongType(c, "a boolean")
		return false
	}
}

// time reads one of the API's RFC 3339 strings; nil is the zero time.
func (r *msgpackReader) time() time.Time {
	if r.peekNil() {
		return time.Time{}
	}
	start := r.rest
	s := r.raw()
	if r.err != nil {
		return time.Time{}
	}
	t, err := r.parseTime(s)
	if err != nil {
		r.failAt(r.size-len(start), "%v", err)
	}
	return t
}

// optTime reads a time, or nil as a nil pointer.
func (r *msgpackReader) optTime() *time.Time {
	if r.peekNil() {
		return nil
	}
	t := r.time()
	if r.err != nil {
		return nil
	}
	if len(r.times) == 0 {
		r.times = make([]time.Time, r.chunk(2))
	}
	p := &r.times[0]
	*p = t
	r.times = r.times[1:]
	return p
}

// parseTime parses the server's format, "2006-01-02T15:04:05.000Z",
// without time.Parse, and any other RFC 3339 time with it.
func (r *msgpackReader) parseTime(s []byte) (time.Time, error) {
	if len(s) == len(timeLayout)-5 && s[10] == 'T' && s[23] == 'Z' {
		day, ok := r.lastDay, r.lastDate[0] != 0 && [10]byte(s[:10]) == r.lastDate
		if !ok {
			day, ok = parseDate(s[:10])
			if ok {
				r.lastDate, r.lastDay = [10]byte(s[:10]), day
			}
		}
		if ms, clockOK := parseClock(s[11:23]); ok && clockOK {
			return time.UnixMilli(day*millisPerDay + ms).UTC(), nil
		}
	}
	return parseTime(string(s))
}

const millisPerDay = 86_400_000

// digits2 parses two ASCII digits; ok is false for anything else.
func digits2(s []byte) (int64, bool) {
	a, b := s[0]-'0', s[1]-'0'
	return int64(a)*10 + int64(b), a <= 9 && b <= 9
}

// parseDate parses "YYYY-MM-DD" into days since 1970-01-01 (H. Hinnant's
// days_from_civil). ok is false for anything that is not a valid date in
// that form, which time.Parse then rejects with its own message.
func parseDate(s []byte) (int64, bool) {
	if s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	hi, ok1 := digits2(s[0:2])
	lo, ok2 := digits2(s[2:4])
	month, ok3 := digits2(s[5:7])
	day, ok4 := digits2(s[8:10])
	year := hi*100 + lo
	if !(ok1 && ok2 && ok3 && ok4) || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, false
	}
	if month <= 2 {
		year--
	}
	era := year / 400
	if year < 0 { // year 0000 in January or February
		era = -1
	}
	yoe := year - era*400
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468, true
}

func daysIn(year, month int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseClock parses "hh:mm:ss.mmm" into milliseconds of the day.
func parseClock(s []byte) (int64, bool) {
	if s[2] != ':' || s[5] != ':' || s[8] != '.' {
		return 0, false
	}
	h, ok1 := digits2(s[0:2])
	m, ok2 := digits2(s[3:5])
	sec, ok3 := digits2(s[6:8])
	ms1, ok4 := digits2(s[9:11])
	ms2 := int64(s[11]) - '0'
	if !(ok1 && ok2 && ok3 && ok4) || ms2 < 0 || ms2 > 9 || h > 23 || m > 59 || sec > 59 {
		return 0, false
	}
	return ((h*60+m)*60+sec)*1000 + ms1*10 + ms2, true
}

// skip skips one value of any type.
func (r *msgpackReader) skip() { r.skipValue(0) }

func (r *msgpackReader) skipValue(depth int) {
	if depth > maxSkipDepth {
		r.fail("values nested deeper than %d", maxSkipDepth)
		return
	}
	c := r.byte()
	switch {
	case c <= 0x7f || c >= 0xe0:
		return
	case c&0xf0 == 0x80:
		r.skipValues(r.length(uint64(c&0x0f), 2)*2, depth)
		return
	case c&0xf0 == 0x90:
		r.skipValues(r.length(uint64(c&0x0f), 1), depth)
		return
	case c&0xe0 == 0xa0:
		r.take(int(c & 0x1f))
		return
	}
	switch c {
	case 0xc0, 0xc2, 0xc3:
	case 0xc4, 0xd9:
		r.take(int(r.be(1)))
	case 0xc5, 0xda:
		r.take(int(r.be(2)))
	case 0xc6, 0xdb:
		r.take(int(r.be(4)))
	case 0xc7: // ext 8: length, type, data
		r.take(int(r.be(1)) + 1)
	case 0xc8:
		r.take(int(r.be(2)) + 1)
	case 0xc9:
		r.take(int(r.be(4)) + 1)
	case 0xcc, 0xd0:
		r.take(1)
	case 0xcd, 0xd1:
		r.take(2)
	case 0xca, 0xce, 0xd2:
		r.take(4)
	case 0xcb, 0xcf, 0xd3:
		r.take(8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1 to 16, after a type byte
		r.take(1 + 1<<(c-0xd4))
	case 0xdc:
		r.skipValues(r.length(r.be(2), 1), depth)
	case 0xdd:
		r.skipValues(r.length(r.be(4), 1), depth)
	case 0xde:
		r.skipValues(r.length(r.be(2), 2)*2, depth)
	case 0xdf:
		r.skipValues(r.length(r.be(4), 2)*2, depth)
	default:
		r.wrongType(c, "a value")
	}
}

func (r *msgpackReader) skipValues(n, depth int) {
	for ; n > 0 && r.err == nil; n-- {
		r.skipValue(depth + 1)
	}
}
