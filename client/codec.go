package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
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
// msgpack's own time.Time decoding (an extension type) does not accept. The
// types that carry times therefore decode themselves, member by member;
// the members without times go through msgpack's reflection.

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// decodeMembers calls member for each key of a map; a nil map decodes as
// nothing. member must consume the value.
func decodeMembers(d *msgpack.Decoder, member func(key string) error) error {
	n, err := d.DecodeMapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := d.DecodeString()
		if err != nil {
			return err
		}
		if err := member(key); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// isNil consumes a nil and reports true, or consumes nothing.
func isNil(d *msgpack.Decoder) (bool, error) {
	c, err := d.PeekCode()
	if err != nil {
		return false, err
	}
	if c == msgpcode.Nil {
		return true, d.DecodeNil()
	}
	return false, nil
}

func decodeTime(d *msgpack.Decoder) (time.Time, error) {
	if null, err := isNil(d); null || err != nil {
		return time.Time{}, err
	}
	s, err := d.DecodeString()
	if err != nil {
		return time.Time{}, err
	}
	return parseTime(s)
}

func decodeOptTime(d *msgpack.Decoder) (*time.Time, error) {
	if null, err := isNil(d); null || err != nil {
		return nil, err
	}
	s, err := d.DecodeString()
	if err != nil {
		return nil, err
	}
	t, err := parseTime(s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func decodeOptString(d *msgpack.Decoder) (*string, error) {
	if null, err := isNil(d); null || err != nil {
		return nil, err
	}
	s, err := d.DecodeString()
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (a *Account) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*a = Account{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "id":
			a.ID, err = d.DecodeString()
		case "name":
			a.Name, err = d.DecodeString()
		case "created_at":
			a.CreatedAt, err = decodeTime(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (o *Operator) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*o = Operator{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "id":
			o.ID, err = d.DecodeString()
		case "name":
			o.Name, err = d.DecodeString()
		case "email":
			o.Email, err = decodeOptString(d)
		case "created_at":
			o.CreatedAt, err = decodeTime(d)
		case "active_chats":
			var n int
			n, err = d.DecodeInt()
			o.ActiveChats = &n
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Message) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*m = Message{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "seq":
			m.Seq, err = d.DecodeInt64()
		case "author":
			err = d.Decode(&m.Author)
		case "text":
			m.Text, err = d.DecodeString()
		case "event":
			var s *string
			s, err = decodeOptString(d)
			if s != nil {
				m.Event = SystemEvent(*s)
			}
		case "operator":
			m.Operator, err = decodeOptString(d)
		case "at":
			m.At, err = decodeTime(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (c *Chat) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*c = Chat{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "id":
			c.ID, err = d.DecodeInt64()
		case "status":
			var s string
			s, err = d.DecodeString()
			c.Status = ChatStatus(s)
		case "contact":
			err = d.Decode(&c.Contact)
		case "source":
			var s string
			s, err = d.DecodeString()
			c.Source = Source(s)
		case "assignee":
			c.Assignee, err = decodeOptString(d)
		case "participants":
			c.Participants, err = decodeStrings(d)
		case "unread":
			c.Unread, err = d.DecodeBool()
		case "created_at":
			c.CreatedAt, err = decodeTime(d)
		case "last_activity_at":
			c.LastActivityAt, err = decodeTime(d)
		case "waiting_since":
			c.WaitingSince, err = decodeOptTime(d)
		case "first_reply_at":
			c.FirstReplyAt, err = decodeOptTime(d)
		case "closed_at":
			c.ClosedAt, err = decodeOptTime(d)
		case "closed_by":
			c.ClosedBy, err = decodeOptString(d)
		case "message_count":
			c.MessageCount, err = d.DecodeInt()
		case "last_message":
			var null bool
			if null, err = isNil(d); err == nil && !null {
				c.LastMessage = new(Message)
				err = c.LastMessage.DecodeMsgpack(d)
			}
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (n *Notification) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*n = Notification{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "id":
			n.ID, err = d.DecodeInt64()
		case "type":
			var s string
			s, err = d.DecodeString()
			n.Type = NotificationType(s)
		case "recipient":
			n.Recipient, err = d.DecodeString()
		case "chat_id":
			n.ChatID, err = d.DecodeInt64()
		case "operator":
			n.Operator, err = decodeOptString(d)
		case "at":
			n.At, err = decodeTime(d)
		case "read":
			n.Read, err = d.DecodeBool()
		default:
			err = d.Skip()
		}
		return err
	})
}

// msgpackRecord is a record type that decodes itself.
type msgpackRecord[T any] interface {
	*T
	DecodeMsgpack(*msgpack.Decoder) error
}

// decodeRecords decodes an array of records. It grows the slice as
// elements arrive instead of trusting the declared length, which msgpack
// would preallocate (up to a million elements) from a five-byte header.
func decodeRecords[T any, P msgpackRecord[T]](d *msgpack.Decoder) ([]T, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	out := make([]T, 0, min(n, 64))
	for i := 0; i < n; i++ {
		var v T
		if err := P(&v).DecodeMsgpack(d); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeStrings decodes an array of strings, growing as decodeRecords does.
func decodeStrings(d *msgpack.Decoder) ([]string, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	out := make([]string, 0, min(n, 16))
	for i := 0; i < n; i++ {
		s, err := d.DecodeString()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func decodeOptInt64(d *msgpack.Decoder) (*int64, error) {
	if null, err := isNil(d); null || err != nil {
		return nil, err
	}
	n, err := d.DecodeInt64()
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *ChatPage) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*p = ChatPage{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "chats":
			p.Chats, err = decodeRecords[Chat](d)
		case "next_cursor":
			var s *string
			s, err = decodeOptString(d)
			if s != nil {
				p.NextCursor = *s
			}
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *MessagePage) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*p = MessagePage{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "messages":
			p.Messages, err = decodeRecords[Message](d)
		case "next_after":
			p.NextAfter, err = decodeOptInt64(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *NotificationPage) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*p = NotificationPage{}
	return decodeMembers(d, func(key string) error {
		switch key {
		case "notifications":
			p.Notifications, err = decodeRecords[Notification](d)
		case "unread_count":
			p.UnreadCount, err = d.DecodeInt()
		case "next_after":
			p.NextAfter, err = decodeOptInt64(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (b *operatorsBody) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*b = operatorsBody{}
	return decodeMembers(d, func(key string) error {
		if key != "operators" {
			return d.Skip()
		}
		b.Operators, err = decodeRecords[Operator](d)
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (b *accountsBody) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	*b = accountsBody{}
	return decodeMembers(d, func(key string) error {
		if key != "accounts" {
			return d.Skip()
		}
		b.Accounts, err = decodeRecords[Account](d)
		return err
	})
}
