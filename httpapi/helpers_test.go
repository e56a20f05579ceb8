package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/chatstate/chatstate/fsm"
)

// testBackend applies commands straight to an *fsm.FSM, one log entry per
// command, so that the API is tested without Raft.
type testBackend struct {
	mu    sync.Mutex
	f     *fsm.FSM
	index uint64

	// fail, when set, is returned by Propose, LeaderRead and
	// LinearizableRead.
	fail atomic.Pointer[error]
	// panicStatus makes Status panic.
	panicStatus atomic.Bool
	// proposals counts commands that reached Propose; waits counts
	// WaitForIndex calls in progress.
	proposals atomic.Int64
	waits     atomic.Int64
	nodes     []NodeInfo
	restored  []byte
}

func newTestBackend() *testBackend {
	return &testBackend{f: fsm.New(fsm.DefaultConfig())}
}

func newTestBackendWith(cfg fsm.Config) *testBackend {
	return &testBackend{f: fsm.New(cfg)}
}

func (b *testBackend) setFailure(err error) {
	if err == nil {
		b.fail.Store(nil)
		return
	}
	b.fail.Store(&err)
}

func (b *testBackend) failure() error {
	if p := b.fail.Load(); p != nil {
		return *p
	}
	return nil
}

func (b *testBackend) Propose(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error) {
	if err := b.failure(); err != nil {
		return fsm.Result{}, 0, err
	}
	b.proposals.Add(1)
	data, err := fsm.EncodeCommand(cmd)
	if err != nil {
		return fsm.Result{}, 0, err
	}
	return b.apply(data)
}

func (b *testBackend) apply(data []byte) (fsm.Result, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index++
	out := b.f.Apply(&raft.Log{Index: b.index, Term: 1, Type: raft.LogCommand, Data: data})
	results, ok := out.([]fsm.Result)
	if !ok || len(results) != 1 {
		return fsm.Result{}, 0, fmt.Errorf("apply returned %T", out)
	}
	return results[0], b.index, nil
}

func (b *testBackend) FSM() *fsm.FSM { return b.f }

func (b *testBackend) LeaderRead(ctx context.Context) error       { return b.failure() }
func (b *testBackend) LinearizableRead(ctx context.Context) error { return b.failure() }

func (b *testBackend) WaitForIndex(ctx context.Context, index uint64) error {
	b.waits.Add(1)
	defer b.waits.Add(-1)
	for {
		ch := b.f.Applied()
		if b.f.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *testBackend) Status() NodeStatus {
	if b.panicStatus.Load() {
		panic("status exploded")
	}
	applied := b.f.AppliedIndex()
	return NodeStatus{
		ID: "n1", State: "leader",
		Leader: &NodeInfo{ID: "n1", HTTP: "127.0.0.1:8080", Raft: "127.0.0.1:8089"},
		Term:   1, CommitIndex: applied, AppliedIndex: applied,
		Nodes:   append([]NodeInfo{{ID: "n1", HTTP: "127.0.0.1:8080", Raft: "127.0.0.1:8089", Suffrage: "voter"}}, b.nodes...),
		Version: "test",
	}
}

func (b *testBackend) Ready(ctx context.Context) []string {
	if err := b.failure(); err != nil {
		return []string{"no leader is known"}
	}
	return nil
}

func (b *testBackend) Snapshot(ctx context.Context) (uint64, error) {
	if err := b.failure(); err != nil {
		return 0, err
	}
	return b.f.AppliedIndex(), nil
}

type testBackup struct {
	data   []byte
	closed *atomic.Bool
}

func (t testBackup) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(t.data)
	return int64(n), err
}

func (t testBackup) Close() error { t.closed.Store(true); return nil }

func (b *testBackend) Backup(ctx context.Context) (BackupStream, error) {
	if err := b.failure(); err != nil {
		return nil, err
	}
	return testBackup{data: bytes.Repeat([]byte("backup-bytes;"), 10000), closed: new(atomic.Bool)}, nil
}

func (b *testBackend) Restore(ctx context.Context, r io.Reader) (uint64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(data, []byte("backup-bytes;")) {
		return 0, fmt.Errorf("not a backup: %w", ErrInvalidBackup)
	}
	b.mu.Lock()
	b.restored = data
	b.mu.Unlock()
	return b.f.AppliedIndex(), nil
}

func (b *testBackend) Join(ctx context.Context, n NodeInfo) error {
	if err := b.failure(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n.Suffrage = "voter"
	b.nodes = append(b.nodes, n)
	return nil
}

func (b *testBackend) RemoveNode(ctx context.Context, id string) error {
	if err := b.failure(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, n := range b.nodes {
		if n.ID == id {
			b.nodes = append(b.nodes[:i], b.nodes[i+1:]...)
			return nil
		}
	}
	return nil
}

// nodeError is shaped like the node package's errors.
type nodeError struct {
	code   string
	leader string
}

func (e *nodeError) Error() string      { return "node: " + e.code }
func (e *nodeError) ErrorCode() string  { return e.code }
func (e *nodeError) LeaderHTTP() string { return e.leader }

// testServer is a Server on 127.0.0.1:0 with its backend.
type testServer struct {
	t       *testing.T
	s       *Server
	b       *testBackend
	base    string
	client  *http.Client
	logs    *syncBuffer
	token   string // sent as Bearer when set
	stopped atomic.Bool
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func startServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	return startServerWith(t, newTestBackend(), mutate)
}

func startServerWith(t testing.TB, b *testBackend, mutate func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.SSEPingInterval = 50 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	transport := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 5 * time.Second}
	ts := &testServer{
		s: s, b: b, base: "http://" + ln.Addr().String(), logs: logs,
		client: &http.Client{
			Transport:     transport,
			Timeout:       20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if tt, ok := t.(*testing.T); ok {
		ts.t = tt
	}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		ts.stop(t)
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return ts
}

func (ts *testServer) stop(t testing.TB) {
	if ts.stopped.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// resp is a received response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// obj decodes the body as a JSON or MessagePack object.
func (r *resp) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/msgpack") {
		if err := msgpack.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("msgpack body: %v (%x)", err, r.body)
		}
		return m
	}
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("JSON body: %v (%q)", err, r.body)
	}
	return m
}

// errCode returns the error code and field of an error body.
func (r *resp) errCode(t testing.TB) (code string, field any) {
	t.Helper()
	e, ok := r.obj(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	msg, _ := e["message"].(string)
	if msg == "" {
		t.Errorf("error without a message: %s", r.body)
	}
	return e["code"].(string), e["field"]
}

type hdr map[string]string

// do sends a request. body is sent as is when it is a string or []byte,
// else JSON-encoded (nil: no body).
func (ts *testServer) do(t testing.TB, method, path string, body any, headers hdr) *resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		p, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(p)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ts.token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	p, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: p}
}

// must sends a request and fails the test unless the status is want.
func (ts *testServer) must(t testing.TB, want int, method, path string, body any) map[string]any {
	t.Helper()
	r := ts.do(t, method, path, body, nil)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.obj(t)
}

// num reads a JSON number (json.Number) or MessagePack integer as int64.
func num(t testing.TB, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			t.Fatalf("not an integer: %v", n)
		}
		return i
	case int8:
		return int64(n)
	case int16:
		return int64(n)
	case int32:
		return int64(n)
	case int64:
		return n
	case uint8:
		return int64(n)
	case uint16:
		return int64(n)
	case uint32:
		return int64(n)
	case uint64:
		return int64(n)
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

// ids lists the "id" of each object of a list.
func ids(t testing.TB, list any) []int64 {
	t.Helper()
	out := []int64{}
	for _, c := range list.([]any) {
		out = append(out, num(t, c.(map[string]any)["id"]))
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errTest = errors.New("test error")
