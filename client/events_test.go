package client_test

import (
	"bufio"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/client"
)

var errStop = errors.New("stop")

// streamHandler answers an event stream request with write, which runs in
// fasthttp's stream goroutine.
func streamHandler(ctx *fasthttp.RequestCtx, write func(w sseWriter)) {
	ctx.SetStatusCode(200)
	ctx.SetContentType("text/event-stream")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if _, err := w.WriteString("retry: 1000\n\n"); err != nil || w.Flush() != nil {
			return
		}
		write(sseWriter{w})
	})
}

// releaseAtEnd closes release when the test ends. Called after the fake
// nodes are made, its cleanup runs before theirs, so that blocked stream
// writers return before the nodes shut down.
func releaseAtEnd(t *testing.T, release chan struct{}) {
	t.Cleanup(func() { close(release) })
}

func subscribe(t *testing.T, c *client.Client, r client.EventsRequest, until int64) ([]int64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seqs []int64
	err := c.Subscribe(ctx, "acme", r, func(ev *client.Event) error {
		seqs = append(seqs, ev.Seq)
		if ev.Type != client.EventChatUnread || ev.Chat == nil || ev.Chat.ID != 42 || ev.At.IsZero() {
			t.Errorf("event %+v", ev)
		}
		if ev.Seq == until {
			return errStop
		}
		return nil
	})
	return seqs, err
}

// After the stream ends, the subscription reconnects and resumes after
// the last delivered event, with every filter kept.
func TestSubscribeResumesAfterDisconnect(t *testing.T) {
	release := make(chan struct{})
	var conns atomic.Int32
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		switch conns.Add(1) {
		case 1:
			streamHandler(ctx, func(w sseWriter) {
				for seq := int64(1); seq <= 3; seq++ {
					w.event(seq, "chat.unread", eventJSON(seq))
				}
			})
		default:
			streamHandler(ctx, func(w sseWriter) {
				w.ping()
				w.event(4, "chat.unread", eventJSON(4))
				w.event(5, "chat.unread", eventJSON(5))
				<-release
			})
		}
	})
	releaseAtEnd(t, release)
	c := newClient(t, []string{node.Addr})
	seqs, err := subscribe(t, c, client.EventsRequest{
		Filter:    client.ChatFilter{Status: client.StatusActive, Unassigned: true, Unread: client.Bool(true)},
		Types:     []client.EventType{client.EventChatUnread, client.EventChatRead},
		Recipient: "ann",
	}, 5)
	if !errors.Is(err, errStop) {
		t.Fatalf("Subscribe: %v", err)
	}
	if !equalInts(seqs, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("seqs %v", seqs)
	}
	reqs := node.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d connections, want 2", len(reqs))
	}
	if _, ok := reqs[0].Query["since"]; ok {
		t.Fatalf("first request has since: %v", reqs[0].Query)
	}
	want := map[string]string{"status": "active", "operator": "unassigned", "unread": "true", "types": "chat.unread,chat.read", "recipient": "ann"}
	for k, v := range want {
		if reqs[0].Query[k] != v || reqs[1].Query[k] != v {
			t.Fatalf("filter %s: %q then %q, want %q", k, reqs[0].Query[k], reqs[1].Query[k], v)
		}
	}
	if reqs[1].Query["since"] != "3" {
		t.Fatalf("resumed with since=%q, want 3", reqs[1].Query["since"])
	}
	if reqs[0].Accept != "text/event-stream" {
		t.Fatalf("Accept %q", reqs[0].Accept)
	}
}

// When the node serving the stream goes away, the subscription moves to
// another node and resumes there.
func TestSubscribeFailsOver(t *testing.T) {
	release := make(chan struct{})
	var aConns atomic.Int32
	a := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		if aConns.Add(1) == 1 {
			streamHandler(ctx, func(w sseWriter) {
				w.event(1, "chat.unread", eventJSON(1))
				w.event(2, "chat.unread", eventJSON(2))
			})
			return
		}
		ctx.Response.Header.Set("Retry-After", "0")
		apiError(ctx, 503, "shutting_down", "the node is shutting down")
	})
	b := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		streamHandler(ctx, func(w sseWriter) {
			w.event(3, "chat.unread", eventJSON(3))
			<-release
		})
	})
	releaseAtEnd(t, release)
	c := newClient(t, []string{a.Addr, b.Addr})
	seqs, err := subscribe(t, c, client.EventsRequest{Since: new(int64)}, 3)
	if !errors.Is(err, errStop) || !equalInts(seqs, []int64{1, 2, 3}) {
		t.Fatalf("Subscribe: %v, seqs %v", err, seqs)
	}
	if r := a.Requests(); r[0].Query["since"] != "0" {
		t.Fatalf("first request since=%q, want 0", r[0].Query["since"])
	}
	rb := b.Requests()
	if len(rb) == 0 || rb[len(rb)-1].Query["since"] != "2" {
		t.Fatalf("failover requests %+v, want since=2", rb)
	}
}

// A 410 calls OnCompacted once the new stream is open, then delivers what
// follows; without OnCompacted, Subscribe returns ErrCompacted.
func TestSubscribeCompacted(t *testing.T) {
	release := make(chan struct{})
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.QueryArgs().Has("since") {
			apiError(ctx, 410, "compacted", "events after 10 are no longer kept")
			return
		}
		streamHandler(ctx, func(w sseWriter) {
			w.event(500, "chat.unread", eventJSON(500))
			<-release
		})
	})
	releaseAtEnd(t, release)
	c := newClient(t, []string{node.Addr})
	since := int64(10)
	reloads := 0
	seqs, err := subscribe(t, c, client.EventsRequest{
		Since: &since,
		OnCompacted: func(ctx context.Context) error {
			reloads++
			reqs := node.Requests()
			if len(reqs) != 2 {
				t.Errorf("OnCompacted ran with %d requests made, want 2 (the new stream open first)", len(reqs))
			} else if _, ok := reqs[1].Query["since"]; ok {
				t.Errorf("the stream after a 410 asked since=%s", reqs[1].Query["since"])
			}
			return nil
		},
	}, 500)
	if !errors.Is(err, errStop) || !equalInts(seqs, []int64{500}) || reloads != 1 {
		t.Fatalf("Subscribe: %v, seqs %v, reloads %d", err, seqs, reloads)
	}

	_, err = subscribe(t, c, client.EventsRequest{Since: &since}, 500)
	var e *client.Error
	if !errors.Is(err, client.ErrCompacted) || !errors.As(err, &e) || e.Status != 410 {
		t.Fatalf("without OnCompacted: %v", err)
	}

	errReload := errors.New("reload failed")
	err = c.Subscribe(context.Background(), "acme", client.EventsRequest{
		Since:       &since,
		OnCompacted: func(context.Context) error { return errReload },
	}, func(*client.Event) error { return nil })
	if !errors.Is(err, errReload) {
		t.Fatalf("OnCompacted error: %v", err)
	}
}

// Pings keep a quiet stream alive; a stream silent past EventIdleTimeout
// is deemed dead and the subscription reconnects.
func TestSubscribeDetectsStalledStream(t *testing.T) {
	release := make(chan struct{})
	const idle = 600 * time.Millisecond
	const pinging = 4 * idle
	var conns atomic.Int32
	var firstOpened, secondOpened atomic.Int64
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		if conns.Add(1) == 1 {
			firstOpened.Store(time.Now().UnixNano())
			streamHandler(ctx, func(w sseWriter) {
				w.event(1, "chat.unread", eventJSON(1))
				tick := time.NewTicker(idle / 6)
				defer tick.Stop()
				end := time.After(pinging)
				for {
					select {
					case <-tick.C:
						if !w.ping() {
							return
						}
					case <-end:
						<-release // silent from now on, connection open
						return
					}
				}
			})
			return
		}
		secondOpened.Store(time.Now().UnixNano())
		streamHandler(ctx, func(w sseWriter) {
			w.event(2, "chat.unread", eventJSON(2))
			<-release
		})
	})
	releaseAtEnd(t, release)
	c := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.EventIdleTimeout = idle })
	seqs, err := subscribe(t, c, client.EventsRequest{}, 2)
	if !errors.Is(err, errStop) || !equalInts(seqs, []int64{1, 2}) {
		t.Fatalf("Subscribe: %v, seqs %v", err, seqs)
	}
	reqs := node.Requests()
	if len(reqs) != 2 || reqs[1].Query["since"] != "1" {
		t.Fatalf("requests %+v", reqs)
	}
	if gap := time.Duration(secondOpened.Load() - firstOpened.Load()); gap < pinging {
		t.Fatalf("reconnected after %v, while pings were still arriving (for %v)", gap, pinging)
	}
}

// Refusals that retrying cannot fix end the subscription; so do the
// context and Close.
func TestSubscribeEnds(t *testing.T) {
	release := make(chan struct{})
	notFound := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { apiError(ctx, 404, "not_found", "account acme does not exist") })
	c := newClient(t, []string{notFound.Addr})
	if _, err := subscribe(t, c, client.EventsRequest{}, 1); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("404: %v", err)
	}

	quiet := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		streamHandler(ctx, func(w sseWriter) { <-release })
	})
	releaseAtEnd(t, release)
	c2 := newClient(t, []string{quiet.Addr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c2.Subscribe(ctx, "acme", client.EventsRequest{}, func(*client.Event) error { return nil })
	}()
	quiet.next(t)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return after its context was cancelled")
	}

	c3 := newClient(t, []string{quiet.Addr})
	go func() {
		done <- c3.Subscribe(context.Background(), "acme", client.EventsRequest{}, func(*client.Event) error { return nil })
	}()
	quiet.next(t)
	_ = c3.Close()
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrClosed) {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return after Close")
	}
}
