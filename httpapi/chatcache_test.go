package httpapi

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// TestChatRenderCache: reads answered through the render cache are byte
// for byte what a server without the cache answers, in both encodings, on
// a first read, on a repeated (cached) read, after the chats change, and
// with a one-slot cache where every chat evicts the last. Event streams,
// which render each event's chat from the same cache, match too.
func TestChatRenderCache(t *testing.T) {
	backend := newTestBackend()
	plain := startServerWith(t, backend, func(c *Config) { c.ChatRenderCache = 0 })
	cached := startServerWith(t, backend, nil)
	tiny := startServerWith(t, backend, func(c *Config) { c.ChatRenderCache = 1 })

	const a = "/v1/accounts/acme"
	plain.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	plain.must(t, 201, "PUT", a+"/operators/ann", map[string]any{"name": "Ann"})
	plain.must(t, 201, "PUT", a+"/operators/bob", map[string]any{"name": "Bob"})
	for i := range 6 {
		plain.must(t, 201, "POST", a+"/chats", map[string]any{
			"contact": map[string]any{"type": "contact", "id": fmt.Sprint("c", i), "name": "Zoë \"Z\"", "email": "z@example.com"},
			"source":  "landing_page", "text": fmt.Sprint("héllo\n", i),
		})
	}
	reads := []string{
		a + "/chats",
		a + "/chats?limit=2",
		a + "/chats?operator=unassigned",
		a + "/chats?operator=ann",
		a + "/chats?status=closed",
		a + "/chats/1",
		a + "/chats/4",
	}
	compare := func(stage string) {
		t.Helper()
		for _, accept := range []string{"application/json", "application/msgpack"} {
			for _, path := range reads {
				want := plain.do(t, "GET", path, nil, hdr{"Accept": accept})
				for round := range 2 {
					for name, ts := range map[string]*testServer{"cached": cached, "one-slot": tiny} {
						got := ts.do(t, "GET", path, nil, hdr{"Accept": accept})
						if got.status != want.status || !bytes.Equal(got.body, want.body) {
							t.Fatalf("%s, %s %s, read %d from the %s server:\n got %d %q\nwant %d %q",
								stage, accept, path, round+1, name, got.status, got.body, want.status, want.body)
						}
					}
				}
			}
		}
	}
	compare("fresh chats")

	plain.must(t, 201, "POST", a+"/chats/1/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "ann"}, "text": "On it"})
	plain.must(t, 200, "POST", a+"/chats/1/join", map[string]any{"operator": "bob"})
	plain.must(t, 200, "POST", a+"/chats/2/close", map[string]any{"operator": "ann"})
	plain.must(t, 200, "POST", a+"/chats/3/read", map[string]any{"operator": "ann"})
	compare("after changes")

	page, err := backend.f.Events("acme", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := int(page.LastSeq)
	for _, path := range []string{a + "/events?since=0", a + "/events?since=0&status=active"} {
		_, want := plain.stream(t, path, nil).take(t, n)
		for round := range 2 {
			for name, ts := range map[string]*testServer{"cached": cached, "one-slot": tiny} {
				if _, got := ts.stream(t, path, nil).take(t, n); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s, stream %d from the %s server:\n got %v\nwant %v", path, round+1, name, got, want)
				}
			}
		}
	}
}
