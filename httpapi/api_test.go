package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/chatstate/chatstate/fsm"
)

// normalize turns a decoded JSON or MessagePack value into one comparable
// form: maps stay maps, numbers become int64.
func normalize(t testing.TB, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(t, e)
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, normalize(t, e))
		}
		return out
	case json.Number, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return num(t, x)
	}
	return v
}

// TestMessagePackRoundTrip: every endpoint answers the same document in
// JSON and MessagePack, and MessagePack requests work like JSON ones.
func TestMessagePackRoundTrip(t *testing.T) {
	ts := startServer(t, nil)
	const a = "/v1/accounts/acme"
	mpHdr := hdr{"Content-Type": "application/msgpack", "Accept": "application/msgpack"}
	send := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		var b any
		if body != nil {
			b = mp(t, body)
		}
		r := ts.do(t, method, path, b, mpHdr)
		if r.status != want || r.header.Get("Content-Type") != "application/msgpack" {
			t.Fatalf("%s %s: %d %q %x", method, path, r.status, r.header.Get("Content-Type"), r.body)
		}
		if len(r.body) == 0 {
			return nil
		}
		return r.obj(t)
	}
	send("PUT", a, map[string]any{"name": "Acme"}, 201)
	send("PUT", a+"/operators/ann", map[string]any{"name": "Ann", "email": "ann@example.com"}, 201)
	chat := send("POST", a+"/chats", map[string]any{"contact": map[string]any{"type": "contact", "id": "c1", "name": nil}, "source": "email", "text": "héllo"}, 201)
	if chat["last_message"].(map[string]any)["text"] != "héllo" || !isTime(chat["created_at"]) {
		t.Fatalf("chat: %v", chat)
	}
	send("POST", a+"/chats/1/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "ann"}, "text": "hi"}, 201)
	send("POST", a+"/chats/1/assign", map[string]any{"operator": nil, "by": "ann"}, 200)
	send("POST", a+"/operators/ann/notifications/read", map[string]any{"up_to": uint64(3)}, 200)

	for _, path := range []string{
		a, "/v1/accounts", a + "/operators", a + "/operators/ann", a + "/chats", a + "/chats?limit=1",
		a + "/chats/1", a + "/chats/counts", a + "/chats/1/messages", a + "/operators/ann/notifications",
		"/v1/status", "/v1/accounts/nobody", a + "/chats?limit=0",
	} {
		j := ts.do(t, "GET", path, nil, nil)
		m := ts.do(t, "GET", path, nil, hdr{"Accept": "application/msgpack"})
		if j.status != m.status {
			t.Fatalf("%s: status %d vs %d", path, j.status, m.status)
		}
		if !reflect.DeepEqual(normalize(t, j.obj(t)), normalize(t, m.obj(t))) {
			t.Errorf("%s differs:\nJSON    %s\nmsgpack %v", path, j.body, m.obj(t))
		}
	}
	// Times are strings in MessagePack too, not timestamps.
	var raw map[string]msgpack.RawMessage
	if err := msgpack.Unmarshal(ts.do(t, "GET", a, nil, hdr{"Accept": "application/msgpack"}).body, &raw); err != nil {
		t.Fatal(err)
	}
	var s string
	if err := msgpack.Unmarshal(raw["created_at"], &s); err != nil || !isTime(s) {
		t.Fatalf("created_at in msgpack: %v %q", err, s)
	}
}

// TestIdempotentReplay: a retry with the same key gets the first answer,
// in the retry's encoding, with the original X-Index; a different request
// with the key gets 409.
func TestIdempotentReplay(t *testing.T) {
	ts := startServer(t, nil)
	const a = "/v1/accounts/acme"
	ts.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	ts.must(t, 201, "PUT", a+"/operators/ann", map[string]any{"name": "Ann"})
	body := map[string]any{"contact": map[string]any{"type": "visitor"}, "source": "email", "text": "Hi"}
	first := ts.do(t, "POST", a+"/chats", body, hdr{"Idempotency-Key": "create-1"})
	if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", first.status, first.header)
	}
	// Something else happens in between.
	ts.must(t, 201, "POST", a+"/chats/1/messages", map[string]any{"author": map[string]any{"type": "customer"}, "text": "more"})

	// The same request in MessagePack, fields in another order.
	retry := ts.do(t, "POST", a+"/chats", mp(t, map[string]any{"text": "Hi", "source": "email", "contact": map[string]any{"type": "visitor"}}),
		hdr{"Idempotency-Key": "create-1", "Content-Type": "application/msgpack", "Accept": "application/msgpack"})
	if retry.status != 201 || retry.header.Get("Idempotent-Replayed") != "true" || retry.header.Get("X-Index") != first.header.Get("X-Index") {
		t.Fatalf("replay: %d %v (first X-Index %s)", retry.status, retry.header, first.header.Get("X-Index"))
	}
	if retry.header.Get("Content-Type") != "application/msgpack" {
		t.Fatalf("replay Content-Type %q", retry.header.Get("Content-Type"))
	}
	if !reflect.DeepEqual(normalize(t, first.obj(t)), normalize(t, retry.obj(t))) {
		t.Errorf("replayed body differs:\n%s\n%v", first.body, retry.obj(t))
	}
	if n := ts.must(t, 200, "GET", a+"/chats", nil)["chats"].([]any); len(n) != 1 {
		t.Fatalf("the replay created a chat: %d chats", len(n))
	}
	// Same key, different body: 409, remembered too.
	other := ts.do(t, "POST", a+"/chats", map[string]any{"contact": map[string]any{"type": "visitor"}, "source": "email", "text": "Bye"}, hdr{"Idempotency-Key": "create-1"})
	if code, _ := other.errCode(t); other.status != 409 || code != "idempotency_key_reused" || other.header.Get("X-Index") == "" {
		t.Fatalf("reused key: %d %s %v", other.status, other.body, other.header)
	}
	// Same key, other path: 409.
	other = ts.do(t, "POST", a+"/chats/1/unread", map[string]any{"operator": "ann"}, hdr{"Idempotency-Key": "create-1"})
	if code, _ := other.errCode(t); other.status != 409 || code != "idempotency_key_reused" {
		t.Fatalf("reused key on another path: %d %s", other.status, other.body)
	}
	// An error outcome is remembered and replayed as well.
	bad := map[string]any{"operator": "zed"}
	e1 := ts.do(t, "POST", a+"/chats/1/join", bad, hdr{"Idempotency-Key": "join-zed"})
	ts.must(t, 201, "PUT", a+"/operators/zed", map[string]any{"name": "Zed"})
	e2 := ts.do(t, "POST", a+"/chats/1/join", bad, hdr{"Idempotency-Key": "join-zed"})
	if e1.status != 404 || e2.status != 404 || e2.header.Get("Idempotent-Replayed") != "true" || e1.header.Get("X-Index") != e2.header.Get("X-Index") || !bytes.Equal(e1.body, e2.body) {
		t.Fatalf("error replay: %d %d %v %s %s", e1.status, e2.status, e2.header, e1.body, e2.body)
	}
	// Upserts replay their original 201.
	u1 := ts.do(t, "PUT", a+"/operators/kim", map[string]any{"name": "Kim"}, hdr{"Idempotency-Key": "kim"})
	u2 := ts.do(t, "PUT", a+"/operators/kim", map[string]any{"name": "Kim"}, hdr{"Idempotency-Key": "kim"})
	if u1.status != 201 || u2.status != 201 || u2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("upsert replay: %d %d", u1.status, u2.status)
	}
	// 204s replay as 204.
	d1 := ts.do(t, "DELETE", a+"/operators/kim", nil, hdr{"Idempotency-Key": "del-kim"})
	d2 := ts.do(t, "DELETE", a+"/operators/kim", nil, hdr{"Idempotency-Key": "del-kim"})
	if d1.status != 204 || d2.status != 204 || d2.header.Get("Idempotent-Replayed") != "true" || d1.header.Get("X-Index") != d2.header.Get("X-Index") {
		t.Fatalf("delete replay: %d %d %v", d1.status, d2.status, d2.header)
	}
}

// TestPaging walks a list page by page with the cursor, in both
// encodings, and checks order and completeness.
func TestPaging(t *testing.T) {
	ts := startServer(t, nil)
	const a = "/v1/accounts/acme"
	ts.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	const n = 23
	for i := 0; i < n; i++ {
		ts.must(t, 201, "POST", a+"/chats", map[string]any{"contact": map[string]any{"type": "visitor"}, "source": "email", "text": "hi"})
	}
	for _, accept := range []string{"application/json", "application/msgpack"} {
		var got []int64
		cursor := ""
		pages := 0
		for {
			path := a + "/chats?limit=5"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := ts.do(t, "GET", path, nil, hdr{"Accept": accept})
			if r.status != 200 {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
			m := r.obj(t)
			page := ids(t, m["chats"])
			got = append(got, page...)
			pages++
			if m["next_cursor"] == nil {
				break
			}
			if len(page) < 5 {
				t.Fatalf("a short page with a cursor")
			}
			cursor = m["next_cursor"].(string)
		}
		if len(got) != n || pages != 5 {
			t.Fatalf("%s: %d chats in %d pages", accept, len(got), pages)
		}
		for i := range got {
			if got[i] != int64(n-i) {
				t.Fatalf("%s: order %v", accept, got)
			}
		}
	}
	// An empty list is [] with a null cursor.
	r := ts.do(t, "GET", a+"/chats?status=closed", nil, nil)
	if !bytes.Contains(r.body, []byte(`"chats":[]`)) || !bytes.Contains(r.body, []byte(`"next_cursor":null`)) {
		t.Fatalf("empty list: %s", r.body)
	}
}

// TestMinIndex: min_index waits for the index, or answers 504.
func TestMinIndex(t *testing.T) {
	ts := startServer(t, nil)
	const a = "/v1/accounts/acme"
	put := ts.do(t, "PUT", a, map[string]any{"name": "Acme"}, nil)
	idx, _ := strconv.Atoi(put.header.Get("X-Index"))
	if r := ts.do(t, "GET", a+"?min_index="+strconv.Itoa(idx), nil, nil); r.status != 200 || r.header.Get("X-Index") != strconv.Itoa(idx) {
		t.Fatalf("reached index: %d %v", r.status, r.header)
	}
	r := ts.do(t, "GET", a+"?min_index=100&wait=50ms", nil, nil)
	if code, _ := r.errCode(t); r.status != 504 || code != "timeout" {
		t.Fatalf("unreached index: %d %s", r.status, r.body)
	}
	r = ts.do(t, "GET", a+"?min_index=100&wait=0s&consistency=stale", nil, nil)
	if r.status != 504 {
		t.Fatalf("no wait: %d", r.status)
	}
	// A write arriving during the wait releases it.
	done := make(chan *resp, 1)
	go func() {
		done <- ts.do(t, "GET", a+"?min_index="+strconv.Itoa(idx+1)+"&wait=10s&consistency=linearizable", nil, nil)
	}()
	time.Sleep(20 * time.Millisecond) // let the read start waiting; correctness does not depend on it
	ts.must(t, 200, "PUT", a, map[string]any{"name": "Acme 2"})
	select {
	case r := <-done:
		if r.status != 200 || r.obj(t)["name"] != "Acme 2" {
			t.Fatalf("waited read: %d %s", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not return")
	}
}

// TestOperationalEndpoints covers status, health, readiness, metrics,
// cluster membership, snapshot, backup and restore.
func TestOperationalEndpoints(t *testing.T) {
	ts := startServer(t, nil)
	if r := ts.do(t, "GET", "/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := ts.do(t, "GET", "/readyz", nil, nil); r.status != 200 {
		t.Fatalf("readyz %d", r.status)
	}
	ts.b.setFailure(&nodeError{code: "not_leader"})
	if r := ts.do(t, "GET", "/readyz", nil, nil); r.status != 503 || !strings.Contains(string(r.body), "no leader") {
		t.Fatalf("readyz without leader: %d %s", r.status, r.body)
	}
	ts.b.setFailure(nil)

	st := ts.must(t, 200, "GET", "/v1/status", nil)
	for _, k := range []string{"id", "state", "leader", "term", "commit_index", "applied_index", "last_snapshot", "nodes", "version"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status without %s: %v", k, st)
		}
	}
	if st["last_snapshot"] != nil || st["leader"].(map[string]any)["http"] != "127.0.0.1:8080" {
		t.Errorf("status: %v", st)
	}

	join := ts.must(t, 200, "POST", "/v1/cluster/join", map[string]any{"id": "n2", "raft": "127.0.0.1:9002", "http": "127.0.0.1:8002"})
	if nodes := join["nodes"].([]any); len(nodes) != 2 || nodes[1].(map[string]any)["suffrage"] != "voter" {
		t.Fatalf("join: %v", join)
	}
	if r := ts.must(t, 200, "DELETE", "/v1/cluster/nodes/n2", nil); len(r["nodes"].([]any)) != 1 {
		t.Fatalf("remove: %v", r)
	}
	if r := ts.do(t, "DELETE", "/v1/cluster/nodes/bad%20id", nil, nil); r.status != 400 {
		t.Fatalf("remove bad id: %d", r.status)
	}
	ts.must(t, 201, "PUT", "/v1/accounts/acme", map[string]any{"name": "Acme"})
	if r := ts.must(t, 200, "POST", "/v1/cluster/snapshot", nil); num(t, r["index"]) != 1 {
		t.Fatalf("snapshot: %v", r)
	}

	backup := ts.do(t, "GET", "/v1/cluster/backup", nil, nil)
	if backup.status != 200 || backup.header.Get("Content-Type") != "application/octet-stream" || len(backup.body) != 130000 {
		t.Fatalf("backup: %d %v %d bytes", backup.status, backup.header, len(backup.body))
	}
	if r := ts.do(t, "POST", "/v1/cluster/restore", backup.body, hdr{"Content-Type": "application/octet-stream"}); r.status != 200 {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	if !bytes.Equal(ts.b.restored, backup.body) {
		t.Fatalf("restore got %d bytes, want %d", len(ts.b.restored), len(backup.body))
	}
	r := ts.do(t, "POST", "/v1/cluster/restore", "not a backup", hdr{"Content-Type": "application/octet-stream"})
	if code, _ := r.errCode(t); r.status != 400 || code != "bad_request" {
		t.Fatalf("bad restore: %d %s", r.status, r.body)
	}

	m := ts.do(t, "GET", "/metrics", nil, nil)
	if m.status != 200 || !bytes.Contains(m.body, []byte(`chatstate_http_requests_total{method="PUT",route="/v1/accounts/{a}",status="201"} 1`)) ||
		!bytes.Contains(m.body, []byte(`chatstate_http_request_duration_seconds_bucket{method="GET",route="/v1/status"`)) {
		t.Fatalf("metrics: %d\n%s", m.status, m.body)
	}
}

// TestRestoreLimit: restore takes bodies over MaxBodyBytes, up to
// MaxRestoreBytes.
func TestRestoreLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxBodyBytes = 1024; c.MaxRestoreBytes = 200000 })
	body := bytes.Repeat([]byte("backup-bytes;"), 10000) // 130,000 bytes
	if r := ts.do(t, "POST", "/v1/cluster/restore", body, hdr{"Content-Type": "application/octet-stream"}); r.status != 200 || len(ts.b.restored) != len(body) {
		t.Fatalf("restore: %d %s (%d bytes)", r.status, r.body, len(ts.b.restored))
	}
	big := bytes.Repeat([]byte("backup-bytes;"), 20000)
	if r := ts.do(t, "POST", "/v1/cluster/restore", big, hdr{"Content-Type": "application/octet-stream"}); r.status != 413 {
		t.Fatalf("too big restore: %d %s", r.status, r.body)
	}
}

// TestAuthentication: the admin token does everything, an account key
// only its account's endpoints, anything else 401 or 403.
func TestAuthentication(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.AdminToken = "s3cret" })
	const a = "/v1/accounts/acme"

	ts.token = ""
	r := ts.do(t, "PUT", a, map[string]any{"name": "Acme"}, nil)
	if code, _ := r.errCode(t); r.status != 401 || code != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %s", r.status, r.body)
	}
	ts.token = "wrong"
	if r := ts.do(t, "GET", a, nil, nil); r.status != 401 {
		t.Fatalf("wrong token: %d", r.status)
	}
	if r := ts.do(t, "GET", "/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz needs no token: %d", r.status)
	}

	ts.token = "s3cret"
	ts.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	ts.must(t, 201, "PUT", "/v1/accounts/other", map[string]any{"name": "Other"})
	key := ts.must(t, 201, "POST", a+"/keys", nil)
	keyID, secret := key["id"].(string), key["key"].(string)
	if !fsm.ValidID(keyID) || len(secret) < 40 {
		t.Fatalf("key: %v", key)
	}

	ts.token = secret
	ts.must(t, 201, "PUT", a+"/operators/ann", map[string]any{"name": "Ann"})
	ts.must(t, 200, "GET", a+"/chats", nil)
	ts.must(t, 200, "GET", a, nil)
	ts.must(t, 200, "GET", "/v1/status", nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/accounts/other"},
		{"GET", "/v1/accounts/other/chats"},
		{"GET", "/v1/accounts"},
		{"PUT", a},
		{"POST", a + "/keys"},
		{"DELETE", a + "/keys/" + keyID},
		{"POST", "/v1/cluster/snapshot"},
		{"GET", "/v1/cluster/backup"},
		{"GET", "/metrics"},
	} {
		var body any
		if c.method == "PUT" {
			body = map[string]any{"name": "x"}
		}
		r := ts.do(t, c.method, c.path, body, nil)
		if code, _ := r.errCode(t); r.status != 403 || code != "forbidden" {
			t.Errorf("%s %s with an account key: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	// Events of another account are forbidden before the stream starts.
	if c := ts.stream(t, "/v1/accounts/other/events", nil); c.status != 403 {
		t.Errorf("events of another account: %d", c.status)
	}

	ts.token = "s3cret"
	if r := ts.do(t, "DELETE", a+"/keys/"+keyID, nil, nil); r.status != 204 || r.header.Get("X-Index") == "" {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := ts.do(t, "DELETE", a+"/keys/"+keyID, nil, nil); r.status != 404 {
		t.Fatalf("revoke again: %d %s", r.status, r.body)
	}
	ts.token = secret
	if r := ts.do(t, "GET", a, nil, nil); r.status != 401 {
		t.Fatalf("revoked key: %d", r.status)
	}

	// Key creation replays without the secret.
	ts.token = "s3cret"
	k1 := ts.do(t, "POST", a+"/keys", nil, hdr{"Idempotency-Key": "k1"})
	k2 := ts.do(t, "POST", a+"/keys", nil, hdr{"Idempotency-Key": "k1"})
	if k1.status != 201 || k2.status != 201 || k2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("key replay: %d %d", k1.status, k2.status)
	}
	m1, m2 := k1.obj(t), k2.obj(t)
	if m1["id"] != m2["id"] || m2["key"] != nil || m1["key"] == nil {
		t.Fatalf("key replay bodies: %v %v", m1, m2)
	}
	ts.token = m1["key"].(string)
	ts.must(t, 200, "GET", a, nil)
}

func TestRequireTokenForAddr(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		insecure    bool
		ok          bool
	}{
		{"127.0.0.1:8080", "", false, true},
		{"[::1]:8080", "", false, true},
		{"localhost:8080", "", false, true},
		{"0.0.0.0:8080", "", false, false},
		{":8080", "", false, false},
		{"10.1.2.3:8080", "", false, false},
		{"10.1.2.3:8080", "t", false, true},
		{"10.1.2.3:8080", "", true, true},
	} {
		err := RequireTokenForAddr(c.addr, c.token, c.insecure)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrTokenRequired)) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestAppendTime: the fast formatter agrees with fsm.Millis.AppendRFC3339.
func TestAppendTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var e encoder
	check := func(m fsm.Millis) {
		want := string(m.AppendRFC3339(nil))
		if got := string(appendTime(nil, m)); got != want {
			t.Fatalf("%d: %s, want %s", m, got, want)
		}
		if got := string(e.appendTime(nil, m)); got != want {
			t.Fatalf("cached %d: %s, want %s", m, got, want)
		}
		if got := string(e.appendTime(nil, m+1)); got != string((m + 1).AppendRFC3339(nil)) {
			t.Fatalf("cached %d: %s", m+1, got)
		}
	}
	for _, m := range []fsm.Millis{0, 1, 999, 1000, 951782400000, 4107542399999, 253402300799999, 253402300800000, -1} {
		check(m)
	}
	for i := 0; i < 200000; i++ {
		check(fsm.Millis(rng.Int64N(253402300800000 + 1000)))
	}
}

// TestConfigValidation: New refuses unusable configurations.
func TestConfigValidation(t *testing.T) {
	for i, mut := range []func(*Config){
		func(c *Config) { c.MaxBodyBytes = 0 },
		func(c *Config) { c.DefaultListLimit = 600 },
		func(c *Config) { c.ApplyTimeout = 0 },
		func(c *Config) { c.SSEPingInterval = 0 },
		func(c *Config) { c.MaxWait = time.Second },
	} {
		cfg := DefaultConfig()
		mut(&cfg)
		if _, err := New(cfg, newTestBackend()); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if _, err := New(DefaultConfig(), nil); err == nil {
		t.Error("nil backend accepted")
	}
}

// TestLimitDefaults: the default list limit is 50 and 500 is accepted.
func TestLimitDefaults(t *testing.T) {
	ts := startServer(t, nil)
	const a = "/v1/accounts/acme"
	ts.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	for i := 0; i < 60; i++ {
		ts.must(t, 201, "POST", a+"/chats", map[string]any{"contact": map[string]any{"type": "visitor"}, "source": "email", "text": fmt.Sprint(i)})
	}
	if n := len(ts.must(t, 200, "GET", a+"/chats", nil)["chats"].([]any)); n != 50 {
		t.Errorf("default page: %d", n)
	}
	if n := len(ts.must(t, 200, "GET", a+"/chats?limit=500", nil)["chats"].([]any)); n != 60 {
		t.Errorf("limit=500: %d", n)
	}
}

// TestShutdownEndsWaits: a read waiting for min_index is answered 503
// shutting_down when the server shuts down, instead of holding it up.
func TestShutdownEndsWaits(t *testing.T) {
	ts := startServer(t, nil)
	ts.must(t, 201, "PUT", "/v1/accounts/acme", map[string]any{"name": "Acme"})
	done := make(chan *resp, 1)
	go func() { done <- ts.do(t, "GET", "/v1/accounts/acme?min_index=1000&wait=60s", nil, nil) }()
	waitFor(t, "the read to wait", func() bool { return ts.b.waits.Load() == 1 })
	start := time.Now()
	ts.stop(t)
	select {
	case r := <-done:
		if code, _ := r.errCode(t); r.status != 503 || code != "shutting_down" || r.header.Get("Retry-After") == "" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting read did not end")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("shutdown took %v", time.Since(start))
	}
}
