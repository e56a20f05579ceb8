package httpapi

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// fixture: account acme with operators ann and bob; chat 1 assigned to ann,
// chat 2 unassigned, chat 3 closed (assigned to bob).
func fixture(t *testing.T, ts *testServer) {
	t.Helper()
	const a = "/v1/accounts/acme"
	ts.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	ts.must(t, 201, "PUT", a+"/operators/ann", map[string]any{"name": "Ann"})
	ts.must(t, 201, "PUT", a+"/operators/bob", map[string]any{"name": "Bob"})
	for i := 0; i < 3; i++ {
		ts.must(t, 201, "POST", a+"/chats", map[string]any{"contact": map[string]any{"type": "visitor"}, "source": "chat_page", "text": "hi"})
	}
	ts.must(t, 201, "POST", a+"/chats/1/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "ann"}, "text": "hello"})
	ts.must(t, 201, "POST", a+"/chats/3/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "bob"}, "text": "hello"})
	ts.must(t, 200, "POST", a+"/chats/3/close", map[string]any{"operator": "bob"})
}

func mp(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestErrors checks the status, code, field and X-Index of every kind of
// refusal, and that none of them changed the state.
func TestErrors(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	fixture(t, ts)
	const a = "/v1/accounts/acme"
	jsonCT := hdr{"Content-Type": "application/json"}
	msgpackCT := hdr{"Content-Type": "application/msgpack"}
	customer := map[string]any{"author": map[string]any{"type": "customer"}, "text": "hi"}
	chatBody := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"contact": map[string]any{"type": "visitor"}, "source": "email", "text": "hi"}
		mut(m)
		return m
	}
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		headers hdr
		status  int
		code    string
		field   string // "" for null
		index   bool   // X-Index expected
	}{
		// Routes and methods.
		{"unknown route", "GET", "/nope", nil, nil, 404, "not_found", "", false},
		{"unknown sub-route", "GET", a + "/things", nil, nil, 404, "not_found", "", false},
		{"trailing slash", "GET", a + "/", nil, nil, 404, "not_found", "", false},
		{"too deep", "GET", a + "/chats/1/messages/2/x/y", nil, nil, 404, "not_found", "", false},
		{"wrong method", "DELETE", a, nil, nil, 405, "method_not_allowed", "", false},
		{"wrong method on status", "POST", "/v1/status", nil, nil, 405, "method_not_allowed", "", false},
		{"PATCH", "PATCH", a + "/chats", nil, nil, 405, "method_not_allowed", "", false},

		// Bodies that do not parse.
		{"not JSON", "PUT", a, "name: Acme", jsonCT, 400, "bad_request", "", false},
		{"JSON array", "PUT", a, "[1]", jsonCT, 400, "bad_request", "", false},
		{"JSON string", "PUT", a, `"x"`, jsonCT, 400, "bad_request", "", false},
		{"empty body", "PUT", a, "", jsonCT, 400, "bad_request", "", false},
		{"two objects", "PUT", a, `{"name":"a"}{"name":"b"}`, jsonCT, 400, "bad_request", "", false},
		{"truncated", "PUT", a, `{"name":"a"`, jsonCT, 400, "bad_request", "", false},
		{"invalid UTF-8", "PUT", a, []byte("{\"name\":\"A\xffme\"}"), jsonCT, 400, "bad_request", "", false},
		{"msgpack garbage", "PUT", a, []byte{0xc1, 0x00}, msgpackCT, 400, "bad_request", "", false},
		{"msgpack not a map", "PUT", a, mp(t, []any{1}), msgpackCT, 400, "bad_request", "", false},
		{"msgpack invalid UTF-8", "PUT", a, []byte{0x81, 0xa4, 'n', 'a', 'm', 'e', 0xa2, 0xff, 0xfe}, msgpackCT, 400, "bad_request", "", false},
		{"msgpack truncated", "PUT", a, []byte{0x82, 0xa4, 'n', 'a', 'm', 'e'}, msgpackCT, 400, "bad_request", "", false},
		{"msgpack huge map length", "PUT", a, []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, msgpackCT, 400, "bad_request", "", false},
		{"msgpack trailing", "PUT", a, append(mp(t, map[string]any{"name": "x"}), 0xc0), msgpackCT, 400, "bad_request", "", false},

		// Fields.
		{"unknown field", "PUT", a, map[string]any{"name": "A", "foo": 1}, nil, 400, "invalid_field", "foo", false},
		{"unknown nested field", "POST", a + "/chats", chatBody(func(m map[string]any) { m["contact"] = map[string]any{"type": "visitor", "foo": 1} }), nil, 400, "invalid_field", "contact.foo", false},
		{"unknown msgpack field", "PUT", a, mp(t, map[string]any{"name": "A", "bar": true}), msgpackCT, 400, "invalid_field", "bar", false},
		{"duplicate field", "PUT", a, `{"name":"A","name":"B"}`, jsonCT, 400, "invalid_field", "name", false},
		{"missing name", "PUT", a, map[string]any{}, nil, 400, "invalid_field", "name", false},
		{"null name", "PUT", a, map[string]any{"name": nil}, nil, 400, "invalid_field", "name", false},
		{"number name", "PUT", a, map[string]any{"name": 5}, nil, 400, "invalid_field", "name", false},
		{"empty name", "PUT", a, map[string]any{"name": ""}, nil, 400, "invalid_field", "name", false},
		{"long name", "PUT", a, map[string]any{"name": strings.Repeat("n", 257)}, nil, 400, "invalid_field", "name", false},
		{"email wrong type", "PUT", a + "/operators/cid", map[string]any{"name": "C", "email": 1}, nil, 400, "invalid_field", "email", false},
		{"missing contact", "POST", a + "/chats", chatBody(func(m map[string]any) { delete(m, "contact") }), nil, 400, "invalid_field", "contact", false},
		{"contact not object", "POST", a + "/chats", chatBody(func(m map[string]any) { m["contact"] = "x" }), nil, 400, "invalid_field", "contact", false},
		{"missing contact type", "POST", a + "/chats", chatBody(func(m map[string]any) { m["contact"] = map[string]any{} }), nil, 400, "invalid_field", "contact.type", false},
		{"bad contact type", "POST", a + "/chats", chatBody(func(m map[string]any) { m["contact"] = map[string]any{"type": "robot"} }), nil, 400, "invalid_field", "contact.type", false},
		{"bad contact id", "POST", a + "/chats", chatBody(func(m map[string]any) { m["contact"] = map[string]any{"type": "contact", "id": "no spaces"} }), nil, 400, "invalid_field", "contact.id", false},
		{"long contact email", "POST", a + "/chats", chatBody(func(m map[string]any) {
			m["contact"] = map[string]any{"type": "contact", "email": strings.Repeat("e", 300)}
		}), nil, 400, "invalid_field", "contact.email", false},
		{"bad source", "POST", a + "/chats", chatBody(func(m map[string]any) { m["source"] = "phone" }), nil, 400, "invalid_field", "source", false},
		{"missing text", "POST", a + "/chats", chatBody(func(m map[string]any) { delete(m, "text") }), nil, 400, "invalid_field", "text", false},
		{"empty text", "POST", a + "/chats", chatBody(func(m map[string]any) { m["text"] = "" }), nil, 400, "invalid_field", "text", false},
		{"system author", "POST", a + "/chats/1/messages", map[string]any{"author": map[string]any{"type": "system"}, "text": "x"}, nil, 400, "invalid_field", "author.type", false},
		{"operator without id", "POST", a + "/chats/1/messages", map[string]any{"author": map[string]any{"type": "operator"}, "text": "x"}, nil, 400, "invalid_field", "author.id", false},
		{"customer with id", "POST", a + "/chats/1/messages", map[string]any{"author": map[string]any{"type": "customer", "id": "x"}, "text": "x"}, nil, 400, "invalid_field", "author.id", false},
		{"missing author", "POST", a + "/chats/1/messages", map[string]any{"text": "x"}, nil, 400, "invalid_field", "author", false},
		{"bad operator id", "POST", a + "/chats/1/join", map[string]any{"operator": "-bob"}, nil, 400, "invalid_field", "operator", false},
		{"missing operator", "POST", a + "/chats/1/join", map[string]any{}, nil, 400, "invalid_field", "operator", false},
		{"assign missing operator", "POST", a + "/chats/1/assign", map[string]any{"by": "ann"}, nil, 400, "invalid_field", "operator", false},
		{"assign missing by", "POST", a + "/chats/1/assign", map[string]any{"operator": nil}, nil, 400, "invalid_field", "by", false},
		{"up_to negative", "POST", a + "/operators/ann/notifications/read", map[string]any{"up_to": -1}, nil, 400, "invalid_field", "up_to", false},
		{"up_to fraction", "POST", a + "/operators/ann/notifications/read", map[string]any{"up_to": 1.5}, nil, 400, "invalid_field", "up_to", false},
		{"up_to string", "POST", a + "/operators/ann/notifications/read", map[string]any{"up_to": "1"}, nil, 400, "invalid_field", "up_to", false},
		{"join bad address", "POST", "/v1/cluster/join", map[string]any{"id": "n2", "raft": "nowhere", "http": "127.0.0.1:8081"}, nil, 400, "invalid_field", "raft", false},

		// Path segments.
		{"bad account id", "GET", "/v1/accounts/bad!id", nil, nil, 400, "invalid_field", "account_id", false},
		{"long account id", "PUT", "/v1/accounts/" + strings.Repeat("a", 65), map[string]any{"name": "x"}, nil, 400, "invalid_field", "account_id", false},
		{"bad operator path", "PUT", a + "/operators/.ann", map[string]any{"name": "x"}, nil, 400, "invalid_field", "operator_id", false},
		{"chat id zero", "GET", a + "/chats/0", nil, nil, 400, "invalid_field", "chat_id", false},
		{"chat id text", "GET", a + "/chats/abc", nil, nil, 400, "invalid_field", "chat_id", false},
		{"chat id negative", "POST", a + "/chats/-1/join", map[string]any{"operator": "ann"}, nil, 400, "invalid_field", "chat_id", false},
		{"chat id huge", "GET", a + "/chats/99999999999999999999", nil, nil, 400, "invalid_field", "chat_id", false},

		// Query parameters.
		{"limit zero", "GET", a + "/chats?limit=0", nil, nil, 400, "invalid_field", "limit", false},
		{"limit too big", "GET", a + "/chats?limit=501", nil, nil, 400, "invalid_field", "limit", false},
		{"limit text", "GET", a + "/chats/1/messages?limit=ten", nil, nil, 400, "invalid_field", "limit", false},
		{"after negative", "GET", a + "/chats/1/messages?after=-1", nil, nil, 400, "invalid_field", "after", false},
		{"after on notifications", "GET", a + "/operators/ann/notifications?after=x", nil, nil, 400, "invalid_field", "after", false},
		{"bad cursor", "GET", a + "/chats?cursor=nope", nil, nil, 400, "invalid_field", "cursor", false},
		{"bad status", "GET", a + "/chats?status=open", nil, nil, 400, "invalid_field", "status", false},
		{"bad operator filter", "GET", a + "/chats?operator=a%20b", nil, nil, 400, "invalid_field", "operator", false},
		{"bad contact_type", "GET", a + "/chats?contact_type=x", nil, nil, 400, "invalid_field", "contact_type", false},
		{"bad source filter", "GET", a + "/chats?source=x", nil, nil, 400, "invalid_field", "source", false},
		{"bad unread", "GET", a + "/chats?unread=yes", nil, nil, 400, "invalid_field", "unread", false},
		{"counts with operator", "GET", a + "/chats/counts?operator=ann", nil, nil, 400, "invalid_field", "operator", false},
		{"counts bad status", "GET", a + "/chats/counts?status=x", nil, nil, 400, "invalid_field", "status", false},
		{"bad consistency", "GET", a + "?consistency=strong", nil, nil, 400, "invalid_field", "consistency", false},
		{"bad min_index", "GET", a + "?min_index=-3", nil, nil, 400, "invalid_field", "min_index", false},
		{"negative wait", "GET", a + "?min_index=1&wait=-1s", nil, nil, 400, "invalid_field", "wait", false},
		{"long wait", "GET", a + "?min_index=1&wait=61s", nil, nil, 400, "invalid_field", "wait", false},
		{"bad wait", "GET", a + "?wait=soon", nil, nil, 400, "invalid_field", "wait", false},
		{"unknown event type", "GET", a + "/events?types=chat.created,%20chat.exploded", nil, nil, 400, "invalid_field", "types", false},
		{"bad recipient", "GET", a + "/events?recipient=%20", nil, nil, 400, "invalid_field", "recipient", false},
		{"bad since", "GET", a + "/events?since=x", nil, nil, 400, "invalid_field", "since", false},
		{"bad Last-Event-ID", "GET", a + "/events", nil, hdr{"Last-Event-ID": "x"}, 400, "invalid_field", "Last-Event-ID", false},
		{"long idempotency key", "PUT", a, map[string]any{"name": "A"}, hdr{"Idempotency-Key": strings.Repeat("k", 129)}, 400, "invalid_field", "Idempotency-Key", false},
		{"non-ASCII idempotency key", "PUT", a, map[string]any{"name": "A"}, hdr{"Idempotency-Key": "cl\xc3\xa9"}, 400, "invalid_field", "Idempotency-Key", false},

		// Media types and sizes.
		{"text/plain body", "PUT", a, `{"name":"A"}`, hdr{"Content-Type": "text/plain"}, 415, "unsupported_media_type", "", false},
		{"multipart body", "PUT", a, "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nA\r\n--x--\r\n", hdr{"Content-Type": "multipart/form-data; boundary=x"}, 415, "unsupported_media_type", "", false},
		{"too large", "POST", a + "/chats", chatBody(func(m map[string]any) { m["text"] = strings.Repeat("x", 5000) }), nil, 413, "payload_too_large", "", false},

		// Decided by the state: these reached the log.
		{"unknown account", "GET", "/v1/accounts/nobody", nil, nil, 404, "not_found", "", false},
		{"unknown chat", "GET", a + "/chats/99", nil, nil, 404, "not_found", "", false},
		{"unknown chat messages", "GET", a + "/chats/99/messages", nil, nil, 404, "not_found", "", false},
		{"unknown operator", "GET", a + "/operators/zed", nil, nil, 404, "not_found", "", false},
		{"unknown inbox", "GET", a + "/operators/zed/notifications", nil, nil, 404, "not_found", "", false},
		{"events of unknown account", "GET", "/v1/accounts/nobody/events", nil, nil, 404, "not_found", "", false},
		{"write to unknown chat", "POST", a + "/chats/99/messages", customer, nil, 404, "not_found", "", true},
		{"write to unknown account", "POST", "/v1/accounts/nobody/chats", chatBody(func(map[string]any) {}), nil, 404, "not_found", "", true},
		{"unknown operator joins", "POST", a + "/chats/1/join", map[string]any{"operator": "zed"}, nil, 404, "not_found", "", true},
		{"unknown operator on closed chat", "POST", a + "/chats/3/join", map[string]any{"operator": "zed"}, nil, 404, "not_found", "", true},
		{"delete unknown operator", "DELETE", a + "/operators/zed", nil, nil, 404, "not_found", "", true},
		{"operator message on closed", "POST", a + "/chats/3/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "bob"}, "text": "x"}, nil, 409, "chat_closed", "", true},
		{"join closed", "POST", a + "/chats/3/join", map[string]any{"operator": "ann"}, nil, 409, "chat_closed", "", true},
		{"assign closed", "POST", a + "/chats/3/assign", map[string]any{"operator": "ann", "by": "ann"}, nil, 409, "chat_closed", "", true},
		{"join unassigned", "POST", a + "/chats/2/join", map[string]any{"operator": "bob"}, nil, 409, "chat_unassigned", "", true},
		{"assignee joins", "POST", a + "/chats/1/join", map[string]any{"operator": "ann"}, nil, 409, "already_assigned", "", true},
		{"leave without joining", "POST", a + "/chats/1/leave", map[string]any{"operator": "bob"}, nil, 409, "not_participant", "", true},
		{"reply to someone else's chat", "POST", a + "/chats/1/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "bob"}, "text": "x"}, nil, 409, "not_participant", "", true},
	}
	before := ts.b.f.AppliedIndex()
	proposals := ts.b.proposals.Load()
	reached := int64(0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(t, c.method, c.path, c.body, c.headers)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			code, field := r.errCode(t)
			if code != c.code {
				t.Errorf("code %q, want %q: %s", code, c.code, r.body)
			}
			wantField := any(nil)
			if c.field != "" {
				wantField = c.field
			}
			if field != wantField {
				t.Errorf("field %v, want %v: %s", field, wantField, r.body)
			}
			if got := r.header.Get("X-Index") != ""; got != c.index && c.method != "GET" {
				t.Errorf("X-Index present %v, want %v", got, c.index)
			}
			if c.status == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
		if c.index {
			reached++
		}
	}
	// Only the writes decided by the state reached the log, and none of
	// them changed anything (the state's events did not move).
	if got := ts.b.proposals.Load() - proposals; got != reached {
		t.Errorf("%d proposals, want %d", got, reached)
	}
	if got := ts.b.f.AppliedIndex() - before; got != uint64(reached) {
		t.Errorf("applied %d entries, want %d", got, reached)
	}
	page, err := ts.b.f.Events("acme", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if page.LastSeq != 14 {
		t.Errorf("the refusals changed the state: last event seq %d, want 14", page.LastSeq)
	}
	if r := ts.do(t, "DELETE", a, nil, nil); r.header.Get("Allow") != "GET, PUT" {
		t.Errorf("Allow: %q", r.header.Get("Allow"))
	}
}

// TestErrorsInMessagePack: errors come in the encoding the request asked
// for.
func TestErrorsInMessagePack(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.do(t, "GET", "/v1/accounts/nobody", nil, hdr{"Accept": "application/msgpack"})
	if r.status != 404 || r.header.Get("Content-Type") != "application/msgpack" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	var body struct {
		Error struct {
			Code    string  `msgpack:"code"`
			Message string  `msgpack:"message"`
			Field   *string `msgpack:"field"`
		} `msgpack:"error"`
	}
	if err := msgpack.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "not_found" || body.Error.Message == "" || body.Error.Field != nil {
		t.Fatalf("%+v", body)
	}
	r = ts.do(t, "PUT", "/v1/accounts/acme", mp(t, map[string]any{"name": 1}), hdr{"Accept": "application/msgpack", "Content-Type": "application/msgpack"})
	if code, field := r.errCode(t); r.status != 400 || code != "invalid_field" || field != "name" {
		t.Fatalf("%d %s %v", r.status, code, field)
	}
}

// TestNodeErrors: the node's role and lifecycle errors become redirects,
// 503s with Retry-After and 504s.
func TestNodeErrors(t *testing.T) {
	ts := startServer(t, nil)
	fixture(t, ts)
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{&nodeError{code: "not_leader", leader: "10.0.0.2:8080"}, 307, ""},
		{&nodeError{code: "not_leader"}, 503, "no_leader"},
		{&nodeError{code: "leadership_lost"}, 503, "leadership_lost"},
		{&nodeError{code: "shutting_down"}, 503, "shutting_down"},
		{&nodeError{code: "timeout"}, 504, "timeout"},
		{errTest, 500, "internal"},
	}
	for _, c := range cases {
		t.Run(c.err.Error(), func(t *testing.T) {
			ts.b.setFailure(c.err)
			defer ts.b.setFailure(nil)
			for _, req := range []struct{ method, path string }{
				{"POST", "/v1/accounts/acme/chats/1/unread?x=1&y=%2F"},
				{"GET", "/v1/accounts/acme/chats?status=closed"},
			} {
				var body any
				if req.method == "POST" {
					body = map[string]any{"operator": "ann"}
				}
				r := ts.do(t, req.method, req.path, body, nil)
				if r.status != c.status {
					t.Fatalf("%s: status %d, want %d: %s", req.path, r.status, c.status, r.body)
				}
				switch c.status {
				case 307:
					if loc := r.header.Get("Location"); loc != "http://10.0.0.2:8080"+req.path {
						t.Errorf("Location %q", loc)
					}
					if r.header.Get("X-Leader") != "10.0.0.2:8080" || len(r.body) != 0 {
						t.Errorf("X-Leader %q, body %q", r.header.Get("X-Leader"), r.body)
					}
				default:
					if code, _ := r.errCode(t); code != c.code {
						t.Errorf("code %q, want %q", code, c.code)
					}
					if (c.status == 503) != (r.header.Get("Retry-After") != "") {
						t.Errorf("Retry-After %q on %d", r.header.Get("Retry-After"), c.status)
					}
				}
				if r.header.Get("X-Index") != "" {
					t.Errorf("X-Index on a write that did not reach the log")
				}
			}
		})
	}
	if !strings.Contains(ts.logs.String(), "test error") {
		t.Errorf("the 500 was not logged: %s", ts.logs.String())
	}
	// A stale read does not ask the leader.
	ts.b.setFailure(&nodeError{code: "not_leader", leader: "10.0.0.2:8080"})
	defer ts.b.setFailure(nil)
	r := ts.do(t, "GET", "/v1/accounts/acme/chats/1?consistency=stale", nil, nil)
	if r.status != 200 || r.header.Get("X-Index") != "9" {
		t.Fatalf("stale read: %d X-Index %q: %s", r.status, r.header.Get("X-Index"), r.body)
	}
}

// TestPanicRecovered: a panic is answered 500, logged with its stack and
// counted, and the server goes on.
func TestPanicRecovered(t *testing.T) {
	ts := startServer(t, nil)
	ts.b.panicStatus.Store(true)
	r := ts.do(t, "GET", "/v1/status", nil, nil)
	if code, _ := r.errCode(t); r.status != 500 || code != "internal" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "status exploded") || !strings.Contains(logs, "goroutine") {
		t.Errorf("panic not logged with its stack: %s", logs)
	}
	ts.b.panicStatus.Store(false)
	if r := ts.do(t, "GET", "/v1/status", nil, nil); r.status != 200 {
		t.Fatalf("after the panic: %d", r.status)
	}
	m := ts.do(t, "GET", "/metrics", nil, nil)
	if !bytes.Contains(m.body, []byte("chatstate_http_panics_total 1")) {
		t.Errorf("panic not counted:\n%s", m.body)
	}
}

// TestBodyLimits: 413 for a body over the limit whether its length is
// declared or chunked; the connection survives for the client.
func TestBodyLimits(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxBodyBytes = 1 << 16 })
	ts.must(t, 201, "PUT", "/v1/accounts/acme", map[string]any{"name": "Acme"})
	big := `{"name":"` + strings.Repeat("x", 1<<17) + `"}`
	r := ts.do(t, "PUT", "/v1/accounts/acme", big, nil)
	if code, _ := r.errCode(t); r.status != 413 || code != "payload_too_large" {
		t.Fatalf("declared length: %d %s", r.status, r.body)
	}
	// Chunked: net/http sends a reader of unknown length chunked.
	req, _ := http.NewRequest("PUT", ts.base+"/v1/accounts/acme", struct{ *strings.Reader }{strings.NewReader(big)})
	req.Header.Set("Content-Type", "application/json")
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := readAllClose(res)
	if res.StatusCode != 413 || !bytes.Contains(body, []byte("payload_too_large")) {
		t.Fatalf("chunked: %d %s", res.StatusCode, body)
	}
	// Just under the limit is fine (text is validated separately).
	ok := `{"name":"` + strings.Repeat("x", 300) + `"}`
	if r := ts.do(t, "PUT", "/v1/accounts/acme", ok, nil); r.status != 400 {
		t.Fatalf("long name: %d %s", r.status, r.body)
	}
}

// TestParseErrorFormat: a request fasthttp itself refuses (headers
// over its buffer) is still answered in the API's error format.
func TestParseErrorFormat(t *testing.T) {
	ts := startServer(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 10000) + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	if !bytes.Contains(buf[:n], []byte(`"error"`)) || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 431")) {
		t.Fatalf("%s", buf[:n])
	}
}
