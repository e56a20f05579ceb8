package httpapi

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/chatstate/chatstate/fsm"
)

// eventBatch is how many events a stream reads from the state at a time.
const eventBatch = 256

// eventStream is one client's GET /v1/accounts/{a}/events. Everything in
// it is copied out of the request: it runs after the handler returned.
type eventStream struct {
	s       *Server
	state   *fsm.FSM
	account string
	// cursor is the seq of the last event handled; the next is cursor+1.
	cursor int64
	filter fsm.ChatFilter
	// filtered is true when any list filter was given: events with a chat
	// then carry "matches".
	filtered  bool
	types     uint32 // bit per fsm.EventType; 0 keeps every type
	recipient string
	e         encoder
}

// events starts an event stream. Everything that can be refused (bad
// parameters, unknown account, compacted since) is answered before the
// stream starts; once it has, it ends only when the client goes away, the
// server shuts down, or the stream falls behind the retained window.
func (s *Server) events(r *request) {
	st := &eventStream{s: s, state: s.backend.FSM(), account: r.account}
	var aerr *apiError
	st.filter, st.filtered, aerr = r.chatFilter(fsm.StatusAny)
	if aerr != nil {
		r.fail(aerr)
		return
	}
	if v, ok := r.queryArg("types"); ok {
		for _, name := range bytes.Split(v, []byte(",")) {
			t, ok := fsm.ParseEventType(string(bytes.TrimSpace(name)))
			if !ok {
				r.fail(invalidField("types", "query parameter types has an unknown event type %s", quote(string(name))))
				return
			}
			st.types |= 1 << t
		}
	}
	if v, ok := r.queryArg("recipient"); ok {
		if !fsm.ValidID(string(v)) {
			r.fail(invalidField("recipient", "query parameter recipient must be an operator id, not %s", quote(string(v))))
			return
		}
		st.recipient = string(v)
	}
	since := int64(-1)
	if _, ok := r.queryArg("since"); ok {
		if since, aerr = r.queryCount("since"); aerr != nil {
			r.fail(aerr)
			return
		}
	} else if h := r.ctx.Request.Header.Peek("Last-Event-ID"); len(h) > 0 {
		n, ok := parseDecimal(bytes.TrimSpace(h))
		if !ok {
			r.fail(invalidField("Last-Event-ID", "header Last-Event-ID must be an event seq, not %s", quote(string(h))))
			return
		}
		since = n
	}
	if since >= 0 {
		// Checks the account and the window; the events are read again
		// by the stream. A since beyond the newest event (a client of a
		// state since restored from an older backup) starts with the next
		// event.
		page, err := st.state.Events(r.account, since, 1)
		if err != nil {
			r.fail(err)
			return
		}
		st.cursor = min(since, page.LastSeq)
	} else {
		// Start with the next event: ask for those after a seq no account
		// reaches, which returns none and the newest seq.
		page, err := st.state.Events(r.account, 1<<62, 1)
		if err != nil {
			r.fail(err)
			return
		}
		st.cursor = page.LastSeq
	}

	ctx := r.ctx
	ctx.SetStatusCode(200)
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	r.setIndex(st.state.AppliedIndex())
	// The stream outlives the server's WriteTimeout.
	_ = ctx.SetWriteDeadline(time.Time{})
	s.streams.Add(1)
	s.openStreams.Add(1)
	s.metrics.streams.Inc()
	ctx.SetBodyStreamWriter(st.run)
}

// run writes events until the client goes away (a write fails, noticed at
// the latest at the next ping) or the server shuts down.
func (st *eventStream) run(w *bufio.Writer) {
	s := st.s
	defer s.streams.Done()
	defer s.metrics.streams.Dec()
	defer s.openStreams.Add(-1)
	defer func() {
		if p := recover(); p != nil {
			s.metrics.panics.Inc()
			s.log.Error("panic in event stream", "panic", fmt.Sprint(p), "account", st.account, "stack", string(debug.Stack()))
		}
	}()
	ping := time.NewTicker(s.cfg.SSEPingInterval)
	defer ping.Stop()
	// Tell EventSource clients how soon to reconnect, and get the
	// response headers out at once.
	if _, err := w.WriteString("retry: 1000\n\n"); err != nil || w.Flush() != nil {
		return
	}
	for {
		applied := st.state.Applied()
		page, err := st.state.Events(st.account, st.cursor, eventBatch)
		if err != nil || page.LastSeq < st.cursor {
			// Fallen behind the window, or the state was restored to an
			// older one: the client reconnects with Last-Event-ID and is
			// told (410) to reload.
			return
		}
		st.e.reset(false)
		for i := range page.Events {
			ev := &page.Events[i]
			st.cursor = ev.Seq
			st.appendEvent(ev)
		}
		if len(st.e.b) > 0 {
			if _, err := w.Write(st.e.b); err != nil || w.Flush() != nil {
				return
			}
		}
		if cap(st.e.b) > 1<<20 {
			st.e.b = nil
		}
		if len(page.Events) == eventBatch {
			continue
		}
		select {
		case <-applied:
		case <-ping.C:
			if _, err := w.WriteString(": ping\n\n"); err != nil || w.Flush() != nil {
				return
			}
		case <-s.closing:
			return
		}
	}
}

// appendEvent appends ev in SSE form when it passes the stream's filters.
func (st *eventStream) appendEvent(ev *fsm.Event) {
	if st.types != 0 && st.types&(1<<ev.Type) == 0 {
		return
	}
	if ev.Type == fsm.EventNotificationCreated && st.recipient != "" &&
		ev.Notification != nil && ev.Notification.Recipient != st.recipient {
		return
	}
	withMatches, matches := false, false
	if st.filtered && ev.Chat != nil {
		matches = st.filter.Matches(ev.Chat)
		if !matches && !st.filter.Matches(ev.Before) {
			return
		}
		withMatches = true
	}
	e := &st.e
	e.b = append(e.b, "id: "...)
	e.b = strconv.AppendInt(e.b, ev.Seq, 10)
	e.b = append(e.b, "\nevent: "...)
	e.b = append(e.b, ev.Type.String()...)
	e.b = append(e.b, "\ndata: "...)
	e.comma = false
	renderEvent(e, st.s.chats, ev, withMatches, matches)
	e.b = append(e.b, "\n\n"...)
}

// renderEvent writes an event's data: {"seq","type","at"} plus the
// records its type carries, and "matches" on filtered streams. Every
// stream of the account renders the same chat version, so it comes from
// the render cache.
func renderEvent(e *encoder, chats *chatCache, ev *fsm.Event, withMatches, matches bool) {
	n := 3
	if ev.Chat != nil {
		n++
	}
	if ev.Message != nil {
		n++
	}
	if ev.Operator != nil || ev.RemovedOperator != "" {
		n++
	}
	if ev.Notification != nil {
		n++
	}
	if withMatches {
		n++
	}
	e.objectStart(n)
	e.key("seq")
	e.int(ev.Seq)
	e.key("type")
	e.str(ev.Type.String())
	e.key("at")
	e.time(ev.At)
	if ev.Chat != nil {
		e.key("chat")
		chats.render(e, ev.Chat)
	}
	if ev.Message != nil {
		e.key("message")
		renderMessage(e, ev.Message)
	}
	if ev.Operator != nil {
		e.key("operator")
		renderOperator(e, ev.Operator, -1)
	} else if ev.RemovedOperator != "" {
		e.key("operator")
		e.objectStart(1)
		e.key("id")
		e.str(ev.RemovedOperator)
		e.objectEnd()
	}
	if ev.Notification != nil {
		e.key("notification")
		renderNotification(e, ev.Notification)
	}
	if withMatches {
		e.key("matches")
		e.bool(matches)
	}
	e.objectEnd()
}
