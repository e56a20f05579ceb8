package fsm_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chatstate/chatstate/fsm"
)

// Starting points of chat 1, over operators ann, bob and cid.
var chatStates = map[string]func(h *harness){
	"unassigned": func(h *harness) { h.newChat() },
	"assigned": func(h *harness) {
		h.newChat()
		h.reply(1, "ann")
	},
	"joined": func(h *harness) {
		h.newChat()
		h.reply(1, "ann")
		h.ok(&fsm.Join{ChatAction: act(1, "bob")})
	},
	"unassigned with participant": func(h *harness) {
		h.newChat()
		h.reply(1, "ann")
		h.ok(&fsm.Join{ChatAction: act(1, "bob")})
		h.ok(&fsm.Assign{Chat: 1, By: "ann"})
	},
	"closed": func(h *harness) {
		h.newChat()
		h.reply(1, "ann")
		h.ok(&fsm.Join{ChatAction: act(1, "bob")})
		h.ok(&fsm.Close{ChatAction: act(1, "cid")})
	},
	"closed unassigned": func(h *harness) {
		h.newChat()
		h.ok(&fsm.Close{ChatAction: act(1, "ann")})
	},
	"read": func(h *harness) {
		h.newChat()
		h.reply(1, "ann")
		h.ok(&fsm.CustomerMessage{Chat: 1, Text: "thanks"})
		h.ok(&fsm.MarkRead{ChatAction: act(1, "ann")})
	},
}

type transitionCase struct {
	name  string
	state string
	cmd   fsm.Command
	err   fsm.Code // "" for success
	// events are the types emitted, in order; nil for none (no-op).
	events []string
	// notes are the notifications created, as recipient:type:operator.
	notes []string
	// system is the system transcript entries added, as event:operator.
	system []string
	check  func(t *testing.T, before, after *fsm.Chat)
}

func TestTransitions(t *testing.T) {
	cases := []transitionCase{
		// customer messages
		{name: "customer message on unassigned chat", state: "unassigned",
			cmd:    &fsm.CustomerMessage{Chat: 1, Text: "hello?"},
			events: []string{"message.created"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if !a.Unread || a.MessageCount != 2 || a.WaitingSince != b.WaitingSince || a.LastMessage.Text != "hello?" {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "customer message notifies assignee and participants", state: "joined",
			cmd:    &fsm.CustomerMessage{Chat: 1, Text: "hello?"},
			events: []string{"message.created", "notification.created", "notification.created"},
			notes:  []string{"ann:new_message:", "bob:new_message:"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if !a.Unread || b.WaitingSince != 0 || a.WaitingSince != a.LastActivityAt {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "customer message reopens a closed chat", state: "closed",
			cmd:    &fsm.CustomerMessage{Chat: 1, Text: "one more thing"},
			events: []string{"chat.reopened", "message.created", "message.created", "notification.created"},
			notes:  []string{"ann:chat_reopened:"},
			system: []string{"reopened:"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Status != fsm.StatusActive || a.Assignee != "ann" || !a.Unread || a.ClosedAt != 0 || a.ClosedBy != "" || len(a.Participants()) != 0 {
					t.Errorf("chat %s", renderChat(a))
				}
				tr := a.Transcript()
				if tr[len(tr)-2].Event != fsm.SystemReopened || tr[len(tr)-1].AuthorType != fsm.AuthorCustomer || a.LastMessage.Seq != int64(len(tr)) {
					t.Errorf("transcript order: %+v", tr[len(tr)-2:])
				}
			}},
		{name: "customer message reopens a closed unassigned chat", state: "closed unassigned",
			cmd:    &fsm.CustomerMessage{Chat: 1, Text: "hello again"},
			events: []string{"chat.reopened", "message.created", "message.created"},
			system: []string{"reopened:"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Status != fsm.StatusActive || a.Assignee != "" || !a.Unread {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "customer message to a missing chat", state: "unassigned",
			cmd: &fsm.CustomerMessage{Chat: 2, Text: "x"}, err: fsm.CodeNotFound},

		// operator messages
		{name: "operator reply takes an unassigned chat", state: "unassigned",
			cmd:    &fsm.OperatorMessage{Chat: 1, Operator: "ann", Text: "hi"},
			events: []string{"chat.assigned", "message.created"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Assignee != "ann" || a.Unread || a.WaitingSince != 0 || a.FirstReplyAt != a.LastActivityAt || a.MessageCount != 2 {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "participant reply to an unassigned chat takes it", state: "unassigned with participant",
			cmd:    &fsm.OperatorMessage{Chat: 1, Operator: "bob", Text: "mine"},
			events: []string{"chat.assigned", "message.created"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Assignee != "bob" || len(a.Participants()) != 0 {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "assignee reply", state: "read",
			cmd:    &fsm.OperatorMessage{Chat: 1, Operator: "ann", Text: "more"},
			events: []string{"message.created"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.FirstReplyAt != b.FirstReplyAt || a.FirstReplyAt == a.LastActivityAt {
					t.Errorf("first_reply_at moved: %s", renderChat(a))
				}
			}},
		{name: "participant reply", state: "joined",
			cmd:    &fsm.OperatorMessage{Chat: 1, Operator: "bob", Text: "helping"},
			events: []string{"message.created"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Assignee != "ann" || a.LastMessage.AuthorID != "bob" {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "reply by a non-participant", state: "assigned",
			cmd: &fsm.OperatorMessage{Chat: 1, Operator: "bob", Text: "x"}, err: fsm.CodeNotParticipant},
		{name: "reply to a closed chat", state: "closed",
			cmd: &fsm.OperatorMessage{Chat: 1, Operator: "ann", Text: "x"}, err: fsm.CodeChatClosed},
		{name: "reply by an unknown operator, before the chat's state", state: "closed",
			cmd: &fsm.OperatorMessage{Chat: 1, Operator: "zed", Text: "x"}, err: fsm.CodeNotFound},
		{name: "reply to a missing chat", state: "assigned",
			cmd: &fsm.OperatorMessage{Chat: 9, Operator: "ann", Text: "x"}, err: fsm.CodeNotFound},

		// join
		{name: "join", state: "assigned",
			cmd:    &fsm.Join{ChatAction: act(1, "bob")},
			events: []string{"chat.joined", "message.created", "notification.created"},
			notes:  []string{"ann:operator_joined:bob"},
			system: []string{"operator_joined:bob"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if !slices.Equal(a.Participants(), []string{"bob"}) || a.Unread != b.Unread {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "second participant joins after the first", state: "joined",
			cmd:    &fsm.Join{ChatAction: act(1, "cid")},
			events: []string{"chat.joined", "message.created", "notification.created"},
			notes:  []string{"ann:operator_joined:cid"},
			system: []string{"operator_joined:cid"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if !slices.Equal(a.Participants(), []string{"bob", "cid"}) || !slices.Equal(b.Participants(), []string{"bob"}) {
					t.Errorf("participants %q (before %q)", a.Participants(), b.Participants())
				}
			}},
		{name: "join twice is a no-op", state: "joined", cmd: &fsm.Join{ChatAction: act(1, "bob")}},
		{name: "join a closed chat", state: "closed", cmd: &fsm.Join{ChatAction: act(1, "bob")}, err: fsm.CodeChatClosed},
		{name: "join an unassigned chat", state: "unassigned", cmd: &fsm.Join{ChatAction: act(1, "bob")}, err: fsm.CodeChatUnassigned},
		{name: "assignee joins", state: "assigned", cmd: &fsm.Join{ChatAction: act(1, "ann")}, err: fsm.CodeAlreadyAssigned},
		{name: "unknown operator joins a closed chat", state: "closed", cmd: &fsm.Join{ChatAction: act(1, "zed")}, err: fsm.CodeNotFound},

		// leave
		{name: "leave", state: "joined",
			cmd:    &fsm.Leave{ChatAction: act(1, "bob")},
			events: []string{"chat.left", "message.created", "notification.created"},
			notes:  []string{"ann:operator_left:bob"},
			system: []string{"operator_left:bob"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if len(a.Participants()) != 0 {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "leave an unassigned chat notifies nobody", state: "unassigned with participant",
			cmd:    &fsm.Leave{ChatAction: act(1, "bob")},
			events: []string{"chat.left", "message.created"},
			system: []string{"operator_left:bob"}},
		{name: "leave without having joined", state: "assigned", cmd: &fsm.Leave{ChatAction: act(1, "bob")}, err: fsm.CodeNotParticipant},
		{name: "assignee leaves", state: "assigned", cmd: &fsm.Leave{ChatAction: act(1, "ann")}, err: fsm.CodeNotParticipant},
		{name: "leave a closed chat", state: "closed", cmd: &fsm.Leave{ChatAction: act(1, "bob")}, err: fsm.CodeChatClosed},

		// unread / read
		{name: "mark unread", state: "read",
			cmd:    &fsm.MarkUnread{ChatAction: act(1, "bob")},
			events: []string{"chat.unread"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if !a.Unread || a.LastActivityAt != b.LastActivityAt || len(a.Transcript()) != len(b.Transcript()) {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "mark an unread chat unread is a no-op", state: "unassigned", cmd: &fsm.MarkUnread{ChatAction: act(1, "ann")}},
		{name: "mark read", state: "unassigned",
			cmd:    &fsm.MarkRead{ChatAction: act(1, "ann")},
			events: []string{"chat.read"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Unread || a.LastActivityAt != b.LastActivityAt || a.WaitingSince != b.WaitingSince {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "mark a read chat read is a no-op", state: "read", cmd: &fsm.MarkRead{ChatAction: act(1, "ann")}},
		{name: "mark a closed chat unread", state: "closed", cmd: &fsm.MarkUnread{ChatAction: act(1, "ann")}, err: fsm.CodeChatClosed},
		{name: "mark a closed chat read", state: "closed", cmd: &fsm.MarkRead{ChatAction: act(1, "ann")}, err: fsm.CodeChatClosed},
		{name: "unknown operator marks read", state: "unassigned", cmd: &fsm.MarkRead{ChatAction: act(1, "zed")}, err: fsm.CodeNotFound},

		// close / reopen
		{name: "close", state: "joined",
			cmd:    &fsm.Close{ChatAction: act(1, "cid")},
			events: []string{"chat.closed", "message.created"},
			system: []string{"closed:cid"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Status != fsm.StatusClosed || a.ClosedBy != "cid" || a.ClosedAt != a.LastActivityAt || a.Unread || len(a.Participants()) != 0 || a.Assignee != "ann" {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "close an unassigned chat", state: "unassigned",
			cmd:    &fsm.Close{ChatAction: act(1, "ann")},
			events: []string{"chat.closed", "message.created"},
			system: []string{"closed:ann"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Status != fsm.StatusClosed || a.Assignee != "" {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "close a closed chat is a no-op", state: "closed", cmd: &fsm.Close{ChatAction: act(1, "ann")}},
		{name: "unknown operator closes", state: "closed", cmd: &fsm.Close{ChatAction: act(1, "zed")}, err: fsm.CodeNotFound},
		{name: "reopen by another operator", state: "closed",
			cmd:    &fsm.Reopen{ChatAction: act(1, "bob")},
			events: []string{"chat.reopened", "message.created", "notification.created"},
			notes:  []string{"ann:chat_reopened:bob"},
			system: []string{"reopened:bob"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Status != fsm.StatusActive || a.Assignee != "ann" || a.Unread != b.Unread || a.ClosedAt != 0 || a.ClosedBy != "" {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "reopen by the assignee notifies nobody", state: "closed",
			cmd:    &fsm.Reopen{ChatAction: act(1, "ann")},
			events: []string{"chat.reopened", "message.created"},
			system: []string{"reopened:ann"}},
		{name: "reopen an active chat is a no-op", state: "assigned", cmd: &fsm.Reopen{ChatAction: act(1, "bob")}},
		{name: "unknown operator reopens", state: "closed", cmd: &fsm.Reopen{ChatAction: act(1, "zed")}, err: fsm.CodeNotFound},

		// assign
		{name: "assign an unassigned chat", state: "unassigned",
			cmd:    &fsm.Assign{Chat: 1, Operator: "bob", By: "ann"},
			events: []string{"chat.assigned", "message.created", "notification.created"},
			notes:  []string{"bob:chat_assigned:ann"},
			system: []string{"assigned:bob"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Assignee != "bob" || a.Unread != b.Unread {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "transfer by a third operator", state: "assigned",
			cmd:    &fsm.Assign{Chat: 1, Operator: "bob", By: "cid"},
			events: []string{"chat.assigned", "message.created", "notification.created", "notification.created"},
			notes:  []string{"bob:chat_assigned:cid", "ann:chat_unassigned:cid"},
			system: []string{"assigned:bob"}},
		{name: "transfer by the previous assignee", state: "assigned",
			cmd:    &fsm.Assign{Chat: 1, Operator: "bob", By: "ann"},
			events: []string{"chat.assigned", "message.created", "notification.created"},
			notes:  []string{"bob:chat_assigned:ann"},
			system: []string{"assigned:bob"}},
		{name: "self-assign", state: "assigned",
			cmd:    &fsm.Assign{Chat: 1, Operator: "bob", By: "bob"},
			events: []string{"chat.assigned", "message.created", "notification.created"},
			notes:  []string{"ann:chat_unassigned:bob"},
			system: []string{"assigned:bob"}},
		{name: "participant becomes assignee", state: "joined",
			cmd:    &fsm.Assign{Chat: 1, Operator: "bob", By: "ann"},
			events: []string{"chat.assigned", "message.created", "notification.created"},
			notes:  []string{"bob:chat_assigned:ann"},
			system: []string{"assigned:bob"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Assignee != "bob" || len(a.Participants()) != 0 {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "unassign by another operator", state: "assigned",
			cmd:    &fsm.Assign{Chat: 1, Operator: "", By: "bob"},
			events: []string{"chat.assigned", "message.created", "notification.created"},
			notes:  []string{"ann:chat_unassigned:bob"},
			system: []string{"unassigned:ann"},
			check: func(t *testing.T, b, a *fsm.Chat) {
				if a.Assignee != "" || a.Unread != b.Unread {
					t.Errorf("chat %s", renderChat(a))
				}
			}},
		{name: "unassign by the assignee", state: "assigned",
			cmd:    &fsm.Assign{Chat: 1, Operator: "", By: "ann"},
			events: []string{"chat.assigned", "message.created"},
			system: []string{"unassigned:ann"}},
		{name: "assign to the assignee is a no-op", state: "assigned", cmd: &fsm.Assign{Chat: 1, Operator: "ann", By: "bob"}},
		{name: "unassign an unassigned chat is a no-op", state: "unassigned", cmd: &fsm.Assign{Chat: 1, By: "bob"}},
		{name: "assign a closed chat", state: "closed", cmd: &fsm.Assign{Chat: 1, Operator: "bob", By: "ann"}, err: fsm.CodeChatClosed},
		{name: "unassign a closed chat", state: "closed", cmd: &fsm.Assign{Chat: 1, By: "ann"}, err: fsm.CodeChatClosed},
		{name: "assign to an unknown operator", state: "closed", cmd: &fsm.Assign{Chat: 1, Operator: "zed", By: "ann"}, err: fsm.CodeNotFound},
		{name: "assign by an unknown operator", state: "closed", cmd: &fsm.Assign{Chat: 1, Operator: "bob", By: "zed"}, err: fsm.CodeNotFound},
		{name: "assign a missing chat", state: "assigned", cmd: &fsm.Assign{Chat: 5, Operator: "bob", By: "ann"}, err: fsm.CodeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.setup("ann", "bob", "cid")
			chatStates[tc.state](h)
			before := h.chat(1)
			seq := h.lastSeq()
			inboxes := map[string]int{}
			for _, op := range []string{"ann", "bob", "cid"} {
				inboxes[op] = len(h.inbox(op).Notifications)
			}
			counts := countsSnapshot(t, h)

			r := h.do(tc.cmd)
			after, err := h.f.Chat("acme", 1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.err != "" {
				if r.Err == nil || r.Err.Code != tc.err {
					t.Fatalf("result %+v, want %s", r.Err, tc.err)
				}
				if r.Err.Message == "" || !strings.ContainsAny(r.Err.Message, "0123456789") && !strings.Contains(r.Err.Message, "zed") {
					t.Errorf("message %q does not name the record", r.Err.Message)
				}
			} else if r.Err != nil {
				t.Fatalf("unexpected error %v", r.Err)
			}
			evs := h.eventsSince(seq)
			if tc.err != "" || tc.events == nil {
				// Refused or no-op: nothing changed at all.
				if after != before {
					t.Errorf("chat changed: %s -> %s", renderChat(before), renderChat(after))
				}
				if len(evs) != 0 {
					t.Errorf("events emitted: %v", eventTypes(evs))
				}
				if tc.err == "" && r.Chat != before {
					t.Errorf("no-op result chat %s", renderChat(r.Chat))
				}
				if countsSnapshot(t, h) != counts {
					t.Errorf("counts changed")
				}
				for op, n := range inboxes {
					if got := len(h.inbox(op).Notifications); got != n {
						t.Errorf("inbox of %s grew", op)
					}
				}
				return
			}
			if r.Chat != after {
				t.Errorf("result chat is not the current version")
			}
			if got := eventTypes(evs); !slices.Equal(got, tc.events) {
				t.Errorf("events %v, want %v", got, tc.events)
			}
			var notes []string
			for i, e := range evs {
				if e.Seq != seq+int64(i)+1 || e.At != h.now {
					t.Errorf("event %d: seq %d at %d", i, e.Seq, e.At)
				}
				switch {
				case e.Type == fsm.EventNotificationCreated:
					n := e.Notification
					notes = append(notes, fmt.Sprintf("%s:%s:%s", n.Recipient, n.Type, n.Operator))
					if n.ChatID != 1 || n.At != h.now {
						t.Errorf("notification %+v", *n)
					}
				case e.Chat != after || e.Before != before:
					t.Errorf("event %s: chat/before are not the versions after/before the write", e.Type)
				}
				if e.Type == fsm.EventMessageCreated && (e.Message == nil || e.Message.Seq > int64(len(after.Transcript()))) {
					t.Errorf("message.created without its message")
				}
			}
			if !slices.Equal(notes, tc.notes) {
				t.Errorf("notifications %v, want %v", notes, tc.notes)
			}
			for _, n := range notes {
				op := strings.Split(n, ":")[0]
				in := h.inbox(op)
				if len(in.Notifications) != inboxes[op]+1 || in.Notifications[len(in.Notifications)-1].Read {
					t.Errorf("inbox of %s: %+v", op, in)
				}
			}
			var system []string
			added := after.Transcript()[len(before.Transcript()):]
			for _, m := range added {
				if m.AuthorType == fsm.AuthorSystem {
					system = append(system, fmt.Sprintf("%s:%s", m.Event, m.Operator))
					if m.Text != "" || m.At != h.now {
						t.Errorf("system entry %+v", m)
					}
				}
			}
			if !slices.Equal(system, tc.system) {
				t.Errorf("system entries %v, want %v", system, tc.system)
			}
			if len(added) > 0 && after.LastActivityAt != h.now {
				t.Errorf("last_activity_at %d, want %d", after.LastActivityAt, h.now)
			}
			for i, m := range after.Transcript() {
				if m.Seq != int64(i)+1 {
					t.Errorf("transcript seq %d at %d", m.Seq, i)
				}
			}
			if tc.check != nil {
				tc.check(t, before, after)
			}
			checkListsAndCounts(t, h, []string{"ann", "bob", "cid"})
		})
	}
}

func countsSnapshot(t *testing.T, h *harness) string {
	var b strings.Builder
	for _, st := range []fsm.Status{fsm.StatusActive, fsm.StatusClosed} {
		c, err := h.f.Counts("acme", fsm.CountQuery{Status: st})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%+v", c)
	}
	return b.String()
}
