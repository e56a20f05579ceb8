package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// pageWriter writes list pages the way the server does (httpapi's
// renderChat): members in the API's order, integers in their shortest
// form, times as 24-byte strings, absent values as nil. Decoder tests and
// benchmarks use it where a real server would be too slow to ask.
type pageWriter struct {
	buf bytes.Buffer
	e   *msgpack.Encoder
}

func newPageWriter() *pageWriter {
	w := &pageWriter{}
	w.e = msgpack.NewEncoder(&w.buf)
	return w
}

func (w *pageWriter) must(err error) {
	if err != nil {
		panic(err)
	}
}

func (w *pageWriter) key(k string)     { w.must(w.e.EncodeString(k)) }
func (w *pageWriter) str(s string)     { w.must(w.e.EncodeString(s)) }
func (w *pageWriter) int(i int64)      { w.must(w.e.EncodeInt(i)) }
func (w *pageWriter) bool(b bool)      { w.must(w.e.EncodeBool(b)) }
func (w *pageWriter) null()            { w.must(w.e.EncodeNil()) }
func (w *pageWriter) mapLen(n int)     { w.must(w.e.EncodeMapLen(n)) }
func (w *pageWriter) arrayLen(n int)   { w.must(w.e.EncodeArrayLen(n)) }
func (w *pageWriter) time(t time.Time) { w.str(t.UTC().Format(timeLayout)) }

func (w *pageWriter) optStr(s *string) {
	if s == nil {
		w.null()
		return
	}
	w.str(*s)
}

func (w *pageWriter) optTime(t *time.Time) {
	if t == nil {
		w.null()
		return
	}
	w.time(*t)
}

func (w *pageWriter) message(m *Message) {
	system := m.Author.Type == AuthorSystem
	n := 4
	if system {
		n = 6
	}
	w.mapLen(n)
	w.key("seq")
	w.int(m.Seq)
	w.key("author")
	if m.Author.Type == AuthorOperator {
		w.mapLen(2)
		w.key("type")
		w.str(string(m.Author.Type))
		w.key("id")
		w.str(m.Author.ID)
	} else {
		w.mapLen(1)
		w.key("type")
		w.str(string(m.Author.Type))
	}
	if system {
		w.key("event")
		w.str(string(m.Event))
		w.key("operator")
		w.optStr(m.Operator)
	}
	w.key("text")
	w.str(m.Text)
	w.key("at")
	w.time(m.At)
}

func (w *pageWriter) chat(c *Chat) {
	w.mapLen(15)
	w.key("id")
	w.int(c.ID)
	w.key("status")
	w.str(string(c.Status))
	w.key("contact")
	w.mapLen(4)
	w.key("id")
	w.optStr(c.Contact.ID)
	w.key("type")
	w.str(string(c.Contact.Type))
	w.key("name")
	w.optStr(c.Contact.Name)
	w.key("email")
	w.optStr(c.Contact.Email)
	w.key("source")
	w.str(string(c.Source))
	w.key("assignee")
	w.optStr(c.Assignee)
	w.key("participants")
	w.arrayLen(len(c.Participants))
	for _, p := range c.Participants {
		w.str(p)
	}
	w.key("unread")
	w.bool(c.Unread)
	w.key("created_at")
	w.time(c.CreatedAt)
	w.key("last_activity_at")
	w.time(c.LastActivityAt)
	w.key("waiting_since")
	w.optTime(c.WaitingSince)
	w.key("first_reply_at")
	w.optTime(c.FirstReplyAt)
	w.key("closed_at")
	w.optTime(c.ClosedAt)
	w.key("closed_by")
	w.optStr(c.ClosedBy)
	w.key("message_count")
	w.int(int64(c.MessageCount))
	w.key("last_message")
	if c.LastMessage == nil {
		w.null()
	} else {
		w.message(c.LastMessage)
	}
}

func (w *pageWriter) chatPage(p *ChatPage) []byte {
	w.buf.Reset()
	w.mapLen(2)
	w.key("chats")
	w.arrayLen(len(p.Chats))
	for i := range p.Chats {
		w.chat(&p.Chats[i])
	}
	w.key("next_cursor")
	if p.NextCursor == "" {
		w.null()
	} else {
		w.str(p.NextCursor)
	}
	return bytes.Clone(w.buf.Bytes())
}

// samplePage is a page of n chats like those of the benchmark's dataset:
// closed and active, contacts and visitors, assigned or not, some with a
// participant, every last message about 100 bytes.
func samplePage(n int) *ChatPage {
	base := time.Date(2026, 1, 3, 9, 12, 7, 123e6, time.UTC)
	at := func(i int, d time.Duration) time.Time { return base.Add(time.Duration(i)*time.Minute + d) }
	ptr := func(t time.Time) *time.Time { return &t }
	p := &ChatPage{NextCursor: "eyJ0IjoxNzY3NDMxNTI3MTIzLCJpIjo5OTk1MX0"}
	for i := range n {
		op := fmt.Sprintf("op-%03d", i%100)
		c := Chat{
			ID:             int64(200000 - i*7),
			Status:         StatusClosed,
			Contact:        Contact{Type: ContactTypeVisitor},
			Source:         []Source{SourceEmail, SourceLandingPage, SourceChatPage, SourceExternalPage}[i%4],
			Participants:   []string{},
			CreatedAt:      at(i, 0),
			LastActivityAt: at(i, 17*time.Minute+431*time.Millisecond),
			FirstReplyAt:   ptr(at(i, 2*time.Minute)),
			MessageCount:   5,
			LastMessage: &Message{
				Seq:    6,
				Author: Customer(),
				Text:   strings.Repeat("thanks for the help with my order ", 3)[:100],
				At:     at(i, 16*time.Minute),
			},
		}
		if i%3 == 0 {
			c.Contact = Contact{Type: ContactTypeContact, ID: String(fmt.Sprintf("c-%06d", i)),
				Name: String("Jane Doe"), Email: String("jane.doe@example.com")}
		}
		if i%20 != 0 {
			c.Assignee = &op
		}
		if i%7 == 0 {
			c.Participants = []string{fmt.Sprintf("op-%03d", (i+1)%100)}
		}
		if i%2 == 0 {
			c.Status = StatusActive
			c.Unread = true
			c.WaitingSince = ptr(at(i, 16*time.Minute))
		} else {
			c.ClosedAt = ptr(at(i, 17*time.Minute+431*time.Millisecond))
			c.ClosedBy = &op
		}
		if i%5 == 0 {
			c.LastMessage.Author = OperatorAuthor(op)
		}
		p.Chats = append(p.Chats, c)
	}
	return p
}

// BenchmarkDecodeChatPage decodes one list page of 50 chats as the server
// writes it, in MessagePack and in JSON.
//
//	go test -run '^$' -bench DecodeChatPage -benchmem ./client/
func BenchmarkDecodeChatPage(b *testing.B) {
	page := samplePage(50)
	mp := newPageWriter().chatPage(page)
	js, err := json.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{
		{"msgpack", contentTypeMsgpack, mp},
		{"json", contentTypeJSON, js},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				var out ChatPage
				if err := decodeBody([]byte(tc.contentType), tc.body, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
