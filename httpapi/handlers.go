package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/chatstate/chatstate/fsm"
)

func (s *Server) registerRoutes() {
	t := &s.routes
	t.add(routeHealthz, methodGet, scopeOpen, s.healthz)
	t.add(routeReadyz, methodGet, scopeOpen, s.readyz)
	t.add(routeMetrics, methodGet, scopeAdmin, s.serveMetrics)
	t.add(routeStatus, methodGet, scopeAny, s.status)

	t.add(routeClusterJoin, methodPost, scopeAdmin, s.clusterJoin)
	t.add(routeClusterNode, methodDelete, scopeAdmin, s.clusterRemove)
	t.add(routeClusterSnapshot, methodPost, scopeAdmin, s.clusterSnapshot)
	t.add(routeClusterBackup, methodGet, scopeAdmin, s.clusterBackup)
	t.add(routeClusterRestore, methodPost, scopeAdmin, s.clusterRestore)

	t.add(routeAccounts, methodGet, scopeAdmin, s.listAccounts)
	t.add(routeAccount, methodGet, scopeAccount, s.getAccount)
	t.add(routeAccount, methodPut, scopeAdmin, s.putAccount)

	t.add(routeOperators, methodGet, scopeAccount, s.listOperators)
	t.add(routeOperator, methodGet, scopeAccount, s.getOperator)
	t.add(routeOperator, methodPut, scopeAccount, s.putOperator)
	t.add(routeOperator, methodDelete, scopeAccount, s.deleteOperator)
	t.add(routeNotifications, methodGet, scopeAccount, s.listNotifications)
	t.add(routeNotificationsRead, methodPost, scopeAccount, s.readNotifications)

	t.add(routeChats, methodGet, scopeAccount, s.listChats)
	t.add(routeChats, methodPost, scopeAccount, s.createChat)
	t.add(routeChatCounts, methodGet, scopeAccount, s.counts)
	t.add(routeChat, methodGet, scopeAccount, s.getChat)
	t.add(routeMessages, methodGet, scopeAccount, s.listMessages)
	t.add(routeMessages, methodPost, scopeAccount, s.postMessage)
	t.add(routeJoin, methodPost, scopeAccount, s.chatAction(fsm.CmdJoin))
	t.add(routeLeave, methodPost, scopeAccount, s.chatAction(fsm.CmdLeave))
	t.add(routeUnread, methodPost, scopeAccount, s.chatAction(fsm.CmdMarkUnread))
	t.add(routeRead, methodPost, scopeAccount, s.chatAction(fsm.CmdMarkRead))
	t.add(routeClose, methodPost, scopeAccount, s.chatAction(fsm.CmdClose))
	t.add(routeReopen, methodPost, scopeAccount, s.chatAction(fsm.CmdReopen))
	t.add(routeAssign, methodPost, scopeAccount, s.assign)

	t.add(routeEvents, methodGet, scopeAccount, s.events)
	t.add(routeKeys, methodPost, scopeAdmin, s.createKey)
	t.add(routeKey, methodDelete, scopeAdmin, s.revokeKey)
}

// ---- query parameters ----

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

// ---- reads ----

func (s *Server) listAccounts(r *request) {
	if !r.consistent() {
		return
	}
	accounts := s.backend.FSM().Accounts()
	e := r.begin()
	e.objectStart(1)
	e.key("accounts")
	e.arrayStart(len(accounts))
	for _, a := range accounts {
		renderAccount(e, a)
	}
	e.arrayEnd()
	e.objectEnd()
	r.send(200)
}

func (s *Server) getAccount(r *request) {
	if !r.consistent() {
		return
	}
	a, err := s.backend.FSM().Account(r.account)
	if err != nil {
		r.fail(err)
		return
	}
	renderAccount(r.begin(), a)
	r.send(200)
}

func (s *Server) listOperators(r *request) {
	if !r.consistent() {
		return
	}
	ops, err := s.backend.FSM().Operators(r.account)
	if err != nil {
		r.fail(err)
		return
	}
	e := r.begin()
	e.objectStart(1)
	e.key("operators")
	e.arrayStart(len(ops))
	for _, o := range ops {
		renderOperator(e, o.Operator, o.ActiveChats)
	}
	e.arrayEnd()
	e.objectEnd()
	r.send(200)
}

func (s *Server) getOperator(r *request) {
	if !r.consistent() {
		return
	}
	o, err := s.backend.FSM().Operator(r.account, r.sub)
	if err != nil {
		r.fail(err)
		return
	}
	renderOperator(r.begin(), o, -1)
	r.send(200)
}

func (s *Server) listChats(r *request) {
	filter, _, aerr := r.chatFilter(fsm.StatusActive)
	if aerr != nil {
		r.fail(aerr)
		return
	}
	q := fsm.ListQuery{Filter: filter}
	if q.Limit, aerr = r.queryLimit(); aerr != nil {
		r.fail(aerr)
		return
	}
	if v, ok := r.queryArg("cursor"); ok {
		c, ok := parseCursor(v)
		if !ok {
			r.fail(invalidField("cursor", "query parameter cursor %s is not a cursor returned by this API", quote(string(v))))
			return
		}
		q.After = c
	}
	if !r.consistent() {
		return
	}
	page, err := s.backend.FSM().ListChats(r.account, q)
	if err != nil {
		r.fail(err)
		return
	}
	e := r.begin()
	e.objectStart(2)
	e.key("chats")
	e.arrayStart(len(page.Chats))
	for _, c := range page.Chats {
		renderChat(e, c)
	}
	e.arrayEnd()
	e.key("next_cursor")
	if page.Next != nil {
		r.scratch = appendCursor(r.scratch[:0], page.Next)
		e.str(string(r.scratch))
	} else {
		e.null()
	}
	e.objectEnd()
	r.send(200)
}

func (s *Server) counts(r *request) {
	if _, ok := r.queryArg("operator"); ok {
		r.fail(invalidField("operator", "counts do not take an operator filter: every operator's count is in \"operators\""))
		return
	}
	q := fsm.CountQuery{Status: fsm.StatusActive}
	if v, ok := r.queryArg("status"); ok {
		st, ok := fsm.ParseStatus(string(v))
		if !ok {
			r.fail(invalidField("status", "query parameter status must be \"active\" or \"closed\", not %s", quote(string(v))))
			return
		}
		q.Status = st
	}
	var aerr *apiError
	if q.ContactType, _, aerr = r.queryContactType(); aerr != nil {
		r.fail(aerr)
		return
	}
	if q.Source, _, aerr = r.querySource(); aerr != nil {
		r.fail(aerr)
		return
	}
	if q.Unread, _, aerr = r.queryUnread(); aerr != nil {
		r.fail(aerr)
		return
	}
	if !r.consistent() {
		return
	}
	c, err := s.backend.FSM().Counts(r.account, q)
	if err != nil {
		r.fail(err)
		return
	}
	if c.Status == fsm.StatusAny {
		c.Status = q.Status
	}
	renderCounts(r.begin(), &c)
	r.send(200)
}

func (s *Server) getChat(r *request) {
	if !r.consistent() {
		return
	}
	c, err := s.backend.FSM().Chat(r.account, r.chat)
	if err != nil {
		r.fail(err)
		return
	}
	renderChat(r.begin(), c)
	r.send(200)
}

func (s *Server) listMessages(r *request) {
	after, aerr := r.queryCount("after")
	if aerr != nil {
		r.fail(aerr)
		return
	}
	limit, aerr := r.queryLimit()
	if aerr != nil {
		r.fail(aerr)
		return
	}
	if !r.consistent() {
		return
	}
	page, err := s.backend.FSM().Messages(r.account, r.chat, after, limit)
	if err != nil {
		r.fail(err)
		return
	}
	e := r.begin()
	e.objectStart(2)
	e.key("messages")
	e.arrayStart(len(page.Messages))
	for i := range page.Messages {
		renderMessage(e, &page.Messages[i])
	}
	e.arrayEnd()
	e.key("next_after")
	e.optInt(page.NextAfter)
	e.objectEnd()
	r.send(200)
}

func (s *Server) listNotifications(r *request) {
	after, aerr := r.queryCount("after")
	if aerr != nil {
		r.fail(aerr)
		return
	}
	limit, aerr := r.queryLimit()
	if aerr != nil {
		r.fail(aerr)
		return
	}
	if !r.consistent() {
		return
	}
	page, err := s.backend.FSM().Notifications(r.account, r.sub, after, limit)
	if err != nil {
		r.fail(err)
		return
	}
	e := r.begin()
	e.objectStart(3)
	e.key("notifications")
	e.arrayStart(len(page.Notifications))
	for i := range page.Notifications {
		renderNotification(e, &page.Notifications[i])
	}
	e.arrayEnd()
	e.key("unread_count")
	e.int(int64(page.UnreadCount))
	e.key("next_after")
	e.optInt(page.NextAfter)
	e.objectEnd()
	r.send(200)
}

// ---- writes ----

func (s *Server) putAccount(r *request) {
	b, ok := decodeBody(r, false, decodeAccountBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.UpsertAccount{Name: b.Name}, b)
	if !ok {
		return
	}
	renderAccount(r.begin(), res.Account)
	r.send(createdOr200(res.Created))
}

func (s *Server) putOperator(r *request) {
	b, ok := decodeBody(r, false, decodeOperatorBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.UpsertOperator{Operator: r.sub, Name: b.Name, Email: b.Email}, b)
	if !ok {
		return
	}
	renderOperator(r.begin(), res.Operator, -1)
	r.send(createdOr200(res.Created))
}

func (s *Server) deleteOperator(r *request) {
	b, ok := decodeBody(r, true, decodeEmptyBody)
	if !ok {
		return
	}
	if _, ok := r.propose(&fsm.RemoveOperator{Operator: r.sub}, b); !ok {
		return
	}
	r.noContent()
}

func (s *Server) readNotifications(r *request) {
	b, ok := decodeBody(r, false, decodeReadNotificationsBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.ReadNotifications{Operator: r.sub, UpTo: b.UpTo}, b)
	if !ok {
		return
	}
	e := r.begin()
	e.objectStart(1)
	e.key("unread_count")
	e.int(int64(res.UnreadCount))
	e.objectEnd()
	r.send(200)
}

func (s *Server) createChat(r *request) {
	b, ok := decodeBody(r, false, decodeCreateChatBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.CreateChat{Contact: b.Contact, Source: b.Source, Text: b.Text}, b)
	if !ok {
		return
	}
	renderChat(r.begin(), res.Chat)
	r.send(201)
}

func (s *Server) postMessage(r *request) {
	b, ok := decodeBody(r, false, decodeMessageBody)
	if !ok {
		return
	}
	var cmd fsm.Command
	if b.Author == fsm.AuthorOperator {
		cmd = &fsm.OperatorMessage{Chat: r.chat, Operator: b.AuthorID, Text: b.Text}
	} else {
		cmd = &fsm.CustomerMessage{Chat: r.chat, Text: b.Text}
	}
	res, ok := r.propose(cmd, b)
	if !ok {
		return
	}
	e := r.begin()
	e.objectStart(2)
	e.key("message")
	if res.Message != nil {
		renderMessage(e, res.Message)
	} else {
		e.null()
	}
	e.key("chat")
	renderChat(e, res.Chat)
	e.objectEnd()
	r.send(201)
}

// chatAction serves the transitions whose body is {"operator"}.
func (s *Server) chatAction(t fsm.CommandType) func(*request) {
	return func(r *request) {
		b, ok := decodeBody(r, false, decodeActionBody)
		if !ok {
			return
		}
		a := fsm.ChatAction{Chat: r.chat, Operator: b.Operator}
		var cmd fsm.Command
		switch t {
		case fsm.CmdJoin:
			cmd = &fsm.Join{ChatAction: a}
		case fsm.CmdLeave:
			cmd = &fsm.Leave{ChatAction: a}
		case fsm.CmdMarkUnread:
			cmd = &fsm.MarkUnread{ChatAction: a}
		case fsm.CmdMarkRead:
			cmd = &fsm.MarkRead{ChatAction: a}
		case fsm.CmdClose:
			cmd = &fsm.Close{ChatAction: a}
		case fsm.CmdReopen:
			cmd = &fsm.Reopen{ChatAction: a}
		default:
			panic(fmt.Sprintf("httpapi: chatAction for command type %d", t))
		}
		res, ok := r.propose(cmd, b)
		if !ok {
			return
		}
		renderChat(r.begin(), res.Chat)
		r.send(200)
	}
}

func (s *Server) assign(r *request) {
	b, ok := decodeBody(r, false, decodeAssignBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.Assign{Chat: r.chat, Operator: b.Operator, By: b.By}, b)
	if !ok {
		return
	}
	renderChat(r.begin(), res.Chat)
	r.send(200)
}

// createKey makes an account key: a random id and a random secret, of
// which only the SHA-256 is replicated. The secret is shown in this
// response only. A replay (same Idempotency-Key) answers the original
// status and key id with "key": null: the secret was never stored, so it
// cannot be shown again; revoke that key and create another.
func (s *Server) createKey(r *request) {
	b, ok := decodeBody(r, true, decodeEmptyBody)
	if !ok {
		return
	}
	id, secret, err := newAccountKey()
	if err != nil {
		r.fail(err)
		return
	}
	res, ok := r.propose(&fsm.CreateKey{KeyID: id, Hash: sha256.Sum256([]byte(secret))}, b)
	if !ok {
		return
	}
	e := r.begin()
	e.objectStart(2)
	e.key("id")
	if res.KeyID != "" {
		e.str(res.KeyID)
	} else {
		e.str(id)
	}
	e.key("key")
	if res.Replayed {
		e.null()
	} else {
		e.str(secret)
	}
	e.objectEnd()
	r.send(201)
}

// newAccountKey draws a key id ("key-" and 16 hex digits) and a secret
// ("csk_" and 32 random bytes in base64url).
func newAccountKey() (id, secret string, err error) {
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("httpapi: generate key: %w", err)
	}
	return "key-" + hex.EncodeToString(b[:8]), "csk_" + base64.RawURLEncoding.EncodeToString(b[8:]), nil
}

func (s *Server) revokeKey(r *request) {
	b, ok := decodeBody(r, true, decodeEmptyBody)
	if !ok {
		return
	}
	if _, ok := r.propose(&fsm.RevokeKey{KeyID: r.sub}, b); !ok {
		return
	}
	r.noContent()
}
