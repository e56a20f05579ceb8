package httpapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Request bodies are parsed in two steps: first into a small generic tree
// (the same for JSON and MessagePack, members kept in document order), then
// checked against each request's fields (see fields). That keeps the rules
// for unknown, duplicate, missing and mistyped fields in one place for both
// encodings.

// object is a decoded map, members in document order.
type object []member

type member struct {
	key string
	val any // nil, bool, string, number, object, []any or foreign
}

// number is a decoded number; isInt when it is an integer that fits int64.
type number struct {
	i     int64
	f     float64
	isInt bool
}

// foreign is a MessagePack value with no JSON counterpart (binary, ext);
// it is a wrong type wherever it appears.
type foreign string

// maxDepth bounds nesting in request bodies; the API's deepest body has
// two levels.
const maxDepth = 16

// parseBody parses a request body into its top-level object.
func parseBody(body []byte, msgpack bool) (object, *apiError) {
	if len(body) == 0 {
		return nil, badRequest("the request body is empty; expected an object")
	}
	if msgpack {
		return parseMsgpack(body)
	}
	return parseJSON(body)
}

func parseJSON(body []byte) (object, *apiError) {
	// Checked up front so that the parser can copy strings as they are
	// (encoding/json would silently replace invalid bytes).
	if !utf8.Valid(body) {
		return nil, badRequest("the request body is not valid UTF-8")
	}
	p := jsonParser{b: body}
	p.space()
	if p.i == len(p.b) {
		return nil, badRequest("the request body is empty; expected a JSON object")
	}
	if p.b[p.i] != '{' {
		return nil, badRequest("the request body must be a JSON object")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, badRequest("the request body is not valid JSON: %v", err)
	}
	p.space()
	if p.i != len(p.b) {
		return nil, badRequest("the request body has data after its JSON object (at byte %d)", p.i)
	}
	return v.(object), nil
}

var errTooDeep = errors.New("nested too deeply")

// jsonParser is a strict RFC 8259 parser into the generic tree. It is
// written out because encoding/json's token API allocates for every token
// and dominated the cost of decoding a write.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) fail(what string) error {
	if p.i >= len(p.b) {
		return fmt.Errorf("unexpected end of input, expected %s", what)
	}
	return fmt.Errorf("unexpected %q at byte %d, expected %s", p.b[p.i], p.i, what)
}

func (p *jsonParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	p.space()
	if p.i >= len(p.b) {
		return nil, p.fail("a value")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, p.fail("a value")
}

func (p *jsonParser) literal(word string) error {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return p.fail(word)
	}
	p.i += len(word)
	return nil
}

func (p *jsonParser) object(depth int) (any, error) {
	p.i++ // {
	obj := make(object, 0, 4)
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return obj, nil
	}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.fail("a member name")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.fail("':'")
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj = append(obj, member{key: key, val: v})
		p.space()
		if p.i >= len(p.b) {
			return nil, p.fail("',' or '}'")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return obj, nil
		default:
			return nil, p.fail("',' or '}'")
		}
	}
}

func (p *jsonParser) array(depth int) (any, error) {
	p.i++ // [
	arr := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return arr, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, p.fail("',' or ']'")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return arr, nil
		default:
			return nil, p.fail("',' or ']'")
		}
	}
}

// str parses a string; the body is valid UTF-8 already.
func (p *jsonParser) str() (string, error) {
	p.i++ // "
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.fail("a string character (control characters must be escaped)")
		}
		p.i++
	}
	buf := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("a string character (control characters must be escaped)")
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			return "", p.fail("an escape")
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("four hex digits")
			}
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone half is U+FFFD, as
				// encoding/json does.
				r2 := utf8.RuneError
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					if low, ok := p.hex4(); ok && utf16.DecodeRune(r, low) != utf8.RuneError {
						r2 = utf16.DecodeRune(r, low)
					} else {
						p.i = save
					}
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			p.i--
			return "", p.fail("an escape character")
		}
	}
	return "", p.fail("'\"'")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// number parses a number by the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return nil, p.fail("a digit")
	}
	integer := true
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		integer = false
		if digits() == 0 {
			return nil, p.fail("a digit")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		integer = false
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.fail("a digit")
		}
	}
	text := string(p.b[start:p.i])
	if integer {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return number{i: i, f: float64(i), isInt: true}, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		// Out of float64's range: a number, but never a valid one.
		return number{f: math.Inf(1)}, nil
	}
	return floatNumber(f), nil
}

// floatNumber keeps integral floats usable as integers (1.0 is 1).
func floatNumber(f float64) number {
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return number{i: int64(f), f: f, isInt: true}
	}
	return number{f: f}
}

// msgpackReader parses MessagePack from a byte slice. It is written out
// rather than built on a decoder library so that every string can be
// checked for UTF-8 and no length prefix can make it allocate more than
// the body's size.
type msgpackReader struct {
	b []byte
	i int
}

var (
	errMsgpackShort = errors.New("unexpected end of input")
	errMsgpackUTF8  = errors.New("a string is not valid UTF-8")
)

func parseMsgpack(body []byte) (object, *apiError) {
	r := msgpackReader{b: body}
	c := body[0]
	if !(c >= 0x80 && c <= 0x8f) && c != 0xde && c != 0xdf {
		return nil, badRequest("the request body must be a MessagePack map")
	}
	v, err := r.value(0)
	if err != nil {
		if err == errMsgpackUTF8 {
			return nil, badRequest("the request body is not valid UTF-8: %v", err)
		}
		return nil, badRequest("the request body is not valid MessagePack: %v", err)
	}
	if r.i != len(r.b) {
		return nil, badRequest("the request body has data after its MessagePack map")
	}
	return v.(object), nil
}

func (r *msgpackReader) next(n int) ([]byte, error) {
	if n < 0 || len(r.b)-r.i < n {
		return nil, errMsgpackShort
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	return p, nil
}

func (r *msgpackReader) uintN(n int) (uint64, error) {
	p, err := r.next(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

func (r *msgpackReader) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	p, err := r.next(1)
	if err != nil {
		return nil, err
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return number{i: int64(c), f: float64(c), isInt: true}, nil
	case c >= 0xe0:
		i := int64(int8(c))
		return number{i: i, f: float64(i), isInt: true}, nil
	case c >= 0x80 && c <= 0x8f:
		return r.mapOf(int(c&0x0f), depth)
	case c >= 0x90 && c <= 0x9f:
		return r.arrayOf(int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		return r.str(int(c & 0x1f))
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6: // bin 8/16/32
		n, err := r.uintN(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		if _, err := r.next(int(n)); err != nil {
			return nil, err
		}
		return foreign("binary data"), nil
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32
		n, err := r.uintN(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		if _, err := r.next(int(n) + 1); err != nil {
			return nil, err
		}
		return foreign("an extension value"), nil
	case 0xca:
		u, err := r.uintN(4)
		if err != nil {
			return nil, err
		}
		return floatNumber(float64(math.Float32frombits(uint32(u)))), nil
	case 0xcb:
		u, err := r.uintN(8)
		if err != nil {
			return nil, err
		}
		return floatNumber(math.Float64frombits(u)), nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err := r.uintN(1 << (c - 0xcc))
		if err != nil {
			return nil, err
		}
		if u > math.MaxInt64 {
			return number{f: float64(u)}, nil
		}
		return number{i: int64(u), f: float64(u), isInt: true}, nil
	case 0xd0, 0xd1, 0xd2, 0xd3:
		n := 1 << (c - 0xd0)
		u, err := r.uintN(n)
		if err != nil {
			return nil, err
		}
		var i int64
		switch n {
		case 1:
			i = int64(int8(u))
		case 2:
			i = int64(int16(u))
		case 4:
			i = int64(int32(u))
		default:
			i = int64(u)
		}
		return number{i: i, f: float64(i), isInt: true}, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1..16
		if _, err := r.next(1 + 1<<(c-0xd4)); err != nil {
			return nil, err
		}
		return foreign("an extension value"), nil
	case 0xd9, 0xda, 0xdb:
		n, err := r.uintN(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		return r.str(int(min(n, math.MaxInt32)))
	case 0xdc, 0xdd:
		n, err := r.uintN(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return r.arrayOf(int(min(n, math.MaxInt32)), depth)
	case 0xde, 0xdf:
		n, err := r.uintN(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return r.mapOf(int(min(n, math.MaxInt32)), depth)
	}
	return nil, errors.New("reserved type byte 0xc1")
}

func (r *msgpackReader) str(n int) (any, error) {
	p, err := r.next(n)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(p) {
		return nil, errMsgpackUTF8
	}
	return string(p), nil
}

func (r *msgpackReader) arrayOf(n, depth int) (any, error) {
	// Every element takes at least one byte: a length beyond what is left
	// is malformed, and checking first bounds the allocation.
	if n > len(r.b)-r.i {
		return nil, errMsgpackShort
	}
	arr := make([]any, 0, n)
	for k := 0; k < n; k++ {
		v, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	return arr, nil
}

func (r *msgpackReader) mapOf(n, depth int) (any, error) {
	if n > (len(r.b)-r.i)/2 {
		return nil, errMsgpackShort
	}
	obj := make(object, 0, n)
	for k := 0; k < n; k++ {
		key, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		s, ok := key.(string)
		if !ok {
			return nil, errors.New("a map key is not a string")
		}
		v, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj = append(obj, member{key: s, val: v})
	}
	return obj, nil
}

// describe names a decoded value's type for error messages.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case number:
		return "a number"
	case object:
		return "an object"
	case []any:
		return "an array"
	case foreign:
		return string(t)
	}
	return "an unknown value"
}

// fields checks one object of a request body against the names it may
// have, then reads them by name. The first problem found anywhere in the
// body is kept (nested objects share it); later reads return zero values.
type fields struct {
	obj    object
	prefix string     // dotted path of this object in the body, "" or "contact."
	errp   **apiError // shared with the nested objects' fields
}

// newFields rejects unknown and duplicate members of obj, in document
// order.
func newFields(obj object, prefix string, allowed ...string) *fields {
	var err *apiError
	f := &fields{obj: obj, prefix: prefix, errp: &err}
	f.check(allowed)
	return f
}

func (f *fields) check(allowed []string) {
	for i, m := range f.obj {
		known := false
		for _, a := range allowed {
			if m.key == a {
				known = true
				break
			}
		}
		if !known {
			f.fail(invalidField(f.prefix+m.key, "unknown field %s", quote(f.prefix+m.key)))
			return
		}
		for _, prev := range f.obj[:i] {
			if prev.key == m.key {
				f.fail(invalidField(f.prefix+m.key, "field %s appears more than once", quote(f.prefix+m.key)))
				return
			}
		}
	}
}

// err is the first problem found, or nil.
func (f *fields) err() *apiError { return *f.errp }

func (f *fields) failed() bool { return *f.errp != nil }

func (f *fields) lookup(name string) (any, bool) {
	for _, m := range f.obj {
		if m.key == name {
			return m.val, true
		}
	}
	return nil, false
}

func (f *fields) fail(e *apiError) {
	if *f.errp == nil {
		*f.errp = e
	}
}

// invalid reports a bad value of a member.
func (f *fields) invalid(name, format string, args ...any) {
	f.fail(invalidField(f.prefix+name, "field "+f.prefix+name+" "+format, args...))
}

func (f *fields) missing(name string) {
	f.fail(invalidField(f.prefix+name, "field %s is required", f.prefix+name))
}

func (f *fields) wrongType(name, want string, v any) {
	f.fail(invalidField(f.prefix+name, "field %s must be %s, not %s", f.prefix+name, want, describe(v)))
}

// str reads a required string.
func (f *fields) str(name string) string {
	if f.failed() {
		return ""
	}
	v, ok := f.lookup(name)
	if !ok {
		f.missing(name)
		return ""
	}
	s, ok := v.(string)
	if !ok {
		f.wrongType(name, "a string", v)
	}
	return s
}

// optStr reads an optional string: absent or null is nil.
func (f *fields) optStr(name string) *string {
	if f.failed() {
		return nil
	}
	v, ok := f.lookup(name)
	if !ok || v == nil {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		f.wrongType(name, "a string or null", v)
		return nil
	}
	return &s
}

// nullableStr reads a required member that is a string or null.
func (f *fields) nullableStr(name string) *string {
	if f.failed() {
		return nil
	}
	if _, ok := f.lookup(name); !ok {
		f.missing(name)
		return nil
	}
	return f.optStr(name)
}

// int reads a required integer.
func (f *fields) int(name string) int64 {
	if f.failed() {
		return 0
	}
	v, ok := f.lookup(name)
	if !ok {
		f.missing(name)
		return 0
	}
	n, ok := v.(number)
	if !ok || !n.isInt {
		f.wrongType(name, "an integer", v)
		return 0
	}
	return n.i
}

// object reads a required nested object and checks its members.
func (f *fields) object(name string, allowed ...string) *fields {
	sub := &fields{prefix: f.prefix + name + ".", errp: f.errp}
	if f.failed() {
		return sub
	}
	v, ok := f.lookup(name)
	if !ok {
		f.missing(name)
		return sub
	}
	o, ok := v.(object)
	if !ok {
		f.wrongType(name, "an object", v)
		return sub
	}
	sub.obj = o
	sub.check(allowed)
	return sub
}
