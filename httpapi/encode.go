package httpapi

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/chatstate/chatstate/fsm"
)

// encoder appends one response body in JSON or MessagePack. Renderers call
// the same methods for both encodings, so field names and shapes cannot
// drift apart; MessagePack needs the number of members of every map and
// array up front, JSON ignores it.
//
// It is append-style and reflection-free because the list endpoints render
// thousands of records per second on the hot path.
type encoder struct {
	b  []byte
	mp bool
	// comma is true when the next JSON member or element needs a comma
	// before it: after a value, not after '{', '[' or a member name.
	comma bool
	// The date part of the last time written (see appendTime).
	day       int64
	date      [11]byte
	dateValid bool
}

func (e *encoder) reset(mp bool) {
	e.b = e.b[:0]
	e.mp = mp
	e.comma = false
}

// sep adds the comma JSON needs between members and elements, and notes
// that a value follows.
func (e *encoder) sep() {
	if e.comma {
		e.b = append(e.b, ',')
	}
	e.comma = true
}

func (e *encoder) objectStart(n int) {
	if e.mp {
		e.b = appendMsgpackMapLen(e.b, n)
		return
	}
	e.sep()
	e.b = append(e.b, '{')
	e.comma = false
}

func (e *encoder) objectEnd() {
	if !e.mp {
		e.b = append(e.b, '}')
		e.comma = true
	}
}

func (e *encoder) arrayStart(n int) {
	if e.mp {
		e.b = appendMsgpackArrayLen(e.b, n)
		return
	}
	e.sep()
	e.b = append(e.b, '[')
	e.comma = false
}

func (e *encoder) arrayEnd() {
	if !e.mp {
		e.b = append(e.b, ']')
		e.comma = true
	}
}

// key writes a member name. Names are the API's constant snake_case
// identifiers or validated ids (fsm.ValidID), which never need escaping in
// JSON.
func (e *encoder) key(k string) {
	if e.mp {
		e.b = appendMsgpackString(e.b, k)
		return
	}
	if e.comma {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
	e.comma = false
}

func (e *encoder) str(s string) {
	if e.mp {
		e.b = appendMsgpackString(e.b, s)
		return
	}
	e.sep()
	e.b = appendJSONString(e.b, s)
}

// optStr writes s, or null when s is empty (the state's "absent").
func (e *encoder) optStr(s string) {
	if s == "" {
		e.null()
		return
	}
	e.str(s)
}

// strPtr writes *p, or null when p is nil.
func (e *encoder) strPtr(p *string) {
	if p == nil {
		e.null()
		return
	}
	e.str(*p)
}

func (e *encoder) int(i int64) {
	if e.mp {
		e.b = appendMsgpackInt(e.b, i)
		return
	}
	e.sep()
	e.b = strconv.AppendInt(e.b, i, 10)
}

func (e *encoder) uint(u uint64) {
	if e.mp {
		e.b = appendMsgpackUint(e.b, u)
		return
	}
	e.sep()
	e.b = strconv.AppendUint(e.b, u, 10)
}

// optInt writes i, or null when i is zero (ids and seqs start at 1).
func (e *encoder) optInt(i int64) {
	if i == 0 {
		e.null()
		return
	}
	e.int(i)
}

func (e *encoder) bool(v bool) {
	if e.mp {
		if v {
			e.b = append(e.b, 0xc3)
		} else {
			e.b = append(e.b, 0xc2)
		}
		return
	}
	e.sep()
	if v {
		e.b = append(e.b, "true"...)
	} else {
		e.b = append(e.b, "false"...)
	}
}

func (e *encoder) null() {
	if e.mp {
		e.b = append(e.b, 0xc0)
		return
	}
	e.sep()
	e.b = append(e.b, "null"...)
}

// time writes m in the API's time format, as a string in both encodings,
// or null when m is zero.
func (e *encoder) time(m fsm.Millis) {
	if m == 0 {
		e.null()
		return
	}
	if e.mp {
		if int64(m) < 0 || int64(m) >= maxFastMillis {
			e.b = appendMsgpackString(e.b, string(m.AppendRFC3339(nil)))
			return
		}
		e.b = append(e.b, 0xa0|24) // fixstr of the format's 24 bytes
		e.b = e.appendTime(e.b, m)
		return
	}
	e.sep()
	e.b = append(e.b, '"')
	e.b = e.appendTime(e.b, m)
	e.b = append(e.b, '"')
}

// maxFastMillis is the first millisecond of year 10000: appendTime's fast
// path covers 1970..9999, whose format has a fixed length.
const maxFastMillis = 253402300800000

const millisPerDay = 86400000

// appendTime appends m as RFC 3339 in UTC with exactly three fractional
// digits, like fsm.Millis.AppendRFC3339 but without going through
// time.Time formatting, which would dominate the cost of a list page.
func appendTime(b []byte, m fsm.Millis) []byte {
	ms := int64(m)
	if ms < 0 || ms >= maxFastMillis {
		return m.AppendRFC3339(b)
	}
	b = appendDate(b, ms/millisPerDay)
	return appendClock(b, ms%millisPerDay)
}

// appendDate appends "YYYY-MM-DDT" for a day since 1970-01-01 (civil
// date by H. Hinnant's algorithm).
func appendDate(b []byte, days int64) []byte {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if mp >= 10 {
		month = mp - 9
	}
	if month <= 2 {
		year++
	}
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T')
}

// appendClock appends "hh:mm:ss.mmmZ" for a millisecond of the day.
func appendClock(b []byte, rem int64) []byte {
	hour := rem / 3600000
	minute := rem / 60000 % 60
	sec := rem / 1000 % 60
	milli := rem % 1000
	return append(b,
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z')
}

// appendTime is appendTime with the date of the previous call remembered:
// the times of one page mostly fall on few days.
func (e *encoder) appendTime(b []byte, m fsm.Millis) []byte {
	ms := int64(m)
	if ms < 0 || ms >= maxFastMillis {
		return m.AppendRFC3339(b)
	}
	day := ms / millisPerDay
	if !e.dateValid || day != e.day {
		e.date = [11]byte(appendDate(e.date[:0], day))
		e.day, e.dateValid = day, true
	}
	b = append(b, e.date[:]...)
	return appendClock(b, ms-day*millisPerDay)
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the ASCII bytes that go into a JSON string as they are:
// everything but control characters, '"' and '\\'.
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string, in one pass. Invalid UTF-8
// (which the state never holds, since every input string is validated)
// becomes U+FFFD rather than producing invalid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for {
		i := 0
		for i < len(s) && s[i] < utf8.RuneSelf && jsonPlain[s[i]] {
			i++
		}
		b = append(b, s[:i]...)
		if i == len(s) {
			return append(b, '"')
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = appendJSONEscape(b, c)
			s = s[i+1:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		s = s[i+size:]
	}
}

func appendJSONEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

func appendMsgpackMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xde, byte(n>>8), byte(n))
	default:
		return append(b, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendMsgpackArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	default:
		return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendMsgpackString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

func appendMsgpackBytes(b []byte, p []byte) []byte {
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = append(b, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, p...)
}

func appendMsgpackUint(b []byte, u uint64) []byte {
	switch {
	case u < 128:
		return append(b, byte(u))
	case u <= math.MaxUint8:
		return append(b, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return append(b, 0xcd, byte(u>>8), byte(u))
	case u <= math.MaxUint32:
		return append(b, 0xce, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	default:
		return append(b, 0xcf, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
}

func appendMsgpackInt(b []byte, i int64) []byte {
	if i >= 0 {
		return appendMsgpackUint(b, uint64(i))
	}
	switch {
	case i >= -32:
		return append(b, byte(i))
	case i >= math.MinInt8:
		return append(b, 0xd0, byte(i))
	case i >= math.MinInt16:
		return append(b, 0xd1, byte(i>>8), byte(i))
	case i >= math.MinInt32:
		return append(b, 0xd2, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
	default:
		return append(b, 0xd3, byte(i>>56), byte(i>>48), byte(i>>40), byte(i>>32),
			byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
	}
}
