package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAppendJSONString: the output is valid JSON that decodes to the input
// (or, for invalid UTF-8, to what encoding/json makes of it).
func TestAppendJSONString(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", " ", "\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "é", "€", "😀", "\u2028", "\xff", "\xc3", "<", "&"}
	check := func(s string) {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, out, err)
		}
		want := s
		if !utf8.ValidString(s) {
			w, _ := json.Marshal(s)
			_ = json.Unmarshal(w, &want)
		}
		if got != want {
			t.Fatalf("%q -> %s -> %q", s, out, got)
		}
	}
	check("")
	for i := 0; i < 20000; i++ {
		n := rng.IntN(12)
		s := ""
		for j := 0; j < n; j++ {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		check(s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("hello \"world\"\n\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, out, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q -> %q", s, got)
		}
	})
}

// TestParseJSONAgreesWithEncodingJSON: the request parser accepts exactly
// the objects encoding/json accepts and reads the same values.
func TestParseJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{}`, ` {"a" : 1 } `, `{"a":-0}`, `{"a":1.5e3}`, `{"a":1E-2}`, `{"a":[1,"x",null,true,false,{"b":[]}]}`,
		`{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, `{"s":"\ud83d"}`, `{"s":"\ude00x"}`, `{"s":"é€😀"}`,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":+1}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":nul}`,
		`{"a":1,}`, `{,}`, `{"a"}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":"x
"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":1}}`, `{"a":1} x`,
		`{"a":99999999999999999999}`, `{"a":1e400}`, `{"a":"\u0000"}`, `[]`, `"x"`, ``, `   `,
	} {
		var want map[string]any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		errStd := d.Decode(&want)
		if errStd == nil && d.More() {
			errStd = errors.New("trailing data")
		}
		if errStd == nil {
			if _, err := d.Token(); err != io.EOF {
				errStd = errors.New("trailing data")
			}
		}
		obj, err := parseJSON([]byte(s))
		if (err == nil) != (errStd == nil) {
			t.Errorf("%s: parser %v, encoding/json %v", s, err, errStd)
			continue
		}
		if err != nil {
			if err.code != codeBadRequest {
				t.Errorf("%s: %+v", s, err)
			}
			continue
		}
		if got := normalizeTree(t, obj); !reflect.DeepEqual(got, normalizeStd(t, want)) {
			t.Errorf("%s: %#v, want %#v", s, got, normalizeStd(t, want))
		}
	}
}

func normalizeTree(t *testing.T, v any) any {
	switch x := v.(type) {
	case object:
		m := map[string]any{}
		for _, mem := range x {
			m[mem.key] = normalizeTree(t, mem.val)
		}
		return m
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, normalizeTree(t, e))
		}
		return out
	case number:
		return x.f
	}
	return v
}

func normalizeStd(t *testing.T, v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = normalizeStd(t, e)
		}
		return m
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, normalizeStd(t, e))
		}
		return out
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return math.Inf(1)
		}
		return f
	}
	return v
}
