package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/chatstate/chatstate/fsm"
)

// Query parameters and read consistency.

// queryArg returns a query parameter and whether it was given.
func (r *request) queryArg(name string) ([]byte, bool) {
	args := r.ctx.QueryArgs()
	if !args.Has(name) {
		return nil, false
	}
	return args.Peek(name), true
}

// queryCount reads a non-negative integer parameter (after, since, ...).
func (r *request) queryCount(name string) (int64, *apiError) {
	v, ok := r.queryArg(name)
	if !ok {
		return 0, nil
	}
	n, ok := parseDecimal(v)
	if !ok {
		return 0, invalidField(name, "query parameter %s must be a non-negative integer, not %s", name, quote(string(v)))
	}
	return n, nil
}

// queryLimit reads ?limit=.
func (r *request) queryLimit() (int, *apiError) {
	v, ok := r.queryArg("limit")
	if !ok {
		return r.s.cfg.DefaultListLimit, nil
	}
	n, ok := parseDecimal(v)
	if !ok || n < 1 || n > int64(r.s.cfg.MaxListLimit) {
		return 0, invalidField("limit", "query parameter limit must be an integer from 1 to %d, not %s", r.s.cfg.MaxListLimit, quote(string(v)))
	}
	return int(n), nil
}

// chatFilter reads the list filters. defaultStatus applies when status is
// not given (streams have none).
func (r *request) chatFilter(defaultStatus fsm.Status) (fsm.ChatFilter, bool, *apiError) {
	f := fsm.ChatFilter{Status: defaultStatus}
	given := false
	if v, ok := r.queryArg("status"); ok {
		st, ok := fsm.ParseStatus(string(v))
		if !ok {
			return f, false, invalidField("status", "query parameter status must be \"active\" or \"closed\", not %s", quote(string(v)))
		}
		f.Status, given = st, true
	}
	if v, ok := r.queryArg("operator"); ok {
		switch {
		case string(v) == "unassigned":
			f.Unassigned = true
		case fsm.ValidID(string(v)):
			f.Operator = string(v)
		default:
			return f, false, invalidField("operator", "query parameter operator must be an operator id or \"unassigned\", not %s", quote(string(v)))
		}
		given = true
	}
	ct, cg, err := r.queryContactType()
	if err != nil {
		return f, false, err
	}
	src, sg, err := r.querySource()
	if err != nil {
		return f, false, err
	}
	unread, ug, err := r.queryUnread()
	if err != nil {
		return f, false, err
	}
	f.ContactType, f.Source, f.Unread = ct, src, unread
	return f, given || cg || sg || ug, nil
}

func (r *request) queryContactType() (fsm.ContactType, bool, *apiError) {
	v, ok := r.queryArg("contact_type")
	if !ok {
		return fsm.ContactTypeAny, false, nil
	}
	t, ok := fsm.ParseContactType(string(v))
	if !ok {
		return 0, false, invalidField("contact_type", "query parameter contact_type must be \"contact\" or \"visitor\", not %s", quote(string(v)))
	}
	return t, true, nil
}

func (r *request) querySource() (fsm.Source, bool, *apiError) {
	v, ok := r.queryArg("source")
	if !ok {
		return fsm.SourceAny, false, nil
	}
	s, ok := fsm.ParseSource(string(v))
	if !ok {
		return 0, false, invalidField("source", "query parameter source must be one of \"email\", \"landing_page\", \"chat_page\", \"external_page\", not %s", quote(string(v)))
	}
	return s, true, nil
}

func (r *request) queryUnread() (fsm.UnreadFilter, bool, *apiError) {
	v, ok := r.queryArg("unread")
	if !ok {
		return fsm.UnreadAny, false, nil
	}
	switch string(v) {
	case "true":
		return fsm.UnreadTrue, true, nil
	case "false":
		return fsm.UnreadFalse, true, nil
	}
	return 0, false, invalidField("unread", "query parameter unread must be \"true\" or \"false\", not %s", quote(string(v)))
}

// Cursors are the sort key of a page's last chat, base64url-encoded:
// 8 bytes of last_activity_at millis and 8 bytes of chat id, big-endian.
func appendCursor(b []byte, c *fsm.Cursor) []byte {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(c.LastActivityAt))
	binary.BigEndian.PutUint64(raw[8:], uint64(c.ID))
	return base64.RawURLEncoding.AppendEncode(b, raw[:])
}

func parseCursor(v []byte) (*fsm.Cursor, bool) {
	var raw [16]byte
	if base64.RawURLEncoding.DecodedLen(len(v)) != len(raw) {
		return nil, false
	}
	if n, err := base64.RawURLEncoding.Decode(raw[:], v); err != nil || n != len(raw) {
		return nil, false
	}
	c := &fsm.Cursor{
		LastActivityAt: fsm.Millis(binary.BigEndian.Uint64(raw[:8])),
		ID:             int64(binary.BigEndian.Uint64(raw[8:])),
	}
	if c.LastActivityAt < 0 || c.ID <= 0 {
		return nil, false
	}
	return c, true
}

// consistent applies ?consistency=, ?min_index= and ?wait= before a read
// and sets X-Index to the applied index the read starts from. It returns
// false when it has answered (400, a redirect, 503 or 504).
func (r *request) consistent() bool {
	mode := "leader"
	if v, ok := r.queryArg("consistency"); ok {
		mode = string(v)
		switch mode {
		case "leader", "linearizable", "stale":
		default:
			r.fail(invalidField("consistency", "query parameter consistency must be \"leader\", \"linearizable\" or \"stale\", not %s", quote(mode)))
			return false
		}
	}
	minIndex, aerr := r.queryCount("min_index")
	if aerr != nil {
		r.fail(aerr)
		return false
	}
	wait := r.s.cfg.DefaultWait
	if v, ok := r.queryArg("wait"); ok {
		d, err := time.ParseDuration(string(v))
		if err != nil || d < 0 || d > r.s.cfg.MaxWait {
			r.fail(invalidField("wait", "query parameter wait must be a duration from 0s to %s (like 500ms), not %s", r.s.cfg.MaxWait, quote(string(v))))
			return false
		}
		wait = d
	}
	b := r.s.backend
	switch mode {
	case "leader":
		ctx, cancel := context.WithTimeout(context.Background(), r.s.cfg.ApplyTimeout)
		err := b.LeaderRead(ctx)
		cancel()
		if err != nil {
			r.fail(err)
			return false
		}
	case "linearizable":
		ctx, cancel := context.WithTimeout(context.Background(), r.s.cfg.ApplyTimeout)
		err := b.LinearizableRead(ctx)
		cancel()
		if err != nil {
			r.fail(err)
			return false
		}
	}
	f := b.FSM()
	if minIndex > 0 && f.AppliedIndex() < uint64(minIndex) {
		err := context.DeadlineExceeded
		if wait > 0 {
			// Shutdown ends the wait rather than waiting for it.
			ctx, cancel := context.WithTimeout(r.s.stopCtx, wait)
			err = b.WaitForIndex(ctx, uint64(minIndex))
			cancel()
			if r.s.stopCtx.Err() != nil {
				r.fail(errServerShuttingDown)
				return false
			}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			r.fail(&apiError{status: 504, code: codeTimeout, message: fmt.Sprintf(
				"index %d was not applied within %s (applied: %d)", minIndex, wait, f.AppliedIndex())})
			return false
		}
		if err != nil {
			r.fail(err)
			return false
		}
	}
	r.setIndex(f.AppliedIndex())
	return true
}
