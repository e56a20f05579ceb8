package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Event is one entry of an account's event stream. Which records are set
// depends on Type (API.md, "Events").
type Event struct {
	// Seq is the event's sequence number in its account, from 1, without
	// gaps (filters may hide some).
	Seq  int64     `json:"seq"`
	Type EventType `json:"type"`
	// At is the write's time, stamped by the leader.
	At time.Time `json:"at"`
	// Matches is set on streams with list filters, for events that carry
	// a chat: whether the chat belongs in the filtered list now.
	Matches *bool `json:"matches"`
	// Chat is the chat after the whole write, for chat.* and
	// message.created.
	Chat *Chat `json:"chat"`
	// Message is set for message.created.
	Message *Message `json:"message"`
	// Operator is set for operator.upserted, and for operator.removed
	// with only its ID.
	Operator *Operator `json:"operator"`
	// Notification is set for notification.created.
	Notification *Notification `json:"notification"`
}

// EventsRequest says which events Subscribe delivers and from where.
type EventsRequest struct {
	// Since is the seq after which the stream starts: nil starts with the
	// next event, a pointer to 0 at the oldest retained one.
	Since *int64
	// Filter keeps events whose chat matched before or after the write;
	// only the fields set apply (Status has no default here). Events
	// without a chat pass.
	Filter ChatFilter
	// Types keeps only these types when not empty.
	Types []EventType
	// Recipient drops notification.created events addressed to other
	// operators.
	Recipient string
	// OnCompacted is called when the stream cannot resume where it left
	// off because the cluster no longer keeps those events (410
	// compacted). It should reload what it derives from events (lists,
	// counts). The subscription then continues with the events after the
	// reload: the new stream is opened before OnCompacted is called and
	// read after it returns, so nothing falls between the two. An error
	// from it ends Subscribe. When nil, Subscribe returns ErrCompacted.
	OnCompacted func(ctx context.Context) error
}

// Subscribe streams account's events to handle, in order, until ctx
// ends, the client is closed, handle returns an error, or the cluster
// refuses the subscription (an unknown account, a bad filter, no access).
// It returns that error (ctx.Err() when ctx ended).
//
// Any node serves events. When the connection drops, the node goes away
// or stays silent past Config.EventIdleTimeout (the server pings every
// 15 s), Subscribe reconnects to the next node with backoff and resumes
// after the last event it delivered, so handle sees each event once and
// in order. handle runs on Subscribe's goroutine; a slow handle slows the
// stream, it does not lose events.
//
// One limit: a subscription that starts with the next event (Since nil)
// and loses its connection before receiving any event resumes with the
// next event again, so events in between are missed. Pass Since to
// avoid that.
func (c *Client) Subscribe(ctx context.Context, account string, r EventsRequest, handle func(*Event) error) error {
	base, err := accountPath(account)
	if err != nil {
		return err
	}
	if c.closed.Load() {
		return ErrClosed
	}
	q := newQuery(base + "/events")
	r.Filter.appendTo(&q, true)
	if len(r.Types) > 0 {
		names := make([]string, len(r.Types))
		for i, t := range r.Types {
			names[i] = string(t)
		}
		q.add("types", strings.Join(names, ","))
	}
	q.addOpt("recipient", r.Recipient)

	sub := &subscription{
		c:      c,
		path:   q.String(),
		handle: handle,
		r:      &r,
		last:   -1,
	}
	if r.Since != nil {
		if *r.Since < 0 {
			return &Error{Status: 400, Code: "invalid_field", Field: "since", Message: "since must be 0 or a positive seq"}
		}
		sub.last = *r.Since
	}
	return sub.run(ctx)
}

type subscription struct {
	c      *Client
	path   string
	handle func(*Event) error
	r      *EventsRequest
	// last is the seq of the last event delivered (or the Since asked
	// for); -1 while unknown, which starts with the next event.
	last int64
	// reload is set after a 410: OnCompacted runs once the next stream
	// is open.
	reload bool
}

// handlerError carries an error returned by the caller's handler or
// OnCompacted, which ends the subscription as is.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

func (s *subscription) run(ctx context.Context) error {
	c := s.c
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Close ends the subscription too.
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	target := c.pick()
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			if c.closed.Load() {
				return ErrClosed
			}
			return err
		}
		delivered, err := s.stream(ctx, &target)
		var he *handlerError
		var apiErr *Error
		switch {
		case err == nil:
			// The server ended the stream (shutting down, or fallen behind
			// its window): reconnect at once; a 410 will say if the events
			// are gone.
		case errors.As(err, &he):
			return he.err
		case ctx.Err() != nil:
			continue
		case errors.As(err, &apiErr) && apiErr.Code == ErrCompacted.Code:
			if s.r.OnCompacted == nil {
				return err
			}
			c.cfg.Logger.Warn("chatstate client: events compacted, reloading", "after", s.last)
			s.last = -1
			s.reload = true
			continue
		case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500:
			return err
		}
		if delivered {
			failures = 0
		}
		failures++
		c.cfg.Logger.Warn("chatstate client: event stream interrupted, resuming", "node", target.addr, "after", s.last, "err", err)
		if failures > 1 || err != nil {
			// Try another node, after a pause when failing repeatedly.
			target = c.nextAfter(target)
		}
		if failures > 1 {
			d := backoff(c.cfg.RetryBackoffMin, c.cfg.RetryBackoffMax, failures-1)
			var wait time.Duration
			if apiErr != nil {
				wait = apiErr.RetryAfter
			}
			if wait < d {
				wait = d
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// stream runs one connection: it returns whether it delivered any event,
// and why it ended (nil when the server closed the stream cleanly).
func (s *subscription) stream(ctx context.Context, target **node) (delivered bool, err error) {
	c := s.c
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	path := s.path
	if s.last >= 0 {
		q := query{b: []byte(path), started: strings.IndexByte(path, '?') >= 0}
		q.addInt("since", s.last)
		path = q.String()
	}
	req.Header.SetMethod(http.MethodGet)
	req.Header.Set(fasthttp.HeaderAccept, "text/event-stream")
	req.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	if c.authHeader != "" {
		req.Header.Set(fasthttp.HeaderAuthorization, c.authHeader)
	}

	for hop := 0; ; hop++ {
		n := *target
		req.SetRequestURI(path)
		req.Header.SetHost(n.addr)
		// No request deadline: fasthttp would keep it on the streamed
		// body. The stream client's connections time out reads after
		// EventIdleTimeout of silence instead (see idleConn).
		if err := n.stream.Do(req, resp); err != nil {
			return false, fmt.Errorf("%s: %w", n.addr, err)
		}
		status := resp.StatusCode()
		if status == fasthttp.StatusTemporaryRedirect && hop < c.cfg.MaxRedirects {
			next, nextPath, err := c.redirect(resp, n, path)
			_ = resp.CloseBodyStream()
			if err != nil {
				return false, err
			}
			*target, path = next, nextPath
			continue
		}
		if status != fasthttp.StatusOK {
			apiErr := decodeError(resp)
			_ = resp.CloseBodyStream()
			return false, apiErr
		}
		break
	}

	body, ok := resp.BodyStream().(fasthttp.ReadCloserWithError)
	if !ok || body == nil {
		return false, fmt.Errorf("%w: event stream without a streamed body", ErrUnexpectedResponse)
	}
	// Unblock a read in progress when the subscription ends.
	stop := context.AfterFunc(ctx, func() { _ = body.CloseWithError(ctx.Err()) })
	defer stop()
	defer func() { _ = resp.CloseBodyStream() }()

	if s.reload {
		// The stream is open and starts with the next event: reload now,
		// and what changes meanwhile arrives on the stream.
		if err := s.r.OnCompacted(ctx); err != nil {
			return false, &handlerError{err}
		}
		s.reload = false
	}

	sse := newSSEReader(body, maxEventBytes)
	var raw sseEvent
	for {
		if err := sse.next(&raw); err != nil {
			if ctx.Err() != nil {
				return delivered, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return delivered, fmt.Errorf("%s: %w", (*target).addr, ErrStreamStalled)
			}
			if errors.Is(err, io.EOF) {
				return delivered, nil
			}
			return delivered, fmt.Errorf("%s: reading events: %w", (*target).addr, err)
		}
		ev := new(Event)
		if err := json.Unmarshal(raw.Data, ev); err != nil {
			return delivered, fmt.Errorf("%w: event data from %s: %v", ErrUnexpectedResponse, (*target).addr, err)
		}
		if raw.HasID {
			seq, err := parseSeq(raw.ID)
			if err != nil {
				return delivered, fmt.Errorf("%w: %v", ErrUnexpectedResponse, err)
			}
			if ev.Seq == 0 {
				ev.Seq = seq
			}
		}
		if ev.Type == "" {
			ev.Type = EventType(raw.Event)
		}
		if ev.Seq <= s.last && s.last >= 0 {
			// Already delivered (a node replaying after a resume): skip.
			continue
		}
		if err := s.handle(ev); err != nil {
			return delivered, &handlerError{err}
		}
		delivered = true
		if ev.Seq > 0 {
			s.last = ev.Seq
		}
	}
}

// maxEventBytes bounds one event's lines (a chat with a 16 KiB message is
// far below it).
const maxEventBytes = 8 << 20
