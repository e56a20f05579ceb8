package httpapi

import (
	"net"
	"strconv"
	"unicode/utf8"

	"github.com/chatstate/chatstate/fsm"
)

// The request bodies of the API, decoded and validated. Each has a
// canonical encoding, used for the idempotency fingerprint, so that a JSON
// and a MessagePack request that decode alike have the same fingerprint.

// limits are the bounds a body is validated against.
type limits struct {
	text int // message text, bytes
	name int // names and emails, bytes
}

type requestBody interface {
	// canonical appends the body's canonical encoding.
	canonical(b []byte) []byte
}

// accountBody is PUT /v1/accounts/{a}.
type accountBody struct {
	Name string
}

// operatorBody is PUT /v1/accounts/{a}/operators/{op}.
type operatorBody struct {
	Name  string
	Email *string
}

// createChatBody is POST /v1/accounts/{a}/chats.
type createChatBody struct {
	Contact fsm.Contact
	Source  fsm.Source
	Text    string
}

// messageBody is POST .../chats/{id}/messages.
type messageBody struct {
	Author   fsm.AuthorType // customer or operator
	AuthorID string         // the operator, for operator messages
	Text     string
}

// actionBody is the body of join, leave, unread, read, close and reopen.
type actionBody struct {
	Operator string
}

// assignBody is POST .../chats/{id}/assign; Operator "" is null
// (unassign).
type assignBody struct {
	Operator string
	By       string
}

// readNotificationsBody is POST .../notifications/read.
type readNotificationsBody struct {
	UpTo int64
}

// joinBody is POST /v1/cluster/join.
type joinBody struct {
	ID, Raft, HTTP string
}

// emptyBody is a write without parameters (POST keys): no body, or an
// empty object.
type emptyBody struct{}

func (l limits) checkName(f *fields, field, s string) {
	switch {
	case f.failed():
	case s == "":
		f.invalid(field, "must not be empty")
	case len(s) > l.name:
		f.invalid(field, "is %d bytes long; the limit is %d", len(s), l.name)
	}
}

// optName validates an optional name or email: present means 1..limit
// bytes (send null or leave it out for "none").
func (l limits) checkOptName(f *fields, field string, s *string) {
	if s != nil {
		l.checkName(f, field, *s)
	}
}

func (l limits) checkText(f *fields, field, s string) {
	switch {
	case f.failed():
	case s == "":
		f.invalid(field, "must not be empty")
	case len(s) > l.text:
		f.invalid(field, "is %d bytes long; the limit is %d", len(s), l.text)
	}
}

// id validates a caller-chosen id (account, operator, contact).
func checkID(f *fields, field, s string) {
	if !f.failed() && !fsm.ValidID(s) {
		f.invalid(field, "is not a valid id (%s): 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", quote(s))
	}
}

func decodeAccountBody(obj object, l limits) (accountBody, *apiError) {
	f := newFields(obj, "", "name")
	b := accountBody{Name: f.str("name")}
	l.checkName(f, "name", b.Name)
	return b, f.err()
}

func decodeOperatorBody(obj object, l limits) (operatorBody, *apiError) {
	f := newFields(obj, "", "name", "email")
	b := operatorBody{Name: f.str("name"), Email: f.optStr("email")}
	l.checkName(f, "name", b.Name)
	l.checkOptName(f, "email", b.Email)
	return b, f.err()
}

func decodeCreateChatBody(obj object, l limits) (createChatBody, *apiError) {
	f := newFields(obj, "", "contact", "source", "text")
	var b createChatBody
	c := f.object("contact", "id", "type", "name", "email")
	typ := c.str("type")
	if !c.failed() {
		t, ok := fsm.ParseContactType(typ)
		if !ok {
			c.invalid("type", "must be \"contact\" or \"visitor\", not %s", quote(typ))
		}
		b.Contact.Type = t
	}
	b.Contact.ID = c.optStr("id")
	if b.Contact.ID != nil {
		checkID(c, "id", *b.Contact.ID)
	}
	b.Contact.Name = c.optStr("name")
	l.checkOptName(c, "name", b.Contact.Name)
	b.Contact.Email = c.optStr("email")
	l.checkOptName(c, "email", b.Contact.Email)
	src := f.str("source")
	if !f.failed() {
		s, ok := fsm.ParseSource(src)
		if !ok {
			f.invalid("source", "must be one of \"email\", \"landing_page\", \"chat_page\", \"external_page\", not %s", quote(src))
		}
		b.Source = s
	}
	b.Text = f.str("text")
	l.checkText(f, "text", b.Text)
	return b, f.err()
}

func decodeMessageBody(obj object, l limits) (messageBody, *apiError) {
	f := newFields(obj, "", "author", "text")
	var b messageBody
	a := f.object("author", "type", "id")
	typ := a.str("type")
	id := a.optStr("id")
	if !a.failed() {
		switch typ {
		case "customer":
			b.Author = fsm.AuthorCustomer
			if id != nil {
				a.invalid("id", "must be left out for a customer message")
			}
		case "operator":
			b.Author = fsm.AuthorOperator
			if id == nil {
				a.missing("id")
			} else {
				b.AuthorID = *id
				checkID(a, "id", b.AuthorID)
			}
		default:
			a.invalid("type", "must be \"customer\" or \"operator\", not %s", quote(typ))
		}
	}
	b.Text = f.str("text")
	l.checkText(f, "text", b.Text)
	return b, f.err()
}

func decodeActionBody(obj object, _ limits) (actionBody, *apiError) {
	f := newFields(obj, "", "operator")
	b := actionBody{Operator: f.str("operator")}
	checkID(f, "operator", b.Operator)
	return b, f.err()
}

func decodeAssignBody(obj object, _ limits) (assignBody, *apiError) {
	f := newFields(obj, "", "operator", "by")
	var b assignBody
	if op := f.nullableStr("operator"); op != nil {
		b.Operator = *op
		checkID(f, "operator", b.Operator)
	}
	b.By = f.str("by")
	checkID(f, "by", b.By)
	return b, f.err()
}

func decodeReadNotificationsBody(obj object, _ limits) (readNotificationsBody, *apiError) {
	f := newFields(obj, "", "up_to")
	b := readNotificationsBody{UpTo: f.int("up_to")}
	if !f.failed() && b.UpTo < 0 {
		f.invalid("up_to", "must be 0 or a notification id, not %d", b.UpTo)
	}
	return b, f.err()
}

func decodeJoinBody(obj object, _ limits) (joinBody, *apiError) {
	f := newFields(obj, "", "id", "raft", "http")
	b := joinBody{ID: f.str("id"), Raft: f.str("raft"), HTTP: f.str("http")}
	checkID(f, "id", b.ID)
	checkHostPort(f, "raft", b.Raft)
	checkHostPort(f, "http", b.HTTP)
	return b, f.err()
}

func checkHostPort(f *fields, field, s string) {
	if f.failed() {
		return
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || !utf8.ValidString(host) {
		f.invalid(field, "must be host:port, not %s", quote(s))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		f.invalid(field, "has an invalid port in %s", quote(s))
	}
}

func decodeEmptyBody(obj object, _ limits) (emptyBody, *apiError) {
	f := newFields(obj, "")
	return emptyBody{}, f.err()
}

// Canonical encodings: a MessagePack array of the decoded values in a
// fixed order, nil for absent.

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0xc0)
	}
	return appendMsgpackString(b, *s)
}

func (x accountBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 1)
	return appendMsgpackString(b, x.Name)
}

func (x operatorBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 2)
	b = appendMsgpackString(b, x.Name)
	return appendOptString(b, x.Email)
}

func (x createChatBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 6)
	b = appendMsgpackUint(b, uint64(x.Contact.Type))
	b = appendOptString(b, x.Contact.ID)
	b = appendOptString(b, x.Contact.Name)
	b = appendOptString(b, x.Contact.Email)
	b = appendMsgpackUint(b, uint64(x.Source))
	return appendMsgpackString(b, x.Text)
}

func (x messageBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 3)
	b = appendMsgpackUint(b, uint64(x.Author))
	b = appendMsgpackString(b, x.AuthorID)
	return appendMsgpackString(b, x.Text)
}

func (x actionBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 1)
	return appendMsgpackString(b, x.Operator)
}

func (x assignBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 2)
	b = appendMsgpackString(b, x.Operator)
	return appendMsgpackString(b, x.By)
}

func (x readNotificationsBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 1)
	return appendMsgpackInt(b, x.UpTo)
}

func (x joinBody) canonical(b []byte) []byte {
	b = appendMsgpackArrayLen(b, 3)
	b = appendMsgpackString(b, x.ID)
	b = appendMsgpackString(b, x.Raft)
	return appendMsgpackString(b, x.HTTP)
}

func (emptyBody) canonical(b []byte) []byte { return appendMsgpackArrayLen(b, 0) }
