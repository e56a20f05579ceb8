package client

import "strconv"

// Request bodies are written to JSON by hand rather than by encoding/json
// for one reason of behaviour and one of cost. encoding/json silently
// replaces invalid UTF-8 with U+FFFD, so a message would reach the server
// changed; written as is, it gets the API's 400 bad_request, as it does in
// MessagePack. And these few fixed shapes need no reflection.

// jsonAppender is a request body that writes its own JSON.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

// appendJSONString appends s as a JSON string. Bytes that are not valid
// UTF-8 are copied unchanged, for the server to refuse.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendMember appends "name": and s.
func appendMember(b []byte, first bool, name, s string) []byte {
	b = appendKey(b, first, name)
	return appendJSONString(b, s)
}

func appendKey(b []byte, first bool, name string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

func appendOptMember(b []byte, name string, s *string) []byte {
	if s == nil {
		return b
	}
	return appendMember(b, false, name, *s)
}

func (r nameBody) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendMember(b, true, "name", r.Name)
	return append(b, '}')
}

func (r operatorBody) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendMember(b, true, "name", r.Name)
	b = appendOptMember(b, "email", r.Email)
	return append(b, '}')
}

func (a Author) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendMember(b, true, "type", string(a.Type))
	if a.ID != "" {
		b = appendMember(b, false, "id", a.ID)
	}
	return append(b, '}')
}

func (r messageBody) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, true, "author")
	b = r.Author.appendJSON(b)
	b = appendMember(b, false, "text", r.Text)
	return append(b, '}')
}

func (r operatorField) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendMember(b, true, "operator", r.Operator)
	return append(b, '}')
}

func (r assignBody) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, true, "operator")
	if r.Operator == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *r.Operator)
	}
	b = appendMember(b, false, "by", r.By)
	return append(b, '}')
}

func (r readNotificationsBody) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, true, "up_to")
	b = strconv.AppendInt(b, r.UpTo, 10)
	return append(b, '}')
}

func (c Contact) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	if c.ID != nil {
		b = appendMember(b, true, "id", *c.ID)
		first = false
	}
	b = appendMember(b, first, "type", string(c.Type))
	b = appendOptMember(b, "name", c.Name)
	b = appendOptMember(b, "email", c.Email)
	return append(b, '}')
}

func (r CreateChatRequest) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, true, "contact")
	b = r.Contact.appendJSON(b)
	b = appendMember(b, false, "source", string(r.Source))
	b = appendMember(b, false, "text", r.Text)
	return append(b, '}')
}

func (r JoinRequest) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendMember(b, true, "id", r.ID)
	b = appendMember(b, false, "raft", r.Raft)
	b = appendMember(b, false, "http", r.HTTP)
	return append(b, '}')
}
