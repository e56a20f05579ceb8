package httpapi

import (
	"strconv"
	"testing"

	"github.com/chatstate/chatstate/fsm"
)

func BenchmarkDecodeMessageBody(b *testing.B) {
	body := []byte(`{"author":{"type":"operator","id":"ann"},"text":"Thanks, I will look into your order right away and come back to you shortly."}`)
	lim := limits{text: 16384, name: 256}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		obj, err := parseBody(body, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeMessageBody(obj, lim); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderChatPage: rendering one page of 50 chats, without HTTP.
func BenchmarkRenderChatPage(b *testing.B) {
	ts := startServer(b, nil)
	const a = "/v1/accounts/acme"
	ts.must(b, 201, "PUT", a, map[string]any{"name": "Acme"})
	ts.must(b, 201, "PUT", a+"/operators/ann", map[string]any{"name": "Ann"})
	for i := 0; i < 50; i++ {
		ts.must(b, 201, "POST", a+"/chats", map[string]any{"contact": map[string]any{"type": "contact", "id": "c1", "name": "Jane Doe", "email": "jane@example.com"}, "source": "email",
			"text": "Hello, I ordered a pair of shoes last week and they have not arrived yet. Could you check?"})
		ts.must(b, 201, "POST", a+"/chats/"+strconv.Itoa(i+1)+"/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "ann"}, "text": "Let me check that for you right away."})
	}
	page, err := ts.b.f.ListChats("acme", fsm.ListQuery{Limit: 50})
	if err != nil || len(page.Chats) != 50 {
		b.Fatal(err)
	}
	for _, mp := range []bool{false, true} {
		b.Run(map[bool]string{false: "json", true: "msgpack"}[mp], func(b *testing.B) {
			var e encoder
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				e.reset(mp)
				e.objectStart(2)
				e.key("chats")
				e.arrayStart(len(page.Chats))
				for _, c := range page.Chats {
					renderChat(&e, c)
				}
				e.arrayEnd()
				e.key("next_cursor")
				e.null()
				e.objectEnd()
			}
			b.ReportMetric(float64(len(e.b)), "bytes")
		})
	}
}
