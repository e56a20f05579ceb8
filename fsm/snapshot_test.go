package fsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
)

func optStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func renderChat(c *fsm.Chat) string {
	if c == nil {
		return "<nil>"
	}
	lm := "<nil>"
	if c.LastMessage != nil {
		lm = fmt.Sprintf("%+v", *c.LastMessage)
	}
	return fmt.Sprintf("chat{%d %s unread=%v %s contact=%s/%s/%s/%s assignee=%q parts=%q created=%d act=%d wait=%d reply=%d closed=%d/%q n=%d last=%s transcript=%d}",
		c.ID, c.Status, c.Unread, c.Source, c.Contact.Type, optStr(c.Contact.ID), optStr(c.Contact.Name), optStr(c.Contact.Email),
		c.Assignee, c.Participants(), c.CreatedAt, c.LastActivityAt, c.WaitingSince, c.FirstReplyAt, c.ClosedAt, c.ClosedBy,
		c.MessageCount, lm, len(c.Transcript()))
}

func renderEvent(e fsm.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s at=%d chat=%s before=%s", e.Seq, e.Type, e.At, renderChat(e.Chat), renderChat(e.Before))
	if e.Message != nil {
		fmt.Fprintf(&b, " msg=%+v", *e.Message)
	}
	if e.Operator != nil {
		fmt.Fprintf(&b, " op=%s/%s/%s/%d", e.Operator.ID, e.Operator.Name, optStr(e.Operator.Email), e.Operator.CreatedAt)
	}
	if e.Notification != nil {
		fmt.Fprintf(&b, " notif=%+v", *e.Notification)
	}
	if e.RemovedOperator != "" {
		fmt.Fprintf(&b, " removed=%s", e.RemovedOperator)
	}
	return b.String()
}

// dump renders everything the read API shows of f.
func dump(t testing.TB, f *fsm.FSM) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "applied %d\n", f.AppliedIndex())
	for _, n := range f.Nodes() {
		fmt.Fprintf(&b, "node %+v\n", n)
	}
	for _, a := range f.Accounts() {
		fmt.Fprintf(&b, "account %+v\n", *a)
		ops, _ := f.Operators(a.ID)
		for _, o := range ops {
			fmt.Fprintf(&b, "operator %s %s %s %d active=%d\n", o.ID, o.Name, optStr(o.Email), o.CreatedAt, o.ActiveChats)
			p, _ := f.Notifications(a.ID, o.ID, 0, 100000)
			fmt.Fprintf(&b, "  unread %d\n", p.UnreadCount)
			for _, n := range p.Notifications {
				fmt.Fprintf(&b, "  %+v\n", n)
			}
		}
		for id := int64(1); ; id++ {
			c, err := f.Chat(a.ID, id)
			if err != nil {
				break
			}
			fmt.Fprintf(&b, "%s\n", renderChat(c))
			for _, m := range c.Transcript() {
				fmt.Fprintf(&b, "  %+v\n", m)
			}
		}
		for _, st := range []fsm.Status{fsm.StatusActive, fsm.StatusClosed} {
			c, _ := f.Counts(a.ID, fsm.CountQuery{Status: st})
			fmt.Fprintf(&b, "counts %+v\n", c)
			p, _ := f.ListChats(a.ID, fsm.ListQuery{Filter: fsm.ChatFilter{Status: st}, Limit: 500})
			for _, c := range p.Chats {
				fmt.Fprintf(&b, " %d", c.ID)
			}
			b.WriteString("\n")
		}
		ev, err := f.Events(a.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "events up to %d\n", ev.LastSeq)
		for _, e := range ev.Events {
			fmt.Fprintf(&b, "%s\n", renderEvent(e))
		}
	}
	return b.String()
}

// recordedWorkload runs a random workload over two accounts and returns
// the harness with its recorded log.
func recordedWorkload(t testing.TB, cfg fsm.Config, seed int64, n int) *harness {
	h := newHarnessConfig(t, cfg)
	ops := []string{"ann", "bob", "cid", "dee"}
	rng := rand.New(rand.NewSource(seed))
	h.setup(ops...)
	h.ok(&fsm.SetNode{NodeID: "n1", Raft: "127.0.0.1:1", HTTP: "127.0.0.1:2"})
	h.ok(&fsm.CreateKey{KeyID: "k1", Hash: [32]byte{1, 2, 3}})
	h.acct = "beta"
	h.setup(ops[:2]...)
	for i := 0; i < 4; i++ {
		h.acct = []string{"acme", "beta"}[i%2]
		randomWorkload(h, rng, n/4, ops)
	}
	return h
}

// smallConfig keeps retention small so that the tests cross every
// trimming boundary.
func smallConfig() fsm.Config {
	return fsm.Config{EventWindow: 1500, IdempotencyKeys: 5, IdempotencyTTL: 10 * time.Second, InboxSize: 7}
}

func TestSnapshotsAreDeterministic(t *testing.T) {
	for _, cfg := range []fsm.Config{fsm.DefaultConfig(), smallConfig()} {
		h := recordedWorkload(t, cfg, 7, 2400)
		other := fsm.New(cfg)
		replay(other, h.log, 0, len(h.log))
		a, b := snapshotBytes(t, h.f), snapshotBytes(t, other)
		if !bytes.Equal(a, b) {
			t.Fatalf("two FSMs fed the same log: snapshots of %d and %d bytes differ", len(a), len(b))
		}
		if dump(t, h.f) != dump(t, other) {
			t.Fatal("two FSMs fed the same log read differently")
		}
	}
}

func TestRestoreThenContinueMatchesContinuing(t *testing.T) {
	for _, cfg := range []fsm.Config{fsm.DefaultConfig(), smallConfig()} {
		h := recordedWorkload(t, cfg, 11, 2400)
		for _, cut := range []int{1, len(h.log) / 3, len(h.log) - 1} {
			// Reading everything back is the slow part; once is enough.
			compareReads := cut == len(h.log)/3
			first := fsm.New(cfg)
			replay(first, h.log, 0, cut)
			snap := snapshotBytes(t, first)

			restored := fsm.New(cfg)
			// Some state first, to check that Restore replaces it all.
			replay(restored, h.log, 0, 3)
			if err := restored.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
				t.Fatalf("cut %d: restore: %v", cut, err)
			}
			if restored.AppliedIndex() != uint64(cut) {
				t.Fatalf("cut %d: AppliedIndex %d after restore", cut, restored.AppliedIndex())
			}
			if got := snapshotBytes(t, restored); !bytes.Equal(got, snap) {
				t.Fatalf("cut %d: snapshot of the restored state differs", cut)
			}
			if compareReads && dump(t, restored) != dump(t, first) {
				t.Fatalf("cut %d: restored state reads differently", cut)
			}
			replay(first, h.log, cut, len(h.log))
			replay(restored, h.log, cut, len(h.log))
			if !bytes.Equal(snapshotBytes(t, first), snapshotBytes(t, restored)) {
				t.Fatalf("cut %d: continuing after restore gives a different snapshot", cut)
			}
			if compareReads && dump(t, first) != dump(t, restored) {
				t.Fatalf("cut %d: continuing after restore reads differently", cut)
			}
		}
	}
}

func TestSnapshotIsFrozenWhileApplyGoesOn(t *testing.T) {
	h := recordedWorkload(t, fsm.DefaultConfig(), 3, 1500)
	want := snapshotBytes(t, h.f)
	s, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(4))
	randomWorkload(h, rng, 800, []string{"ann", "bob", "cid", "dee"})
	sink := &memSink{}
	if err := s.Persist(sink); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sink.Bytes(), want) {
		t.Fatal("a snapshot persisted after more applies differs from one persisted at once")
	}
}

// TestPacedPersistWritesTheSameBytes persists while commands apply, so
// that Persist's encoders rest (Config.PersistShare) between runs of
// records: the bytes must be those of an unpaced Persist of the same
// state.
func TestPacedPersistWritesTheSameBytes(t *testing.T) {
	unpaced := fsm.DefaultConfig()
	unpaced.PersistShare = 1
	want := snapshotBytes(t, recordedWorkload(t, unpaced, 5, 4000).f)

	paced := fsm.DefaultConfig()
	paced.PersistShare = 0.05
	h := recordedWorkload(t, paced, 5, 4000)
	s, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewSource(6))
		randomWorkload(h, rng, 2000, []string{"ann", "bob", "cid", "dee"})
	}()
	sink := &memSink{}
	if err := s.Persist(sink); err != nil {
		t.Fatal(err)
	}
	<-done
	if !bytes.Equal(sink.Bytes(), want) {
		t.Fatal("a paced Persist during applies differs from an unpaced one of the same state")
	}
}

// TestPersistToAFailingSink fails the sink at several points of the
// stream, the account being streamed included: Persist returns the sink's
// error and cancels the sink, and its encoders end (the goroutine count
// comes back).
func TestPersistToAFailingSink(t *testing.T) {
	h := recordedWorkload(t, fsm.DefaultConfig(), 7, 3000)
	size := len(snapshotBytes(t, h.f))
	before := runtime.NumGoroutine()
	for _, after := range []int{0, 100, size / 2, size - 1} {
		s, err := h.f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		sink := &failingSink{left: after}
		if err := s.Persist(sink); !errors.Is(err, errSinkFull) {
			t.Fatalf("failing after %d of %d bytes: Persist returned %v, want errSinkFull", after, size, err)
		}
		if !sink.cancelled {
			t.Fatalf("failing after %d bytes: the sink was not cancelled", after)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running after failed persists (%d before)", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

var errSinkFull = errors.New("sink full")

// failingSink accepts left bytes, then fails every write.
type failingSink struct {
	memSink
	left int
}

func (s *failingSink) Write(p []byte) (int, error) {
	if len(p) > s.left {
		n, _ := s.memSink.Write(p[:s.left])
		s.left = 0
		return n, errSinkFull
	}
	s.left -= len(p)
	return s.memSink.Write(p)
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	h := recordedWorkload(t, fsm.DefaultConfig(), 5, 400)
	good := snapshotBytes(t, h.f)
	before := dump(t, h.f)
	cases := map[string][]byte{
		"empty":       {},
		"not msgpack": []byte("hello world"),
		"truncated":   good[:len(good)/2],
		"no end":      good[:len(good)-1],
		"version":     bytes.Replace(good, []byte("chatstate-fsm\x01"), []byte("chatstate-fsm\x02"), 1),
	}
	rng := rand.New(rand.NewSource(6))
	for i := 0; i < 30; i++ {
		b := bytes.Clone(good)
		for j := 0; j < 3; j++ {
			b[rng.Intn(len(b))] ^= byte(1 + rng.Intn(255))
		}
		cases[fmt.Sprintf("flipped %d", i)] = b
	}
	for name, b := range cases {
		err := h.f.Restore(io.NopCloser(bytes.NewReader(b)))
		if strings.HasPrefix(name, "flipped") {
			// A flipped byte inside a text is still a valid snapshot;
			// what matters is that nothing panics.
			if err == nil {
				if rerr := h.f.Restore(io.NopCloser(bytes.NewReader(good))); rerr != nil {
					t.Fatal(rerr)
				}
			}
			continue
		}
		if !errors.Is(err, fsm.ErrBadSnapshot) {
			t.Fatalf("%s: Restore = %v, want ErrBadSnapshot", name, err)
		}
	}
	if dump(t, h.f) != before {
		t.Fatal("a failed restore changed the state")
	}
}

// TestConcurrentReadersDuringApplySnapshotAndRestore is for the race
// detector: readers, Apply, Snapshot+Persist and Restore all at once.
func TestConcurrentReadersDuringApplySnapshotAndRestore(t *testing.T) {
	src := recordedWorkload(t, fsm.DefaultConfig(), 9, 2000)
	base := snapshotBytes(t, src.f)

	h := newHarness(t)
	ops := []string{"ann", "bob", "cid", "dee"}
	h.setup(ops...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p, _ := h.f.ListChats("acme", fsm.ListQuery{Filter: fsm.ChatFilter{Status: fsm.StatusActive}, Limit: 20})
				for _, c := range p.Chats {
					_ = renderChat(c)
					_ = len(c.Transcript())
				}
				_, _ = h.f.Counts("acme", fsm.CountQuery{})
				_, _ = h.f.Operators("acme")
				_, _ = h.f.Notifications("acme", ops[i%4], 0, 50)
				if ev, err := h.f.Events("acme", 0, 100); err == nil {
					for _, e := range ev.Events {
						_ = renderEvent(e)
					}
				}
				_, _ = h.f.Messages("acme", 1, 0, 10)
				_ = h.f.AppliedIndex()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 6; i++ {
			s, err := h.f.Snapshot()
			if err != nil {
				t.Error(err)
				return
			}
			sink := &memSink{}
			if err := s.Persist(sink); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	rng := rand.New(rand.NewSource(10))
	for i := 0; i < 3; i++ {
		randomWorkload(h, rng, 300, ops)
		if i == 1 {
			if err := h.f.Restore(io.NopCloser(bytes.NewReader(base))); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}
