package client_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/client"
)

// recorded is one request a fake node received.
type recorded struct {
	Method      string
	URI         string // path and query
	Path        string
	Query       map[string]string
	Key         string // Idempotency-Key
	ContentType string
	Accept      string
	Auth        string
	LastEventID string
	RequestID   string
	Body        []byte
}

// fakeNode is an in-process fasthttp server on 127.0.0.1:0 that records
// every request and answers with its handler.
type fakeNode struct {
	Addr    string
	ln      net.Listener
	srv     *fasthttp.Server
	mu      sync.Mutex
	reqs    []recorded
	arrived chan recorded // every request, for tests that wait on one
}

func newFakeNode(t testing.TB, handler fasthttp.RequestHandler) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{Addr: ln.Addr().String(), ln: ln, arrived: make(chan recorded, 1024)}
	f.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			r := recorded{
				Method:      string(ctx.Method()),
				URI:         string(ctx.RequestURI()),
				Path:        string(ctx.Path()),
				Query:       map[string]string{},
				Key:         string(ctx.Request.Header.Peek("Idempotency-Key")),
				ContentType: string(ctx.Request.Header.ContentType()),
				Accept:      string(ctx.Request.Header.Peek("Accept")),
				Auth:        string(ctx.Request.Header.Peek("Authorization")),
				LastEventID: string(ctx.Request.Header.Peek("Last-Event-ID")),
				RequestID:   string(ctx.Request.Header.Peek("X-Request-Id")),
				Body:        append([]byte(nil), ctx.PostBody()...),
			}
			for k, v := range ctx.QueryArgs().All() {
				r.Query[string(k)] = string(v)
			}
			f.mu.Lock()
			f.reqs = append(f.reqs, r)
			f.mu.Unlock()
			select {
			case f.arrived <- r:
			default:
			}
			handler(ctx)
		},
		CloseOnShutdown: true,
		Logger:          quietLogger{},
	}
	go func() { _ = f.srv.Serve(ln) }()
	t.Cleanup(f.Stop)
	return f
}

// Stop closes the listener and the connections; later connections are
// refused.
func (f *fakeNode) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = f.srv.ShutdownWithContext(ctx)
	_ = f.ln.Close()
}

func (f *fakeNode) Requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// next waits for the next request to arrive.
func (f *fakeNode) next(t *testing.T) recorded {
	t.Helper()
	select {
	case r := <-f.arrived:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("no request reached %s within 5s", f.Addr)
		return recorded{}
	}
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// newClient returns a client for addrs with test-friendly timings.
func newClient(t *testing.T, addrs []string, tweak ...func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Addrs = addrs
	cfg.RetryBackoffMin = 5 * time.Millisecond
	cfg.RetryBackoffMax = 50 * time.Millisecond
	cfg.AttemptTimeout = 2 * time.Second
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// answer writes a JSON body with status.
func answer(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(body)
}

// apiError writes the API's error body.
func apiError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	answer(ctx, status, `{"error":{"code":"`+code+`","message":"`+message+`","field":null}}`)
}

// redirectTo answers like a follower: 307 to the same path on leader.
func redirectTo(ctx *fasthttp.RequestCtx, leader string) {
	ctx.Response.Header.Set("Location", "http://"+leader+string(ctx.RequestURI()))
	ctx.Response.Header.Set("X-Leader", leader)
	apiError(ctx, 307, "not_leader", "this node is not the leader")
}

// sseWriter writes an SSE stream for tests.
type sseWriter struct{ w *bufio.Writer }

func (s sseWriter) event(seq int64, typ, data string) bool {
	_, err := s.w.WriteString("id: " + itoa(seq) + "\nevent: " + typ + "\ndata: " + data + "\n\n")
	return err == nil && s.w.Flush() == nil
}

func (s sseWriter) ping() bool {
	_, err := s.w.WriteString(": ping\n\n")
	return err == nil && s.w.Flush() == nil
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// chatJSON is a chat as the API renders it.
const chatJSON = `{"id":42,"status":"active","contact":{"id":"v-93f","type":"visitor","name":"Jane","email":null},` +
	`"source":"landing_page","assignee":"ann","participants":["bob"],"unread":true,` +
	`"created_at":"2026-11-23T18:00:00.123Z","last_activity_at":"2026-11-23T18:05:00.456Z",` +
	`"waiting_since":"2026-11-23T18:04:00.000Z","first_reply_at":null,"closed_at":null,"closed_by":null,` +
	`"message_count":3,"last_message":{"seq":3,"author":{"type":"customer"},"text":"hello?","at":"2026-11-23T18:05:00.456Z"}}`

func eventJSON(seq int64) string {
	return `{"seq":` + itoa(seq) + `,"type":"chat.unread","at":"2026-11-23T18:05:00.456Z","chat":` + chatJSON + `}`
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
