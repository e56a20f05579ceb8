package client

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type parsed struct {
	id, event, data string
	hasID           bool
	retry           int64
	comments        int
}

func parseAll(t testing.TB, r io.Reader, max int) ([]parsed, error) {
	s := newSSEReader(r, max)
	var out []parsed
	var ev sseEvent
	for {
		err := s.next(&ev)
		if err != nil {
			return out, err
		}
		out = append(out, parsed{id: string(ev.ID), hasID: ev.HasID, event: string(ev.Event), data: string(ev.Data), retry: ev.Retry, comments: ev.Comments})
	}
}

func TestSSEParser(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []parsed
	}{
		{"LF", "id: 1\nevent: chat.read\ndata: {\"a\":1}\n\n",
			[]parsed{{id: "1", hasID: true, event: "chat.read", data: `{"a":1}`, retry: -1}}},
		{"CRLF", "id: 1\r\nevent: x\r\ndata: d\r\n\r\n",
			[]parsed{{id: "1", hasID: true, event: "x", data: "d", retry: -1}}},
		{"CR", "id: 1\revent: x\rdata: d\r\r",
			[]parsed{{id: "1", hasID: true, event: "x", data: "d", retry: -1}}},
		{"pings and retry", "retry: 1000\n\n: ping\n\n: ping\n\nid: 2\ndata: d\n\n",
			[]parsed{{id: "2", hasID: true, data: "d", retry: 1000, comments: 2}}},
		{"multi-line data", "data: a\ndata:b\ndata\n\n",
			[]parsed{{data: "a\nb\n", retry: -1}}},
		{"id persists", "id: 5\ndata: a\n\ndata: b\n\n",
			[]parsed{{id: "5", hasID: true, data: "a", retry: -1}, {id: "5", hasID: true, data: "b", retry: -1}}},
		{"event without data is not dispatched, its id is kept", "id: 3\nevent: x\n\ndata: y\n\n",
			[]parsed{{id: "3", hasID: true, data: "y", retry: -1}}},
		{"only one space is stripped", "data:  two\n\n", []parsed{{data: " two", retry: -1}}},
		{"unknown fields and bad retry ignored", "foo: bar\nretry: 1x\ndata: d\n\n", []parsed{{data: "d", retry: -1}}},
		{"id with NUL ignored", "id: 1\x002\ndata: d\n\n", []parsed{{data: "d", retry: -1}}},
		{"unterminated event dropped at EOF", "data: a\n\ndata: b\n", []parsed{{data: "a", retry: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, reader := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tt.in))},
			} {
				got, err := parseAll(t, reader.r, 1<<20)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: err = %v", reader.name, err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%s: got %+v, want %+v", reader.name, got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("%s: event %d = %+v, want %+v", reader.name, i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestSSEParserBoundsEventSize(t *testing.T) {
	in := "data: " + strings.Repeat("x", 5000) + "\n\n"
	if _, err := parseAll(t, strings.NewReader(in), 1024); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("err = %v, want errEventTooLarge", err)
	}
	many := strings.Repeat("data: xxxxxxxx\n", 200) + "\n"
	if _, err := parseAll(t, strings.NewReader(many), 1024); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("many lines: err = %v, want errEventTooLarge", err)
	}
	// Pings do not accumulate across events.
	pings := strings.Repeat(": ping\n\n", 1000) + "data: d\n\n"
	if got, err := parseAll(t, strings.NewReader(pings), 1024); !errors.Is(err, io.EOF) || len(got) != 1 {
		t.Fatalf("pings: %v %v", got, err)
	}
}

// FuzzSSEParser checks that any input parses without panicking, that the
// parse does not depend on how the input is split into reads, and that an
// event's data never exceeds the limit.
func FuzzSSEParser(f *testing.F) {
	f.Add([]byte("id: 1\nevent: chat.read\ndata: {}\n\n: ping\n\n"))
	f.Add([]byte("id: 1\r\ndata: a\r\ndata: b\r\r\n\r\n"))
	f.Add([]byte("retry: 10\rdata\r\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 4096
		whole, errWhole := parseAll(t, bytes.NewReader(in), max)
		split, errSplit := parseAll(t, iotest.HalfReader(bytes.NewReader(in)), max)
		if !errors.Is(errWhole, errSplit) {
			t.Fatalf("errors differ: %v vs %v", errWhole, errSplit)
		}
		if len(whole) != len(split) {
			t.Fatalf("%d events whole, %d split", len(whole), len(split))
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("event %d differs: %+v vs %+v", i, whole[i], split[i])
			}
			if len(whole[i].data) > max {
				t.Fatalf("event of %d bytes passed a %d limit", len(whole[i].data), max)
			}
		}
	})
}
