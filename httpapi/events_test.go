package httpapi

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chatstate/chatstate/fsm"
)

// fasthttp's worker-pool cleaner notices Stop only after its idle sleep
// (MaxIdleWorkerDuration, 10s); it is not ours to wait for.
var ignoreFasthttpCleaner = goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2")

func TestMain(m *testing.M) {
	// fasthttp keeps one process-wide goroutine that updates its Date
	// header.
	// The benchmarks' fasthttp clients leave their idle-connection
	// cleaners behind for a while.
	goleak.VerifyTestMain(m, ignoreFasthttpCleaner,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"))
}

// seedEvents makes an account with one operator and n chats: 1 + 2n
// events.
func seedEvents(t *testing.T, ts *testServer, n int) {
	t.Helper()
	const a = "/v1/accounts/acme"
	ts.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	ts.must(t, 201, "PUT", a+"/operators/ann", map[string]any{"name": "Ann"})
	for i := 0; i < n; i++ {
		ts.must(t, 201, "POST", a+"/chats", map[string]any{"contact": map[string]any{"type": "visitor"}, "source": "email", "text": fmt.Sprint("hi ", i)})
	}
}

func seqs(t *testing.T, evs []sseEvent) []int64 {
	var out []int64
	for _, ev := range evs {
		out = append(out, num(t, ev.data["seq"]))
	}
	return out
}

// TestEventsResume: since, Last-Event-ID and since=0 start where they
// should; a stream without them starts with the next event.
func TestEventsResume(t *testing.T) {
	ts := startServer(t, nil)
	seedEvents(t, ts, 3) // events 1..7
	const a = "/v1/accounts/acme"

	_, evs := ts.stream(t, a+"/events?since=0", nil).take(t, 7)
	if got := seqs(t, evs); !reflect.DeepEqual(got, []int64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("since=0: %v", got)
	}
	_, evs = ts.stream(t, a+"/events?since=5", nil).take(t, 2)
	if got := seqs(t, evs); !reflect.DeepEqual(got, []int64{6, 7}) {
		t.Fatalf("since=5: %v", got)
	}
	byHeader := ts.stream(t, a+"/events", hdr{"Last-Event-ID": "6"})
	if ev := byHeader.next(t); ev.id != "7" {
		t.Fatalf("Last-Event-ID 6: got %s", ev.id)
	}
	// The query wins over the header.
	both := ts.stream(t, a+"/events?since=3", hdr{"Last-Event-ID": "6"})
	if ev := both.next(t); ev.id != "4" {
		t.Fatalf("since=3 with Last-Event-ID 6: got %s", ev.id)
	}
	live := ts.stream(t, a+"/events", nil)
	waitFor(t, "the live stream", func() bool { return ts.s.openStreams.Load() == 5 })
	live.quiet(t, 50*time.Millisecond)
	ts.must(t, 200, "POST", a+"/chats/2/unread", map[string]any{"operator": "ann"}) // a no-op: chats start unread
	ts.must(t, 200, "POST", a+"/chats/2/read", map[string]any{"operator": "ann"})
	ev := live.next(t)
	if ev.id != "8" || ev.event != "chat.read" || num(t, ev.data["chat"].(map[string]any)["id"]) != 2 {
		t.Fatalf("live: %+v", ev)
	}
	byHeader.next(t)
	// A ping arrives while nothing happens.
	select {
	case <-live.pings:
	case <-time.After(5 * time.Second):
		t.Fatal("no ping")
	}
}

// TestEventsCompacted: a since below the retained window is 410.
func TestEventsCompacted(t *testing.T) {
	cfg := fsm.DefaultConfig()
	cfg.EventWindow = 5
	ts := startServerWith(t, newTestBackendWith(cfg), nil)
	seedEvents(t, ts, 1)
	// The state drops old events in chunks: write enough to drop some.
	for i := 0; i < 1200; i++ {
		cmd := &fsm.CreateChat{Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceEmail, Text: "x"}
		cmd.Account, cmd.Time = "acme", fsm.MillisOf(time.Now())
		if _, _, err := ts.b.Propose(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	page, err := ts.b.f.Events("acme", 0, 1)
	if err != nil || page.Events[0].Seq < 3 {
		t.Fatalf("nothing was compacted: %v %v", err, page.Events)
	}
	first := page.Events[0].Seq
	c := ts.stream(t, "/v1/accounts/acme/events?since=2", nil)
	if c.status != 410 {
		t.Fatalf("since=2: %d %s", c.status, c.body)
	}
	r := &resp{status: c.status, header: c.header, body: c.body}
	if code, _ := r.errCode(t); code != "compacted" {
		t.Fatalf("code %s", code)
	}
	// since=0 means the oldest retained; resuming just before it works.
	_, evs := ts.stream(t, "/v1/accounts/acme/events?since=0", nil).take(t, 2)
	if got := seqs(t, evs); !reflect.DeepEqual(got, []int64{first, first + 1}) {
		t.Fatalf("since=0: %v, want from %d", got, first)
	}
	if c := ts.stream(t, fmt.Sprintf("/v1/accounts/acme/events?since=%d", first-1), nil); c.status != 200 {
		t.Fatalf("since=%d: %d", first-1, c.status)
	}
}

// TestEventsFilters: list filters send an event when the chat matched
// before or after, with "matches"; types and recipient narrow further.
func TestEventsFilters(t *testing.T) {
	ts := startServer(t, nil)
	seedEvents(t, ts, 2)
	const a = "/v1/accounts/acme"
	ts.must(t, 201, "PUT", a+"/operators/bob", map[string]any{"name": "Bob"})
	anns := ts.stream(t, a+"/events?since=0&operator=ann&status=active", nil)
	unread := ts.stream(t, a+"/events?since=0&unread=false&types=chat.read,chat.unread", nil)
	email := ts.stream(t, a+"/events?since=0&source=email&contact_type=visitor&types=chat.created", nil)
	bobs := ts.stream(t, a+"/events?since=0&recipient=bob&types=notification.created,chat.joined", nil)

	ts.must(t, 201, "POST", a+"/chats/1/messages", map[string]any{"author": map[string]any{"type": "operator", "id": "ann"}, "text": "mine"})
	ts.must(t, 200, "POST", a+"/chats/1/join", map[string]any{"operator": "bob"})
	ts.must(t, 200, "POST", a+"/chats/1/assign", map[string]any{"operator": "bob", "by": "ann"})
	ts.must(t, 200, "POST", a+"/chats/1/unread", map[string]any{"operator": "bob"})

	// ann's active chats: the operator upserts pass (no chat), the reply
	// brings chat 1 in, the transfer takes it out.
	// Notifications carry no chat, so they pass the list filters.
	types, evs := anns.take(t, 10)
	want := []string{"operator.upserted", "operator.upserted", "chat.assigned", "message.created", "chat.joined", "message.created",
		"notification.created", "chat.assigned", "message.created", "notification.created"}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("ann's stream: %v", types)
	}
	for i, m := range []any{nil, nil, true, true, true, true, nil, false, false, nil} {
		if evs[i].data["matches"] != m {
			t.Errorf("event %d (%s) matches %v, want %v", i, types[i], evs[i].data["matches"], m)
		}
	}
	if _, ok := evs[0].data["matches"]; ok {
		t.Errorf("an event without a chat carries matches")
	}
	anns.quiet(t, 50*time.Millisecond)

	types, evs = unread.take(t, 1)
	if types[0] != "chat.unread" || evs[0].data["matches"] != false {
		t.Fatalf("unread=false stream: %v %v", types, evs[0].data)
	}
	types, _ = email.take(t, 2)
	if !reflect.DeepEqual(types, []string{"chat.created", "chat.created"}) {
		t.Fatalf("email stream: %v", types)
	}
	// bob's stream: the join (no recipient filter on it), then his
	// chat_assigned notification, but not ann's operator_joined.
	types, evs = bobs.take(t, 2)
	if !reflect.DeepEqual(types, []string{"chat.joined", "notification.created"}) ||
		evs[1].data["notification"].(map[string]any)["type"] != "chat_assigned" {
		t.Fatalf("bob's stream: %v %v", types, evs)
	}
	bobs.quiet(t, 50*time.Millisecond)
}

// TestEventsDisconnect: a client that goes away is noticed within a ping
// or two, and its stream goroutine ends.
func TestEventsDisconnect(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), ignoreFasthttpCleaner)
	ts := startServer(t, func(c *Config) { c.SSEPingInterval = 20 * time.Millisecond })
	seedEvents(t, ts, 1)
	for i := 0; i < 3; i++ {
		c := ts.stream(t, "/v1/accounts/acme/events?since=0", nil)
		c.take(t, 3)
		waitFor(t, "the stream to start", func() bool { return ts.s.openStreams.Load() == 1 })
		c.close()
		deadline := time.Now().Add(2 * time.Second)
		for ts.s.openStreams.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the stream did not notice its client left")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ts.stop(t)
	ts.client.CloseIdleConnections()
}

// TestShutdownEndsStreams: Shutdown ends open streams and returns.
func TestShutdownEndsStreams(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.SSEPingInterval = time.Hour })
	seedEvents(t, ts, 1)
	c := ts.stream(t, "/v1/accounts/acme/events", nil)
	waitFor(t, "the stream", func() bool { return ts.s.openStreams.Load() == 1 })
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ts.stopped.Store(true)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's stream did not end")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

// TestEventsSinceBeyondNewest: a since past the newest event starts with
// the next one rather than ending the stream.
func TestEventsSinceBeyondNewest(t *testing.T) {
	ts := startServer(t, nil)
	seedEvents(t, ts, 1) // events 1..3
	c := ts.stream(t, "/v1/accounts/acme/events?since=100", nil)
	waitFor(t, "the stream", func() bool { return ts.s.openStreams.Load() == 1 })
	ts.must(t, 201, "PUT", "/v1/accounts/acme/operators/bob", map[string]any{"name": "Bob"})
	if ev := c.next(t); ev.id != "4" || ev.event != "operator.upserted" {
		t.Fatalf("got %+v", ev)
	}
}

// TestEventsOutliveWriteTimeout: the server's write timeout does not cut
// an event stream.
func TestEventsOutliveWriteTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.WriteTimeout = 100 * time.Millisecond; c.SSEPingInterval = 20 * time.Millisecond })
	seedEvents(t, ts, 1)
	c := ts.stream(t, "/v1/accounts/acme/events", nil)
	// Fifteen pings take at least 300 ms, three write timeouts.
	start := time.Now()
	for i := 0; i < 15; i++ {
		select {
		case <-c.pings:
		case <-time.After(5 * time.Second):
			t.Fatalf("ping %d did not arrive", i)
		}
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Fatalf("pings came too fast to prove anything")
	}
	ts.must(t, 201, "PUT", "/v1/accounts/acme/operators/bob", map[string]any{"name": "Bob"})
	if ev := c.next(t); ev.event != "operator.upserted" {
		t.Fatalf("got %+v", ev)
	}
}
