package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// requestDecoders decode a parsed body into each request type.
var requestDecoders = []func(object, limits) *apiError{
	func(o object, l limits) *apiError { _, e := decodeAccountBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeOperatorBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeCreateChatBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeMessageBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeActionBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeAssignBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeReadNotificationsBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeJoinBody(o, l); return e },
	func(o object, l limits) *apiError { _, e := decodeEmptyBody(o, l); return e },
}

// FuzzDecodeRequest feeds arbitrary bodies, as JSON and as MessagePack, to
// every request decoder: it must never panic, and every refusal must be a
// 400 bad_request or invalid_field with a message (and a field for
// invalid_field).
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"Acme"}`,
		`{"name":"Ann","email":null}`,
		`{"contact":{"type":"visitor","id":"v-1","name":"Jane","email":"j@x"},"source":"email","text":"hi"}`,
		`{"author":{"type":"operator","id":"ann"},"text":"hello"}`,
		`{"author":{"type":"customer"},"text":"h\u00e9"}`,
		`{"operator":"bob"}`,
		`{"operator":null,"by":"ann"}`,
		`{"up_to":12}`,
		`{"up_to":1e3}`,
		`{"id":"n2","raft":"127.0.0.1:9002","http":"[::1]:8002"}`,
		`{}`, `[]`, `{"a":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}`, "{\"name\":\"\xff\"}", `{"name":"a","name":"b"}`,
	} {
		f.Add([]byte(s), false)
	}
	for _, b := range [][]byte{
		{0x81, 0xa4, 'n', 'a', 'm', 'e', 0xa4, 'A', 'c', 'm', 'e'},
		{0x81, 0xa5, 'u', 'p', '_', 't', 'o', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xa5, 'u', 'p', '_', 't', 'o', 0xcb, 0x40, 0x59, 0, 0, 0, 0, 0, 0},
		{0x82, 0xa8, 'o', 'p', 'e', 'r', 'a', 't', 'o', 'r', 0xc0, 0xa2, 'b', 'y', 0xa3, 'a', 'n', 'n'},
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xc4, 0x01, 0x00, 0x01},
		{0x81, 0xa1, 'x', 0xd8, 0x01},
	} {
		f.Add(b, true)
	}
	lim := limits{text: 16384, name: 256}
	f.Fuzz(func(t *testing.T, body []byte, msgpack bool) {
		check := func(e *apiError) {
			if e == nil {
				return
			}
			if e.status != 400 || (e.code != codeBadRequest && e.code != codeInvalidField) || e.message == "" {
				t.Fatalf("refusal %+v", e)
			}
			if e.code == codeInvalidField && e.field == "" && !strings.Contains(e.message, `""`) {
				t.Fatalf("invalid_field without a field: %+v", e)
			}
		}
		obj, err := parseBody(body, msgpack)
		check(err)
		if err != nil {
			return
		}
		for _, dec := range requestDecoders {
			check(dec(obj, lim))
		}
	})
}

// FuzzParseJSON: the request parser agrees with encoding/json on which
// bodies are JSON objects and on their values (nesting beyond maxDepth
// aside, which only the parser refuses).
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"s":"\ud83d\ude00"}`, `{"a":[1.5e3,{"b":null}]}`, `{"a":01}`, `{} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return
		}
		var want map[string]any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		errStd := d.Decode(&want)
		if errStd == nil {
			if _, err := d.Token(); err != io.EOF {
				errStd = errors.New("trailing data")
			}
		}
		obj, err := parseJSON(body)
		if err != nil && strings.Contains(err.message, errTooDeep.Error()) {
			return
		}
		if (err == nil) != (errStd == nil) {
			t.Fatalf("%q: parser %v, encoding/json %v", body, err, errStd)
		}
		if err == nil && !reflect.DeepEqual(normalizeTree(t, obj), normalizeStd(t, want)) {
			t.Fatalf("%q: %#v, want %#v", body, normalizeTree(t, obj), normalizeStd(t, want))
		}
	})
}
