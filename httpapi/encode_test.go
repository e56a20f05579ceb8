package httpapi

import (
	"encoding/json"
	"math/rand/v2"
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
