package httpapi

import (
	"github.com/chatstate/chatstate/fsm"
)

// The read endpoints: parameters first (400), then consistency (redirect,
// 503, 504), then the state.

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
		s.chats.render(e, c)
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
	c, err := s.backend.FSM().CountsInto(r.account, q, r.opCounts)
	if err != nil {
		r.fail(err)
		return
	}
	if c.Status == fsm.StatusAny {
		c.Status = q.Status
	}
	renderCounts(r.begin(), &c)
	r.opCounts = c.Operators[:0]
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
	s.chats.render(r.begin(), c)
	r.send(200)
}

// afterPage reads the paging parameters shared by transcripts and inboxes
// (after, limit) and applies the read's consistency. When it returns false
// the request has been answered.
func (r *request) afterPage() (after int64, limit int, ok bool) {
	after, aerr := r.queryCount("after")
	if aerr == nil {
		limit, aerr = r.queryLimit()
	}
	if aerr != nil {
		r.fail(aerr)
		return 0, 0, false
	}
	return after, limit, r.consistent()
}

func (s *Server) listMessages(r *request) {
	after, limit, ok := r.afterPage()
	if !ok {
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
	after, limit, ok := r.afterPage()
	if !ok {
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
