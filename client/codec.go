package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Encoding is the wire format of request and response bodies.
type Encoding uint8

const (
	// JSON is application/json, the API's default.
	JSON Encoding = iota
	// MessagePack is application/msgpack: smaller bodies and cheaper to
	// decode; field names are the same as JSON's.
	MessagePack
)

const (
	contentTypeJSON    = "application/json"
	contentTypeMsgpack = "application/msgpack"
)

func (e Encoding) String() string {
	switch e {
	case JSON:
		return "json"
	case MessagePack:
		return "msgpack"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

func (e Encoding) contentType() string {
	if e == MessagePack {
		return contentTypeMsgpack
	}
	return contentTypeJSON
}

// structTag makes msgpack read the json tags, so each type declares its
// wire names once.
const structTag = "json"

// encodeBody appends v's encoding to buf.
func encodeBody(enc Encoding, buf *bytes.Buffer, v any) error {
	if enc == MessagePack {
		e := msgpack.GetEncoder()
		defer msgpack.PutEncoder(e)
		e.Reset(buf)
		e.SetCustomStructTag(structTag)
		return e.Encode(v)
	}
	if a, ok := v.(jsonAppender); ok {
		buf.Write(a.appendJSON(buf.AvailableBuffer()))
		return nil
	}
	return json.NewEncoder(buf).Encode(v)
}

// decodeBody decodes body into out according to the response's content
// type (a server answers in the encoding asked for, but a proxy or a
// library's own error page may not).
func decodeBody(contentType []byte, body []byte, out any) error {
	if bytes.HasPrefix(contentType, []byte(contentTypeMsgpack)) {
		return decodeMsgpack(body, out)
	}
	return json.Unmarshal(body, out)
}

func decodeMsgpack(body []byte, out any) error {
	// Static calls, so that the reader stays on this stack: on the heap,
	// each of its moves through the body would be a pointer write with a
	// write barrier while the collector runs.
	r := msgpackReader{rest: body, size: len(body), hint: 1}
	switch v := out.(type) {
	case *ChatPage:
		v.decodeMsgpack(&r)
	case *Chat:
		v.decodeMsgpack(&r)
	case *MessageResult:
		v.decodeMsgpack(&r)
	case *MessagePage:
		v.decodeMsgpack(&r)
	case *NotificationPage:
		v.decodeMsgpack(&r)
	case *Counts:
		v.decodeMsgpack(&r)
	case *Account:
		v.decodeMsgpack(&r)
	case *Operator:
		v.decodeMsgpack(&r)
	case *operatorsBody:
		v.decodeMsgpack(&r)
	case *accountsBody:
		v.decodeMsgpack(&r)
	default:
		return decodeMsgpackReflect(body, out)
	}
	return r.finish()
}

// decodeMsgpackReflect decodes the rare answers through msgpack's
// reflection.
func decodeMsgpackReflect(body []byte, out any) error {
	d := msgpack.GetDecoder()
	r := bytes.NewReader(body)
	d.Reset(r)
	d.SetCustomStructTag(structTag)
	if err := d.Decode(out); err != nil {
		// Not back to the pool: a failed decode may have grown the
		// decoder's buffer toward a length the body declared but did not
		// have, and msgpack keeps that buffer.
		return err
	}
	msgpack.PutDecoder(d)
	if r.Len() != 0 {
		return fmt.Errorf("msgpack: %d trailing bytes after the body", r.Len())
	}
	return nil
}

// The API sends times as RFC 3339 strings in MessagePack too, which
// msgpack's own time.Time decoding (an extension type) does not accept; and
// the records are decoded on every list page. So the records decode
// themselves with msgpackReader (msgpack.go); only the rare answers (node
// status, keys, errors) go through msgpack's reflection.

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// The decoders below follow the server's renderers (httpapi/render.go)
// but accept members in any order, skip members they do not know (a newer
// server may add some), and take nil for a member as its zero value, as
// encoding/json does for null.

// decodeWith decodes the next value of d with decode, for the
// msgpack.CustomDecoder methods: msgpack.Unmarshal into a record gives
// what the client's own calls give.
func decodeWith(d *msgpack.Decoder, decode func(r *msgpackReader)) error {
	raw, err := d.DecodeRaw()
	if err != nil {
		return err
	}
	r := newMsgpackReader(raw)
	decode(r)
	return r.finish()
}

func (r *msgpackReader) account(a *Account) {
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "id":
			a.ID = r.str()
		case "name":
			a.Name = r.str()
		case "created_at":
			a.CreatedAt = r.time()
		default:
			r.skip()
		}
	}
}

func (r *msgpackReader) operator(o *Operator) {
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "id":
			o.ID = r.str()
		case "name":
			o.Name = r.str()
		case "email":
			o.Email = r.optStr()
		case "created_at":
			o.CreatedAt = r.time()
		case "active_chats":
			if r.peekNil() {
				o.ActiveChats = nil
				continue
			}
			n := int(r.int())
			o.ActiveChats = &n
		default:
			r.skip()
		}
	}
}

func (r *msgpackReader) contact(c *Contact) {
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "id":
			c.ID = r.optStr()
		case "type":
			c.Type = enum(r, knownContactTypes)
		case "name":
			c.Name = r.optStr()
		case "email":
			c.Email = r.optStr()
		default:
			r.skip()
		}
	}
}

func (r *msgpackReader) author(a *Author) {
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "type":
			a.Type = enum(r, knownAuthorTypes)
		case "id":
			a.ID = r.str()
		default:
			r.skip()
		}
	}
}

func (r *msgpackReader) message(m *Message) {
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "seq":
			m.Seq = r.int()
		case "author":
			var a Author // a repeated member replaces, as in JSON's reading
			r.author(&a)
			m.Author = a
		case "text":
			m.Text = r.str()
		case "event":
			m.Event = enum(r, knownSystemEvents)
		case "operator":
			m.Operator = r.optStr()
		case "at":
			m.At = r.time()
		default:
			r.skip()
		}
	}
}

// optMessage reads a message, or nil as a nil pointer.
func (r *msgpackReader) optMessage() *Message {
	if r.peekNil() {
		return nil
	}
	if len(r.messages) == 0 {
		r.messages = make([]Message, r.chunk(1))
	}
	m := &r.messages[0]
	r.messages = r.messages[1:]
	r.message(m)
	return m
}

func (r *msgpackReader) chat(c *Chat) {
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "id":
			c.ID = r.int()
		case "status":
			c.Status = enum(r, knownStatuses)
		case "contact":
			var contact Contact // a repeated member replaces, as in JSON's reading
			r.contact(&contact)
			c.Contact = contact
		case "source":
			c.Source = enum(r, knownSources)
		case "assignee":
			c.Assignee = r.optStr()
		case "participants":
			c.Participants = r.strList()
		case "unread":
			c.Unread = r.bool()
		case "created_at":
			c.CreatedAt = r.time()
		case "last_activity_at":
			c.LastActivityAt = r.time()
		case "waiting_since":
			c.WaitingSince = r.optTime()
		case "first_reply_at":
			c.FirstReplyAt = r.optTime()
		case "closed_at":
			c.ClosedAt = r.optTime()
		case "closed_by":
			c.ClosedBy = r.optStr()
		case "message_count":
			c.MessageCount = int(r.int())
		case "last_message":
			c.LastMessage = r.optMessage()
		default:
			r.skip()
		}
	}
}

func (r *msgpackReader) notification(n *Notification) {
	for k := r.mapLen(); k > 0 && r.err == nil; k-- {
		switch string(r.raw()) {
		case "id":
			n.ID = r.int()
		case "type":
			n.Type = enum(r, knownNotifications)
		case "recipient":
			n.Recipient = r.str()
		case "chat_id":
			n.ChatID = r.int()
		case "operator":
			n.Operator = r.optStr()
		case "at":
			n.At = r.time()
		case "read":
			n.Read = r.bool()
		default:
			r.skip()
		}
	}
}

// The API's enumerations, which decode to these values without copying
// them out of the body. Read-only.
var (
	knownStatuses      = []ChatStatus{StatusActive, StatusClosed}
	knownSources       = []Source{SourceEmail, SourceLandingPage, SourceChatPage, SourceExternalPage}
	knownContactTypes  = []ContactType{ContactTypeContact, ContactTypeVisitor}
	knownAuthorTypes   = []AuthorType{AuthorCustomer, AuthorOperator, AuthorSystem}
	knownSystemEvents  = []SystemEvent{SystemOperatorJoined, SystemOperatorLeft, SystemAssigned, SystemUnassigned, SystemClosed, SystemReopened}
	knownNotifications = []NotificationType{NotificationOperatorJoined, NotificationOperatorLeft, NotificationChatAssigned,
		NotificationChatUnassigned, NotificationNewMessage, NotificationChatReopened}
)

// enum reads a string that is usually one of known.
func enum[T ~string](r *msgpackReader, known []T) T {
	b := r.raw()
	for _, k := range known {
		if string(b) == string(k) {
			return k
		}
	}
	return T(r.textOf(b))
}

// records decodes an array of records (Chat, Message, Notification,
// Operator or Account) into a slice of exactly its length (which the
// reader has checked against the bytes left). nil is a nil slice.
func records[T any](r *msgpackReader) []T {
	n := r.arrayLen()
	if n < 0 || r.err != nil {
		return nil
	}
	out := make([]T, n)
	hint := r.hint
	r.hint = max(n, 1)
	for i := range out {
		if r.err != nil {
			return nil
		}
		switch v := any(&out[i]).(type) { // static calls, as in decodeMsgpack
		case *Chat:
			r.chat(v)
		case *Message:
			r.message(v)
		case *Notification:
			r.notification(v)
		case *Operator:
			r.operator(v)
		case *Account:
			r.account(v)
		default:
			panic(fmt.Sprintf("client: records of %T", v))
		}
	}
	r.hint = hint
	return out
}

// intMap decodes a map of integers keyed by strings; nil is a nil map.
func intMap[K ~string](r *msgpackReader) map[K]int {
	if r.peekNil() {
		return nil
	}
	n := r.mapLen()
	m := make(map[K]int, n)
	for ; n > 0 && r.err == nil; n-- {
		k := K(r.str())
		m[k] = int(r.int())
	}
	return m
}

// The reader's record methods (account, chat...) fill a zero value, which
// records and the chunks provide; these entry points clear theirs first.

func (a *Account) decodeMsgpack(r *msgpackReader)      { *a = Account{}; r.account(a) }
func (o *Operator) decodeMsgpack(r *msgpackReader)     { *o = Operator{}; r.operator(o) }
func (m *Message) decodeMsgpack(r *msgpackReader)      { *m = Message{}; r.message(m) }
func (c *Chat) decodeMsgpack(r *msgpackReader)         { *c = Chat{}; r.chat(c) }
func (n *Notification) decodeMsgpack(r *msgpackReader) { *n = Notification{}; r.notification(n) }

func (p *ChatPage) decodeMsgpack(r *msgpackReader) {
	*p = ChatPage{}
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "chats":
			p.Chats = records[Chat](r)
		case "next_cursor":
			p.NextCursor = r.str()
		default:
			r.skip()
		}
	}
}

func (p *MessagePage) decodeMsgpack(r *msgpackReader) {
	*p = MessagePage{}
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "messages":
			p.Messages = records[Message](r)
		case "next_after":
			p.NextAfter = r.optInt()
		default:
			r.skip()
		}
	}
}

func (p *NotificationPage) decodeMsgpack(r *msgpackReader) {
	*p = NotificationPage{}
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "notifications":
			p.Notifications = records[Notification](r)
		case "unread_count":
			p.UnreadCount = int(r.int())
		case "next_after":
			p.NextAfter = r.optInt()
		default:
			r.skip()
		}
	}
}

func (m *MessageResult) decodeMsgpack(r *msgpackReader) {
	*m = MessageResult{}
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "message":
			var msg Message
			r.message(&msg)
			m.Message = msg
		case "chat":
			var chat Chat
			r.chat(&chat)
			m.Chat = chat
		default:
			r.skip()
		}
	}
}

func (c *Counts) decodeMsgpack(r *msgpackReader) {
	*c = Counts{}
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		switch string(r.raw()) {
		case "status":
			c.Status = enum(r, knownStatuses)
		case "all":
			c.All = int(r.int())
		case "unassigned":
			c.Unassigned = int(r.int())
		case "unread":
			c.Unread = int(r.int())
		case "operators":
			c.Operators = intMap[string](r)
		case "contact_types":
			c.ContactTypes = intMap[ContactType](r)
		case "sources":
			c.Sources = intMap[Source](r)
		default:
			r.skip()
		}
	}
}

func (b *operatorsBody) decodeMsgpack(r *msgpackReader) {
	*b = operatorsBody{}
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		if string(r.raw()) != "operators" {
			r.skip()
			continue
		}
		b.Operators = records[Operator](r)
	}
}

func (b *accountsBody) decodeMsgpack(r *msgpackReader) {
	*b = accountsBody{}
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		if string(r.raw()) != "accounts" {
			r.skip()
			continue
		}
		b.Accounts = records[Account](r)
	}
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (a *Account) DecodeMsgpack(d *msgpack.Decoder) error { return decodeWith(d, a.decodeMsgpack) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (o *Operator) DecodeMsgpack(d *msgpack.Decoder) error { return decodeWith(d, o.decodeMsgpack) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Message) DecodeMsgpack(d *msgpack.Decoder) error { return decodeWith(d, m.decodeMsgpack) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (c *Chat) DecodeMsgpack(d *msgpack.Decoder) error { return decodeWith(d, c.decodeMsgpack) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (n *Notification) DecodeMsgpack(d *msgpack.Decoder) error {
	return decodeWith(d, n.decodeMsgpack)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *ChatPage) DecodeMsgpack(d *msgpack.Decoder) error { return decodeWith(d, p.decodeMsgpack) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *MessagePage) DecodeMsgpack(d *msgpack.Decoder) error { return decodeWith(d, p.decodeMsgpack) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *NotificationPage) DecodeMsgpack(d *msgpack.Decoder) error {
	return decodeWith(d, p.decodeMsgpack)
}
