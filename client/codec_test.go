package client

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzDecodeMsgpack feeds arbitrary bytes to the hand-written MessagePack
// decoders. They must fail cleanly, never panic; and what they accept must
// equal what encoding/json makes of the same document (decoded by
// msgpack's generic decoder and written as JSON), wherever JSON can say the
// same thing and accepts it too.
func FuzzDecodeMsgpack(f *testing.F) {
	chat := map[string]any{
		"id": 42, "status": "active", "contact": map[string]any{"type": "visitor", "id": nil},
		"source": "email", "assignee": nil, "participants": []string{"bob"}, "unread": true,
		"created_at": "2026-11-23T18:00:00.123Z", "last_activity_at": "2026-11-23T18:00:00.123Z",
		"waiting_since": nil, "first_reply_at": "2026-11-23T18:00:01.000Z", "closed_at": nil, "closed_by": nil,
		"message_count": 1, "last_message": map[string]any{"seq": 1, "author": map[string]any{"type": "customer"}, "text": "hi", "at": "2026-11-23T18:00:00.123Z"},
	}
	for _, v := range []any{
		map[string]any{"chats": []any{chat}, "next_cursor": nil},
		map[string]any{"messages": []any{map[string]any{"seq": 2, "author": map[string]any{"type": "system"}, "event": "closed", "operator": "ann", "text": "", "at": "2026-11-23T18:00:00.123Z"}}, "next_after": 2},
		map[string]any{"notifications": []any{map[string]any{"id": 1, "type": "new_message", "recipient": "ann", "chat_id": 4, "operator": nil, "at": "2026-11-23T18:00:00.123Z", "read": false}}, "unread_count": 1, "next_after": nil},
		map[string]any{"operators": []any{map[string]any{"id": "ann", "name": "Ann", "email": nil, "created_at": "2026-11-23T18:00:00.123Z", "active_chats": 3}}},
		map[string]any{"id": "acme", "name": "Acme", "created_at": "2026-11-23T18:00:00.123Z"},
		map[string]any{"status": "active", "all": 3, "unassigned": 1, "unread": 2, "operators": map[string]any{"ann": 2},
			"contact_types": map[string]any{"contact": 1, "visitor": 2}, "sources": map[string]any{"email": 3}, "later": []any{1.5, map[string]any{"x": nil}}},
		map[string]any{"message": map[string]any{"seq": 5, "author": map[string]any{"type": "operator", "id": "ann"}, "text": "on it", "at": "2026-11-23T18:07:00.000Z"}, "chat": chat},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(newPageWriter().chatPage(samplePage(3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newOut := range []func() any{
			func() any { return new(ChatPage) }, func() any { return new(Chat) },
			func() any { return new(MessagePage) }, func() any { return new(NotificationPage) },
			func() any { return new(operatorsBody) }, func() any { return new(accountsBody) },
			func() any { return new(Account) }, func() any { return new(MessageResult) },
			func() any { return new(Counts) },
		} {
			out := newOut()
			if decodeMsgpack(data, out) != nil {
				continue
			}
			assertUTC(t, reflect.ValueOf(out))
			js, ok := asJSON(data)
			if !ok {
				continue
			}
			want := newOut()
			if json.Unmarshal(js, want) != nil {
				continue // JSON refuses what the reader takes (times RFC 3339 allows but JSON's parser does not)
			}
			if !reflect.DeepEqual(out, want) {
				t.Fatalf("%T: MessagePack gives\n%+v\nJSON gives\n%+v\nfor %s", out, out, want, js)
			}
		}
	})
}

// asJSON writes a MessagePack document as JSON, or reports false where the
// two encodings would not say the same: binary values and floats (the
// reader takes no float for an integer), keys that are not strings,
// invalid UTF-8, and keys that encoding/json would match to a field
// case-insensitively.
func asJSON(data []byte) ([]byte, bool) {
	var v any
	if err := msgpack.Unmarshal(data, &v); err != nil {
		return nil, false
	}
	if !jsonSafe(v) {
		return nil, false
	}
	js, err := json.Marshal(v)
	return js, err == nil
}

func jsonSafe(v any) bool {
	switch v := v.(type) {
	case nil, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return true
	case string:
		return utf8.ValidString(v)
	case []any:
		for _, x := range v {
			if !jsonSafe(x) {
				return false
			}
		}
		return true
	case map[string]any:
		for k, x := range v {
			for i := 0; i < len(k); i++ {
				if c := k[i]; (c < 'a' || c > 'z') && c != '_' && (c < '0' || c > '9') {
					return false
				}
			}
			if !jsonSafe(x) {
				return false
			}
		}
		return true
	}
	return false
}

// assertUTC fails when a decoded time is not in UTC.
func assertUTC(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			assertUTC(t, v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			assertUTC(t, v.Index(i))
		}
	case reflect.Struct:
		if tm, ok := v.Interface().(time.Time); ok {
			if tm.Location() != time.UTC {
				t.Fatalf("time %v not in UTC", tm)
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				assertUTC(t, v.Field(i))
			}
		}
	}
}

// FuzzParseTime checks the reader's own parser of the server's time format
// against time.Parse: the same time for what both accept, an error from
// both for the rest.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-11-23T18:00:00.123Z", "1970-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
		"0000-01-01T00:00:00.000Z", "0000-02-29T12:00:00.000Z", "2024-02-29T00:00:00.000Z",
		"2023-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-04-31T00:00:00.000Z",
		"2026-11-23T24:00:00.000Z", "2026-11-23T18:60:00.000Z", "2026-11-23T18:00:60.000Z",
		"2026-11-23T18:00:00.12xZ", "2026-11-23T18:00:00.123+01:00", "2026-11-23T18:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var r msgpackReader
		for range 2 { // the second time through the remembered date
			got, err := r.parseTime([]byte(s))
			want, wantErr := parseTime(s)
			if (err == nil) != (wantErr == nil) || !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("%q: got %v, %v; time.Parse gives %v, %v", s, got, err, want, wantErr)
			}
		}
	})
}

// Every day from year 0 to 9999 parses to what time.Parse gives.
func TestParseDateEveryDay(t *testing.T) {
	var r msgpackReader
	for d := time.Date(0, 1, 1, 23, 59, 58, 999e6, time.UTC); d.Year() < 10000; d = d.AddDate(0, 0, 1) {
		s := d.Format(timeLayout)
		got, err := r.parseTime([]byte(s))
		if err != nil || !got.Equal(d) {
			t.Fatalf("%s: got %v, %v", s, got, err)
		}
	}
}

// A page of the server's making decodes to what it was written from, and
// so does every prefix of it fail.
func TestDecodeChatPageRoundTrip(t *testing.T) {
	page := samplePage(50)
	body := newPageWriter().chatPage(page)
	var got ChatPage
	if err := decodeMsgpack(body, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, page) {
		t.Fatalf("decoded page differs:\n%+v\n%+v", got.Chats[0], page.Chats[0])
	}
	// Appending to a decoded list must not write over what the next
	// strings of the page are.
	for i := range got.Chats {
		_ = append(got.Chats[i].Participants, "intruder")
	}
	if !reflect.DeepEqual(&got, page) {
		t.Fatal("appending to participants changed other fields of the page")
	}
	for n := range len(body) {
		if err := decodeMsgpack(body[:n], new(ChatPage)); err == nil {
			t.Fatalf("a page cut to %d of %d bytes decoded without an error", n, len(body))
		}
	}
}

// Query values are escaped as url.QueryEscape escapes them.
func TestAppendQueryEscaped(t *testing.T) {
	for _, v := range []string{"", "ann", "op-007_x.y~z", "a b", "a+b&c=d", "ü", "100%", "A/Z?"} {
		if got, want := string(appendQueryEscaped([]byte("x="), v)), "x="+url.QueryEscape(v); got != want {
			t.Errorf("%q: got %q, want %q", v, got, want)
		}
	}
}
