package client_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/chatstate/chatstate/client"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  client.Config
	}{
		{"no addresses", client.Config{}},
		{"bad address", client.Config{Addrs: []string{"localhost"}}},
		{"bad encoding", client.Config{Addrs: []string{"127.0.0.1:1"}, Encoding: 7}},
		{"bad consistency", client.Config{Addrs: []string{"127.0.0.1:1"}, Consistency: "eventual"}},
		{"negative timeout", client.Config{Addrs: []string{"127.0.0.1:1"}, Timeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := client.New(tt.cfg); !errors.Is(err, client.ErrInvalidConfig) {
				t.Fatalf("New: err = %v, want ErrInvalidConfig", err)
			}
		})
	}
	c, err := client.New(client.Config{Addrs: []string{"http://127.0.0.1:1/", "127.0.0.1:2"}})
	if err != nil {
		t.Fatalf("New with valid addresses: %v", err)
	}
	if got := c.Addrs(); len(got) != 2 || got[0] != "127.0.0.1:1" {
		t.Fatalf("Addrs = %v", got)
	}
	_ = c.Close()
}

// A follower's 307 is followed to the leader with the same method, path,
// query, body and idempotency key; the leader is then cached, so the next
// write goes to it directly.
func TestRedirectKeepsMethodBodyAndKeyAndCachesLeader(t *testing.T) {
	leader := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 201, chatJSON) })
	follower := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { redirectTo(ctx, leader.Addr) })
	c := newClient(t, []string{follower.Addr})

	var meta client.Meta
	chat, err := c.CreateChat(context.Background(), "acme", client.CreateChatRequest{
		Contact: client.Contact{Type: client.ContactTypeVisitor, Name: client.String("Jane")},
		Source:  client.SourceLandingPage,
		Text:    "Hi",
	}, client.WithMeta(&meta))
	if err != nil {
		t.Fatal(err)
	}
	if chat.ID != 42 || meta.Status != 201 || meta.Node != leader.Addr || meta.Attempts != 2 {
		t.Fatalf("chat %d, meta %+v", chat.ID, meta)
	}
	f, l := follower.Requests(), leader.Requests()
	if len(f) != 1 || len(l) != 1 {
		t.Fatalf("follower got %d requests, leader %d; want 1 and 1", len(f), len(l))
	}
	if l[0].Method != "POST" || l[0].Path != "/v1/accounts/acme/chats" {
		t.Fatalf("leader got %s %s", l[0].Method, l[0].Path)
	}
	if string(l[0].Body) != string(f[0].Body) || !contains(string(l[0].Body), `"text":"Hi"`) {
		t.Fatalf("body changed across the redirect: %q then %q", f[0].Body, l[0].Body)
	}
	if l[0].Key == "" || l[0].Key != f[0].Key || l[0].Key != meta.IdempotencyKey {
		t.Fatalf("idempotency keys: follower %q, leader %q, meta %q", f[0].Key, l[0].Key, meta.IdempotencyKey)
	}
	if c.Leader() != leader.Addr {
		t.Fatalf("cached leader %q, want %q", c.Leader(), leader.Addr)
	}
	if got := c.Addrs(); len(got) != 2 || got[0] != follower.Addr || got[1] != leader.Addr {
		t.Fatalf("known addresses %v, want the follower then the leader it named", got)
	}

	if _, err := c.CloseChat(context.Background(), "acme", 42, "ann"); err != nil {
		t.Fatal(err)
	}
	if n := len(follower.Requests()); n != 1 {
		t.Fatalf("the second write reached the follower (%d requests): leader not cached", n)
	}
	if got := leader.Requests(); len(got) != 2 || got[1].Path != "/v1/accounts/acme/chats/42/close" || got[1].Key == got[0].Key {
		t.Fatalf("leader requests %+v", got)
	}
}

// A redirect with only X-Leader (no Location) is followed too, and a
// redirect loop ends with ErrTooManyRedirects within the deadline.
func TestRedirectXLeaderAndLoop(t *testing.T) {
	leader := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, chatJSON) })
	follower := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Leader", leader.Addr)
		apiError(ctx, 307, "not_leader", "not the leader")
	})
	c := newClient(t, []string{follower.Addr})
	if _, err := c.GetChat(context.Background(), "acme", 42); err != nil {
		t.Fatal(err)
	}
	if got := leader.Requests(); len(got) != 1 || got[0].Path != "/v1/accounts/acme/chats/42" {
		t.Fatalf("leader got %+v", got)
	}

	var self string
	loop := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { redirectTo(ctx, self) })
	self = loop.Addr
	c2 := newClient(t, []string{loop.Addr})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c2.GetChat(ctx, "acme", 1)
	if !errors.Is(err, client.ErrTooManyRedirects) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTooManyRedirects and DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("gave up after %v", el)
	}
}

// 503 leadership_lost is retried with the same idempotency key until the
// write succeeds.
func TestRetryKeepsIdempotencyKey(t *testing.T) {
	var n atomic.Int32
	leader := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) <= 2 {
			ctx.Response.Header.Set("Retry-After", "0")
			apiError(ctx, 503, "leadership_lost", "outcome unknown")
			return
		}
		ctx.Response.Header.Set("X-Index", "77")
		ctx.Response.Header.Set("Idempotent-Replayed", "true")
		answer(ctx, 200, chatJSON)
	})
	c := newClient(t, []string{leader.Addr})
	var meta client.Meta
	if _, err := c.MarkUnread(context.Background(), "acme", 42, "ann", client.WithMeta(&meta)); err != nil {
		t.Fatal(err)
	}
	reqs := leader.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.Key != reqs[0].Key || r.Key == "" {
			t.Fatalf("keys differ across retries: %q vs %q", r.Key, reqs[0].Key)
		}
		if string(r.Body) != `{"operator":"ann"}` {
			t.Fatalf("body %q", r.Body)
		}
	}
	if meta.Index != 77 || !meta.Replayed || meta.Attempts != 3 {
		t.Fatalf("meta %+v", meta)
	}
}

// The caller's key is used as given, from an option or from the context.
func TestCallerIdempotencyKey(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, chatJSON) })
	c := newClient(t, []string{node.Addr})
	ctx := context.Background()
	if _, err := c.MarkRead(ctx, "acme", 1, "ann", client.WithIdempotencyKey("job-17:read")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkRead(client.ContextWithIdempotencyKey(ctx, "from-ctx"), "acme", 1, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkRead(ctx, "acme", 1, "ann", client.WithIdempotencyKey("bad\nkey")); !errors.Is(err, client.ErrInvalidField) {
		t.Fatalf("bad key: err = %v", err)
	}
	if _, err := c.GetChat(ctx, "acme", 1, client.WithIdempotencyKey("ignored"), client.WithRequestID("req-1")); err != nil {
		t.Fatal(err)
	}
	reqs := node.Requests()
	if len(reqs) != 3 || reqs[0].Key != "job-17:read" || reqs[1].Key != "from-ctx" || reqs[2].Key != "" {
		t.Fatalf("keys: %+v", reqs)
	}
	if reqs[2].RequestID != "req-1" || reqs[0].RequestID != "" {
		t.Fatalf("request ids %q %q", reqs[0].RequestID, reqs[2].RequestID)
	}
}

// A write without a key is never re-sent: not on 503, and not when the
// connection drops after the request went out (fasthttp's own retry
// included).
func TestNoRetryWithoutKey(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Retry-After", "0")
		apiError(ctx, 503, "leadership_lost", "outcome unknown")
	})
	c := newClient(t, []string{node.Addr})
	_, err := c.MarkRead(context.Background(), "acme", 1, "ann", client.WithoutIdempotencyKey())
	if !errors.Is(err, client.ErrLeadershipLost) {
		t.Fatalf("err = %v, want ErrLeadershipLost", err)
	}
	if reqs := node.Requests(); len(reqs) != 1 || reqs[0].Key != "" {
		t.Fatalf("requests %+v, want one without a key", reqs)
	}

	// A server that reads the request and drops the connection.
	dropper := newDroppingServer(t, func(int) bool { return true })
	c2 := newClient(t, []string{dropper.addr})
	_, err = c2.CreateChat(context.Background(), "acme", client.CreateChatRequest{
		Contact: client.Contact{Type: client.ContactTypeVisitor}, Source: client.SourceEmail, Text: "x",
	}, client.WithoutIdempotencyKey())
	if err == nil {
		t.Fatal("write to a dropping server succeeded")
	}
	if got := dropper.requests.Load(); got != 1 {
		t.Fatalf("the keyless write was sent %d times, want 1", got)
	}

	// A connection that could not be made sent nothing: the keyless write
	// moves on to the next address.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	live := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, chatJSON) })
	c3 := newClient(t, []string{deadAddr, live.Addr})
	for range 3 {
		if _, err := c3.MarkRead(context.Background(), "acme", 1, "ann", client.WithoutIdempotencyKey()); err != nil {
			t.Fatalf("keyless write with a dead first address: %v", err)
		}
	}
}

// With a key, a write whose connection dropped is re-sent with the same
// key and succeeds.
func TestRetryAfterDroppedConnection(t *testing.T) {
	dropper := newDroppingServer(t, func(i int) bool { return i < 3 })
	c := newClient(t, []string{dropper.addr})
	var meta client.Meta
	if _, err := c.MarkRead(context.Background(), "acme", 1, "ann", client.WithMeta(&meta)); err != nil {
		t.Fatal(err)
	}
	keys := dropper.keys()
	if len(keys) != 4 {
		t.Fatalf("%d deliveries, want 4", len(keys))
	}
	for _, k := range keys {
		if k != meta.IdempotencyKey || k == "" {
			t.Fatalf("keys %v, meta key %q", keys, meta.IdempotencyKey)
		}
	}
}

// Connection errors move on to the next address; the node that answered
// a write becomes the cached leader.
func TestConnectionErrorTriesNextAddress(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	live := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		answer(ctx, 200, `{"id":"acme","name":"Acme","created_at":"2026-11-23T18:00:00.000Z"}`)
	})
	c := newClient(t, []string{deadAddr, live.Addr})
	for range 4 {
		acc, err := c.PutAccount(context.Background(), "acme", "Acme")
		if err != nil {
			t.Fatal(err)
		}
		if acc.Name != "Acme" || !acc.CreatedAt.Equal(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)) {
			t.Fatalf("account %+v", acc)
		}
	}
	if c.Leader() != live.Addr {
		t.Fatalf("leader %q, want %q", c.Leader(), live.Addr)
	}
	if n := len(live.Requests()); n != 4 {
		t.Fatalf("live node got %d requests, want 4", n)
	}
}

// Backoff never outlives the caller's deadline, and a Retry-After longer
// than the time left ends the call at once.
func TestBackoffBoundedByDeadline(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		budget     time.Duration
		maxElapsed time.Duration
		minReqs    int
	}{
		{"short retry-after", "0", 300 * time.Millisecond, 1500 * time.Millisecond, 3},
		{"retry-after beyond the deadline", "5", 300 * time.Millisecond, 1000 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
				ctx.Response.Header.Set("Retry-After", tt.retryAfter)
				apiError(ctx, 503, "no_leader", "no leader is known")
			})
			c := newClient(t, []string{node.Addr})
			ctx, cancel := context.WithTimeout(context.Background(), tt.budget)
			defer cancel()
			start := time.Now()
			_, err := c.PutAccount(ctx, "acme", "Acme")
			elapsed := time.Since(start)
			if !errors.Is(err, client.ErrNoLeader) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want ErrNoLeader and DeadlineExceeded", err)
			}
			var apiErr *client.Error
			if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Message != "no leader is known" {
				t.Fatalf("errors.As: %+v", apiErr)
			}
			if elapsed > tt.maxElapsed {
				t.Fatalf("returned after %v, budget %v", elapsed, tt.budget)
			}
			if n := len(node.Requests()); n < tt.minReqs {
				t.Fatalf("%d attempts, want at least %d", n, tt.minReqs)
			}
		})
	}

	// Config.Timeout bounds a call whose context has no deadline.
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { apiError(ctx, 503, "shutting_down", "bye") })
	c := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.Timeout = 200 * time.Millisecond })
	start := time.Now()
	if _, err := c.GetAccount(context.Background(), "acme"); !errors.Is(err, client.ErrShuttingDown) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Fatalf("Timeout 200ms, returned after %v", el)
	}
}

// Errors decode in JSON and MessagePack into *Error, matched by code.
func TestErrorDecoding(t *testing.T) {
	type body struct {
		Error struct {
			Code    string  `msgpack:"code"`
			Message string  `msgpack:"message"`
			Field   *string `msgpack:"field"`
		} `msgpack:"error"`
	}
	tests := []struct {
		status   int
		code     string
		field    string
		sentinel error
	}{
		{400, "bad_request", "", client.ErrBadRequest},
		{400, "invalid_field", "contact.type", client.ErrInvalidField},
		{401, "unauthorized", "", client.ErrUnauthorized},
		{403, "forbidden", "", client.ErrForbidden},
		{404, "not_found", "", client.ErrNotFound},
		{405, "method_not_allowed", "", client.ErrMethodNotAllowed},
		{409, "chat_closed", "", client.ErrChatClosed},
		{409, "chat_unassigned", "", client.ErrChatUnassigned},
		{409, "not_participant", "", client.ErrNotParticipant},
		{409, "already_assigned", "", client.ErrAlreadyAssigned},
		{409, "idempotency_key_reused", "", client.ErrIdempotencyKeyReused},
		{413, "payload_too_large", "", client.ErrPayloadTooLarge},
		{415, "unsupported_media_type", "", client.ErrUnsupportedMediaType},
		{504, "timeout", "", client.ErrTimeout},
	}
	for _, enc := range []client.Encoding{client.JSON, client.MessagePack} {
		for _, tt := range tests {
			t.Run(enc.String()+"/"+tt.code, func(t *testing.T) {
				node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
					ctx.Response.Header.Set("X-Index", "9")
					ctx.SetStatusCode(tt.status)
					if string(ctx.Request.Header.Peek("Accept")) == "application/msgpack" {
						var b body
						b.Error.Code, b.Error.Message = tt.code, "what is wrong"
						if tt.field != "" {
							b.Error.Field = &tt.field
						}
						raw, _ := msgpack.Marshal(&b)
						ctx.SetContentType("application/msgpack")
						ctx.SetBody(raw)
						return
					}
					field := "null"
					if tt.field != "" {
						field = strconv.Quote(tt.field)
					}
					answer(ctx, tt.status, `{"error":{"code":"`+tt.code+`","message":"what is wrong","field":`+field+`}}`)
				})
				c := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.Encoding = enc })
				// A read with min_index, whose 504 is final like the
				// other codes (a write's 504 is retried).
				_, err := c.GetChat(context.Background(), "acme", 1, client.WithMinIndex(5, 0))
				if !errors.Is(err, tt.sentinel) {
					t.Fatalf("err = %v, want %v", err, tt.sentinel)
				}
				var e *client.Error
				if !errors.As(err, &e) || e.Status != tt.status || e.Message != "what is wrong" || e.Field != tt.field || e.Index != 9 {
					t.Fatalf("error %+v", e)
				}
				if errors.Is(err, client.ErrChatClosed) != (tt.code == "chat_closed") {
					t.Fatalf("Is matched another code")
				}
			})
		}
	}

	// A body that is not the API's (fasthttp's own 413) still maps by
	// status.
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(413)
		ctx.SetBodyString("Request Entity Too Large")
	})
	c := newClient(t, []string{node.Addr})
	_, err := c.SendMessage(context.Background(), "acme", 1, client.Customer(), "x")
	var e *client.Error
	if !errors.Is(err, client.ErrPayloadTooLarge) || !errors.As(err, &e) || e.Message != "Request Entity Too Large" {
		t.Fatalf("err = %v", err)
	}
	// Field-specific sentinels.
	if !errors.Is(&client.Error{Code: "invalid_field", Field: "limit"}, &client.Error{Code: "invalid_field", Field: "limit"}) ||
		errors.Is(&client.Error{Code: "invalid_field", Field: "cursor"}, &client.Error{Code: "invalid_field", Field: "limit"}) {
		t.Fatal("field matching is wrong")
	}
}

// Ids are checked before a path is built: an empty or malformed id never
// reaches the network.
func TestPathIDsValidated(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, "{}") })
	c := newClient(t, []string{node.Addr})
	ctx := context.Background()
	checks := []struct {
		field string
		err   error
	}{
		{"account_id", func() error { _, err := c.GetAccount(ctx, ""); return err }()},
		{"account_id", func() error { _, err := c.ListChats(ctx, "a/b", client.ListChatsRequest{}); return err }()},
		{"operator_id", func() error { return c.DeleteOperator(ctx, "acme", "-x") }()},
		{"chat_id", func() error { _, err := c.GetChat(ctx, "acme", 0); return err }()},
	}
	for _, ch := range checks {
		var e *client.Error
		if !errors.As(ch.err, &e) || e.Code != "invalid_field" || e.Field != ch.field {
			t.Errorf("err = %v, want invalid_field %s", ch.err, ch.field)
		}
	}
	if n := len(node.Requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestClosedClient(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, chatJSON) })
	c := newClient(t, []string{node.Addr})
	if _, err := c.GetChat(context.Background(), "acme", 1); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	_ = c.Close()
	if _, err := c.GetChat(context.Background(), "acme", 1); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// droppingServer is a raw TCP server: it reads one HTTP request per
// connection, records its Idempotency-Key, and either closes the
// connection without answering (drop(i) true for the i-th request, from
// 0) or answers 200 with a chat.
type droppingServer struct {
	addr     string
	requests atomic.Int32
	keyCh    chan string
}

func newDroppingServer(t *testing.T, drop func(i int) bool) *droppingServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &droppingServer{addr: ln.Addr().String(), keyCh: make(chan string, 64)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn, drop)
		}
	}()
	return s
}

func (s *droppingServer) serve(conn net.Conn, drop func(int) bool) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		var req fasthttp.Request
		if err := req.Read(br); err != nil {
			return
		}
		i := int(s.requests.Add(1)) - 1
		select {
		case s.keyCh <- string(req.Header.Peek("Idempotency-Key")):
		default:
		}
		if drop(i) {
			return
		}
		var resp fasthttp.Response
		resp.SetStatusCode(200)
		resp.Header.SetContentType("application/json")
		resp.SetBodyString(chatJSON)
		bw := bufio.NewWriter(conn)
		if err := resp.Write(bw); err != nil || bw.Flush() != nil {
			return
		}
	}
}

func (s *droppingServer) keys() []string {
	var out []string
	for {
		select {
		case k := <-s.keyCh:
			out = append(out, k)
		default:
			return out
		}
	}
}

// A write's 504 leaves its outcome unknown: it is retried with its key. A
// read's 504 for min_index is the answer.
func TestTimeoutRetries(t *testing.T) {
	var writes atomic.Int32
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.IsGet() {
			apiError(ctx, 504, "timeout", "min_index 99 not reached within 0s")
			return
		}
		if writes.Add(1) == 1 {
			apiError(ctx, 504, "timeout", "not committed within the apply timeout")
			return
		}
		answer(ctx, 200, chatJSON)
	})
	c := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.RetryBackoffMin = time.Millisecond })
	var meta client.Meta
	if _, err := c.CloseChat(context.Background(), "acme", 42, "ann", client.WithMeta(&meta)); err != nil {
		t.Fatal(err)
	}
	reqs := node.Requests()
	if len(reqs) != 2 || reqs[0].Key != reqs[1].Key || meta.Attempts != 2 {
		t.Fatalf("requests %+v, meta %+v", reqs, meta)
	}
	_, err := c.GetChat(context.Background(), "acme", 42, client.WithMinIndex(99, 0))
	if !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("min_index read: %v", err)
	}
	if n := len(node.Requests()); n != 3 {
		t.Fatalf("the min_index read was sent %d times", n-2)
	}
}

// Stale reads spread over the nodes; leader reads stay on the leader.
func TestStaleReadsSpread(t *testing.T) {
	a := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, chatJSON) })
	b := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, chatJSON) })
	c := newClient(t, []string{a.Addr, b.Addr})
	for range 4 {
		if _, err := c.GetChat(context.Background(), "acme", 42, client.WithConsistency(client.ConsistencyStale)); err != nil {
			t.Fatal(err)
		}
	}
	if na, nb := len(a.Requests()), len(b.Requests()); na != 2 || nb != 2 {
		t.Fatalf("stale reads: %d on a, %d on b; want 2 and 2", na, nb)
	}
	if c.Leader() != "" {
		t.Fatalf("a stale read made %s the leader", c.Leader())
	}
	for range 4 {
		if _, err := c.GetChat(context.Background(), "acme", 42); err != nil {
			t.Fatal(err)
		}
	}
	leader := c.Leader()
	if leader == "" {
		t.Fatal("no leader cached after leader reads")
	}
	if na, nb := len(a.Requests()), len(b.Requests()); (leader == a.Addr && na != 6) || (leader == b.Addr && nb != 6) {
		t.Fatalf("leader reads went to both nodes: %d on a, %d on b", na, nb)
	}
}

// Ready reports a node that is not ready with the server's reasons, after
// one attempt: it is a probe of that node, not a call to retry.
func TestReadyNotReady(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Retry-After", "1")
		ctx.SetStatusCode(503)
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("no leader known\napplied index 7 behind commit index 9\n")
	})
	c := newClient(t, []string{"127.0.0.1:1"})
	err := c.Ready(context.Background(), node.Addr)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 503 || !errors.Is(err, client.ErrUnavailable) ||
		e.Message != "no leader known\napplied index 7 behind commit index 9" || e.RetryAfter != time.Second {
		t.Fatalf("err = %#v", err)
	}
	if n := len(node.Requests()); n != 1 {
		t.Fatalf("%d probes, want 1", n)
	}
	if err := c.Health(context.Background(), node.Addr); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Health: %v", err)
	}
}

// Discover adds the members named by /v1/status to the addresses tried,
// so a client given one address fails over to the others.
func TestDiscover(t *testing.T) {
	other := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { answer(ctx, 200, chatJSON) })
	var seed *fakeNode
	seed = newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/v1/status" {
			answer(ctx, 200, `{"id":"n1","state":"follower","leader":null,"term":1,"commit_index":1,"applied_index":1,"last_snapshot":null,`+
				`"nodes":[{"id":"n1","http":"`+seed.Addr+`","raft":"x:1","suffrage":"voter"},{"id":"n2","http":"`+other.Addr+`","raft":"x:2","suffrage":"voter"},{"id":"n3","http":"","raft":"x:3","suffrage":"nonvoter"}],"version":"dev"}`)
			return
		}
		ctx.Response.Header.Set("Retry-After", "0")
		apiError(ctx, 503, "shutting_down", "bye")
	})
	c := newClient(t, []string{seed.Addr})
	addrs, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0] != seed.Addr || addrs[1] != other.Addr {
		t.Fatalf("addresses %v", addrs)
	}
	if _, err := c.GetChat(context.Background(), "acme", 42); err != nil {
		t.Fatalf("no failover to the discovered node: %v", err)
	}
}
