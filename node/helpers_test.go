package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/node"
)

// testWriter sends log lines to t.Log until the test ends.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(b[:len(b)-1]))
	}
	return len(b), nil
}

// testLogger returns a logger writing to t.Log (Info and above; Raft's
// debug output drowns the failures otherwise).
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fastConfig returns a config with test timings, for a node in dir.
func fastConfig(t testing.TB, id, dir string, bootstrap bool) node.Config {
	cfg := node.DefaultConfig()
	cfg.ID = id
	cfg.Dir = dir
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "http-" + id + ".test:8080"
	cfg.Bootstrap = bootstrap
	// Short, but with room for a machine busy with other work: a leader
	// that misses its lease steps down and fails the test's writes.
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 200 * time.Millisecond
	cfg.CommitTimeout = 10 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	if t != nil {
		cfg.Logger = testLogger(t).With("test_node", id)
	}
	return cfg
}

// openNode opens a node and closes it when the test ends.
func openNode(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.ID, err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close(%s): %v", cfg.ID, err)
		}
	})
	return n
}

// openLeader opens a bootstrapped single-node cluster and waits until it
// is a ready leader.
func openLeader(t testing.TB, id string) *node.Node {
	t.Helper()
	n := openNode(t, fastConfig(t, id, t.TempDir(), true))
	waitLeader(t, n)
	return n
}

func waitLeader(t testing.TB, n *node.Node) node.LeaderInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := n.WaitLeader(ctx)
	if err != nil {
		t.Fatalf("%s: WaitLeader: %v", n.ID(), err)
	}
	return info
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func header(account string) fsm.Header {
	return fsm.Header{Account: account, Time: fsm.MillisOf(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC))}
}

func upsertAccount(id, name string) *fsm.UpsertAccount {
	return &fsm.UpsertAccount{Header: header(id), Name: name}
}

// mustPropose proposes cmd and fails the test on any error, including a
// business-rule error in the result.
func mustPropose(t testing.TB, n *node.Node, cmd fsm.Command) (fsm.Result, uint64) {
	t.Helper()
	res, index, err := n.Propose(ctxTimeout(t, 10*time.Second), cmd)
	if err != nil {
		t.Fatalf("Propose(%T): %v", cmd, err)
	}
	if res.Err != nil {
		t.Fatalf("Propose(%T): result error %v", cmd, res.Err)
	}
	return res, index
}

// persist returns the state machine's snapshot bytes.
func persist(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	var buf bytesSink
	if err := snap.Persist(&buf); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	snap.Release()
	return buf.data
}

// bytesSink is a raft.SnapshotSink that keeps the bytes.
type bytesSink struct {
	data   []byte
	closed bool
}

func (s *bytesSink) Write(p []byte) (int, error) { s.data = append(s.data, p...); return len(p), nil }
func (s *bytesSink) Close() error                { s.closed = true; return nil }
func (s *bytesSink) ID() string                  { return "test" }
func (s *bytesSink) Cancel() error               { return nil }

var _ io.Writer = (*bytesSink)(nil)

func accountName(t testing.TB, n *node.Node, id string) string {
	t.Helper()
	a, err := n.FSM().Account(id)
	if err != nil {
		t.Fatalf("%s: Account(%s): %v", n.ID(), id, err)
	}
	return a.Name
}

func fmtID(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }

// recorder keeps the messages logged through handlers it wraps.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) wrap(h slog.Handler) slog.Handler { return recordingHandler{h, r} }

func (r *recorder) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

type recordingHandler struct {
	slog.Handler
	rec *recorder
}

func (h recordingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.rec.mu.Lock()
	h.rec.msgs = append(h.rec.msgs, r.Message)
	h.rec.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h recordingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return recordingHandler{h.Handler.WithAttrs(attrs), h.rec}
}

func (h recordingHandler) WithGroup(name string) slog.Handler {
	return recordingHandler{h.Handler.WithGroup(name), h.rec}
}
