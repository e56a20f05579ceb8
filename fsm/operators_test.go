package fsm_test

import (
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
)

func TestRemoveOperator(t *testing.T) {
	h := newHarness(t)
	h.setup("ann", "bob", "cid")
	// 1: ann's, bob joined. 2: bob's, ann joined. 3: ann's, closed.
	// 4: ann's, read. 5: unassigned.
	for i := 0; i < 5; i++ {
		h.newChat()
	}
	h.reply(1, "ann")
	h.ok(&fsm.Join{ChatAction: act(1, "bob")})
	h.reply(2, "bob")
	h.ok(&fsm.Join{ChatAction: act(2, "ann")})
	h.reply(3, "ann")
	h.ok(&fsm.Close{ChatAction: act(3, "ann")})
	h.reply(4, "ann")
	h.ok(&fsm.Assign{Chat: 2, Operator: "cid", By: "ann"}) // a notification for bob
	h.ok(&fsm.Join{ChatAction: act(4, "cid")})             // a notification for ann
	if len(h.inbox("ann").Notifications) == 0 {
		t.Fatal("ann has no notifications to drop")
	}
	before := map[int64]*fsm.Chat{}
	for id := int64(1); id <= 5; id++ {
		before[id] = h.chat(id)
	}
	seq := h.lastSeq()

	h.ok(&fsm.RemoveOperator{Operator: "ann"})

	evs := h.eventsSince(seq)
	want := []string{"operator.removed", "chat.assigned", "chat.assigned", "chat.left"}
	if got := eventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if evs[0].RemovedOperator != "ann" || evs[1].Chat.ID != 1 || evs[2].Chat.ID != 4 || evs[3].Chat.ID != 2 {
		t.Fatalf("events %v", evs)
	}
	for _, e := range evs[1:] {
		if e.Before != before[e.Chat.ID] || e.Chat != h.chat(e.Chat.ID) {
			t.Errorf("event %s: wrong versions", e.Type)
		}
	}
	for _, id := range []int64{1, 4} {
		c := h.chat(id)
		if c.Assignee != "" || !c.Unread || len(c.Transcript()) != len(before[id].Transcript()) || c.LastActivityAt != before[id].LastActivityAt {
			t.Errorf("chat %d: %s", id, renderChat(c))
		}
	}
	if c := h.chat(1); !slices.Equal(c.Participants(), []string{"bob"}) {
		t.Errorf("chat 1 participants %q", c.Participants())
	}
	if c := h.chat(2); len(c.Participants()) != 0 || c.Assignee != "cid" || len(c.Transcript()) != len(before[2].Transcript()) {
		t.Errorf("chat 2: %s", renderChat(c))
	}
	if c := h.chat(3); c != before[3] || c.Assignee != "ann" {
		t.Errorf("closed chat changed: %s", renderChat(c))
	}
	if _, err := h.f.Operator("acme", "ann"); !isCode(err, fsm.CodeNotFound) {
		t.Fatalf("removed operator still readable: %v", err)
	}
	if _, err := h.f.Notifications("acme", "ann", 0, 10); !isCode(err, fsm.CodeNotFound) {
		t.Fatalf("removed operator's inbox: %v", err)
	}
	// Closed chats keep the id: in the filter, in all, but in no operators
	// entry.
	p, _ := h.f.ListChats("acme", fsm.ListQuery{Filter: fsm.ChatFilter{Status: fsm.StatusClosed, Operator: "ann"}, Limit: 10})
	if len(p.Chats) != 1 || p.Chats[0].ID != 3 {
		t.Fatalf("closed chats of ann: %v", p.Chats)
	}
	c, _ := h.f.Counts("acme", fsm.CountQuery{Status: fsm.StatusClosed})
	if c.All != 1 || c.Unassigned != 0 || len(c.Operators) != 2 || c.Operators[0].Operator != "bob" || c.Operators[0].Count+c.Operators[1].Count != 0 {
		t.Fatalf("closed counts %+v", c)
	}
	checkListsAndCounts(t, h, []string{"bob", "cid"})

	// The ops that name ann are now 404.
	h.fails(&fsm.OperatorMessage{Chat: 4, Operator: "ann", Text: "x"}, fsm.CodeNotFound)
	h.fails(&fsm.RemoveOperator{Operator: "ann"}, fsm.CodeNotFound)
	// Reopening ann's closed chat leaves it unassigned.
	r := h.ok(&fsm.Reopen{ChatAction: act(3, "bob")})
	if r.Chat.Assignee != "" {
		t.Fatalf("reopened chat of a removed operator: %s", renderChat(r.Chat))
	}
	h.ok(&fsm.Close{ChatAction: act(3, "bob")})
	// Re-created, ann starts with an empty inbox.
	h.ok(&fsm.UpsertOperator{Operator: "ann", Name: "Ann again"})
	if in := h.inbox("ann"); len(in.Notifications) != 0 || in.UnreadCount != 0 {
		t.Fatalf("re-created operator's inbox: %+v", in)
	}
	checkListsAndCounts(t, h, []string{"ann", "bob", "cid"})
}

func TestOperatorUpsertEvents(t *testing.T) {
	h := newHarness(t)
	h.setup()
	seq := h.lastSeq()
	h.ok(&fsm.UpsertOperator{Operator: "ann", Name: "Ann"})
	h.ok(&fsm.UpsertOperator{Operator: "ann", Name: "Ann"}) // unchanged: no event
	h.ok(&fsm.UpsertOperator{Operator: "ann", Name: "Ann B"})
	evs := h.eventsSince(seq)
	if got := eventTypes(evs); !slices.Equal(got, []string{"operator.upserted", "operator.upserted"}) {
		t.Fatalf("events %v", got)
	}
	if evs[1].Operator.Name != "Ann B" || evs[0].Operator.Name != "Ann" {
		t.Fatalf("operators in events: %+v %+v", evs[0].Operator, evs[1].Operator)
	}
}

func TestNotificationsInbox(t *testing.T) {
	cfg := fsm.DefaultConfig()
	cfg.InboxSize = 5
	h := newHarnessConfig(t, cfg)
	h.setup("ann", "bob")
	h.newChat()
	h.reply(1, "ann")
	for i := 0; i < 8; i++ {
		h.ok(&fsm.CustomerMessage{Chat: 1, Text: "ping"})
	}
	in := h.inbox("ann")
	if len(in.Notifications) != 5 || in.UnreadCount != 5 || in.Notifications[0].ID != 4 || in.Notifications[4].ID != 8 {
		t.Fatalf("inbox keeps the newest 5: %+v", in)
	}
	for _, n := range in.Notifications {
		if n.Type != fsm.NotificationNewMessage || n.Recipient != "ann" || n.Operator != "" || n.Read {
			t.Fatalf("notification %+v", n)
		}
	}
	p, err := h.f.Notifications("acme", "ann", 4, 2)
	if err != nil || len(p.Notifications) != 2 || p.Notifications[0].ID != 5 || p.NextAfter != 6 {
		t.Fatalf("page: %+v %v", p, err)
	}
	p, _ = h.f.Notifications("acme", "ann", 6, 2)
	if len(p.Notifications) != 2 || p.NextAfter != 0 {
		t.Fatalf("last page: %+v", p)
	}
	r := h.ok(&fsm.ReadNotifications{Operator: "ann", UpTo: 6})
	if r.UnreadCount != 2 {
		t.Fatalf("unread after read up to 6: %d", r.UnreadCount)
	}
	in = h.inbox("ann")
	for _, n := range in.Notifications {
		if n.Read != (n.ID <= 6) {
			t.Fatalf("read flags: %+v", in.Notifications)
		}
	}
	// Lower watermark changes nothing; beyond the newest id it stops at
	// the newest, so later notifications are unread.
	if r := h.ok(&fsm.ReadNotifications{Operator: "ann", UpTo: 2}); r.UnreadCount != 2 {
		t.Fatalf("lower watermark: %d", r.UnreadCount)
	}
	if r := h.ok(&fsm.ReadNotifications{Operator: "ann", UpTo: 1000}); r.UnreadCount != 0 {
		t.Fatalf("read all: %d", r.UnreadCount)
	}
	h.ok(&fsm.CustomerMessage{Chat: 1, Text: "again"})
	if in := h.inbox("ann"); in.UnreadCount != 1 || in.Notifications[4].Read {
		t.Fatalf("new notification after read-all: %+v", in)
	}
	// Read notifications dropping out of the inbox leave the count right.
	for i := 0; i < 6; i++ {
		h.ok(&fsm.CustomerMessage{Chat: 1, Text: "more"})
	}
	if in := h.inbox("ann"); in.UnreadCount != 5 || len(in.Notifications) != 5 {
		t.Fatalf("after rollover: %+v", in)
	}
	// Ids are per account and shared between inboxes.
	h.ok(&fsm.Join{ChatAction: act(1, "bob")})
	h.ok(&fsm.CustomerMessage{Chat: 1, Text: "both"})
	a, b := h.inbox("ann"), h.inbox("bob")
	if len(b.Notifications) != 1 || b.Notifications[0].ID != a.Notifications[4].ID+1 {
		t.Fatalf("ids across inboxes: ann %+v bob %+v", a.Notifications, b.Notifications)
	}
	h.fails(&fsm.ReadNotifications{Operator: "zed", UpTo: 1}, fsm.CodeNotFound)
	h.fails(&fsm.ReadNotifications{Operator: "ann", UpTo: -1}, fsm.CodeInvalidField)
	if _, err := h.f.Notifications("acme", "zed", 0, 1); !isCode(err, fsm.CodeNotFound) {
		t.Fatalf("unknown operator's inbox: %v", err)
	}
}

func TestEventWindow(t *testing.T) {
	cfg := fsm.DefaultConfig()
	cfg.EventWindow = 1500
	h := newHarnessConfig(t, cfg)
	h.setup("ann")
	h.newChat()
	for h.lastSeq() < 5000 {
		h.ok(&fsm.MarkRead{ChatAction: act(1, "ann")})
		h.ok(&fsm.MarkUnread{ChatAction: act(1, "ann")})
	}
	last := h.lastSeq()
	all, err := h.f.Events("acme", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Events) < 1500 || all.LastSeq != last || all.Events[len(all.Events)-1].Seq != last {
		t.Fatalf("retained %d events up to %d", len(all.Events), all.LastSeq)
	}
	oldest := all.Events[0].Seq
	for i, e := range all.Events {
		if e.Seq != oldest+int64(i) {
			t.Fatalf("gap at %d", i)
		}
	}
	if _, err := h.f.Events("acme", oldest-2, 10); !isCode(err, fsm.CodeCompacted) {
		t.Fatalf("since below the window: %v", err)
	}
	p, err := h.f.Events("acme", oldest-1, 10)
	if err != nil || len(p.Events) != 10 || p.Events[0].Seq != oldest {
		t.Fatalf("since at the window's edge: %v", err)
	}
	p, err = h.f.Events("acme", last, 10)
	if err != nil || len(p.Events) != 0 || p.Events == nil || p.LastSeq != last {
		t.Fatalf("since the newest: %+v %v", p, err)
	}
	if _, err := h.f.Events("acme", -1, 10); !isCode(err, fsm.CodeInvalidField) {
		t.Fatalf("negative since: %v", err)
	}
}

func TestIdempotency(t *testing.T) {
	h := newHarness(t)
	h.setup("ann")
	keyed := func(cmd fsm.Command, key string, fp string) fsm.Command {
		cmd.Head().IdempotencyKey = key
		cmd.Head().Fingerprint = []byte(fp)
		return cmd
	}
	first := h.ok(keyed(&fsm.CreateChat{Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceEmail, Text: "hi"}, "k1", "A"))
	seq := h.lastSeq()
	again := h.do(keyed(&fsm.CreateChat{Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceEmail, Text: "hi"}, "k1", "A"))
	if !again.Replayed || again.Index != first.Index || again.Chat != first.Chat || again.Message != first.Message || !again.Created {
		t.Fatalf("replay: %+v, first %+v", again, first)
	}
	if h.lastSeq() != seq {
		t.Fatal("a replay emitted events")
	}
	if _, err := h.f.Chat("acme", 2); err == nil {
		t.Fatal("a replay created a chat")
	}
	r := h.do(keyed(&fsm.CreateChat{Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceEmail, Text: "other"}, "k1", "B"))
	if r.Err == nil || r.Err.Code != fsm.CodeIdempotencyKeyReused || r.Replayed {
		t.Fatalf("reused key: %+v", r)
	}
	// Refusals by the state are remembered too; validation failures are not.
	nf := h.do(keyed(&fsm.CustomerMessage{Chat: 42, Text: "x"}, "k2", "C"))
	h.newChat() // chat 2 now exists
	r = h.do(keyed(&fsm.CustomerMessage{Chat: 42, Text: "x"}, "k2", "C"))
	if !r.Replayed || r.Err == nil || r.Err.Code != fsm.CodeNotFound || r.Index != nf.Index {
		t.Fatalf("remembered not_found: %+v", r)
	}
	h.fails(keyed(&fsm.CustomerMessage{Chat: 1, Text: ""}, "k3", "D"), fsm.CodeInvalidField)
	r = h.ok(keyed(&fsm.CustomerMessage{Chat: 1, Text: "fine"}, "k3", "D"))
	if r.Replayed {
		t.Fatal("a validation failure was remembered")
	}
	// Keys are per account.
	h.ok(&fsm.UpsertAccount{Header: fsm.Header{Account: "beta"}, Name: "Beta"})
	r = h.ok(keyed(&fsm.CreateChat{Header: fsm.Header{Account: "beta"}, Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceEmail, Text: "hi"}, "k1", "A"))
	if r.Replayed || r.Chat.ID != 1 {
		t.Fatalf("key of another account: %+v", r)
	}
	// UpsertAccount remembers under its own account.
	a1 := h.ok(keyed(&fsm.UpsertAccount{Header: fsm.Header{Account: "gamma"}, Name: "G"}, "k9", "E"))
	a2 := h.ok(keyed(&fsm.UpsertAccount{Header: fsm.Header{Account: "gamma"}, Name: "G"}, "k9", "E"))
	if !a1.Created || !a2.Replayed || !a2.Created || a2.Index != a1.Index {
		t.Fatalf("account upsert replay: %+v %+v", a1, a2)
	}
	h.fails(keyed(&fsm.CustomerMessage{Chat: 1, Text: "x"}, string([]byte{1}), ""), fsm.CodeInvalidField)
	h.fails(keyed(&fsm.CustomerMessage{Chat: 1, Text: "x"}, strings.Repeat("k", 129), ""), fsm.CodeInvalidField)
}

func TestIdempotencyEviction(t *testing.T) {
	cfg := fsm.DefaultConfig()
	cfg.IdempotencyKeys = 3
	cfg.IdempotencyTTL = time.Minute
	h := newHarnessConfig(t, cfg)
	h.setup("ann")
	h.newChat()
	send := func(key string) fsm.Result {
		return h.ok(&fsm.MarkRead{ChatAction: fsm.ChatAction{Header: fsm.Header{IdempotencyKey: key, Fingerprint: []byte("f")}, Chat: 1, Operator: "ann"}})
	}
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		send(k)
	}
	// Within the TTL, nothing is forgotten although there are more than
	// three keys.
	if !send("a").Replayed {
		t.Fatal("a key within its TTL was forgotten")
	}
	h.now += 2 * 60_000
	send("f") // a..e are now older than the TTL: those beyond the newest 3 go
	if !send("d").Replayed || !send("e").Replayed || !send("f").Replayed {
		t.Fatal("the newest 3 keys were forgotten")
	}
	if send("c").Replayed {
		t.Fatal("a key both old and beyond the newest 3 was kept")
	}
}

func TestAccountKeys(t *testing.T) {
	h := newHarness(t)
	h.setup()
	hash := sha256.Sum256([]byte("secret"))
	r := h.ok(&fsm.CreateKey{KeyID: "key1", Hash: hash})
	if r.KeyID != "key1" || !r.Created {
		t.Fatalf("create key: %+v", r)
	}
	if acct, id, ok := h.f.KeyAccount(hash); !ok || acct != "acme" || id != "key1" {
		t.Fatalf("KeyAccount: %s %s %v", acct, id, ok)
	}
	if _, _, ok := h.f.KeyAccount(sha256.Sum256([]byte("other"))); ok {
		t.Fatal("unknown hash found")
	}
	h.fails(&fsm.RevokeKey{KeyID: "key2"}, fsm.CodeNotFound)
	h.fails(&fsm.CreateKey{Header: fsm.Header{Account: "nope"}, KeyID: "key1", Hash: hash}, fsm.CodeNotFound)
	h.ok(&fsm.RevokeKey{KeyID: "key1"})
	if _, _, ok := h.f.KeyAccount(hash); ok {
		t.Fatal("revoked key still found")
	}
	h.fails(&fsm.RevokeKey{KeyID: "key1"}, fsm.CodeNotFound)
}

func TestValidation(t *testing.T) {
	h := newHarness(t)
	h.setup("ann")
	h.newChat()
	bad := "\xff"
	long := strings.Repeat("x", 257)
	cases := []struct {
		cmd   fsm.Command
		field string
	}{
		{&fsm.UpsertAccount{Header: fsm.Header{Account: "-bad"}, Name: "x"}, "account_id"},
		{&fsm.UpsertAccount{Name: ""}, "name"},
		{&fsm.UpsertAccount{Name: long}, "name"},
		{&fsm.UpsertOperator{Operator: "a b", Name: "x"}, "operator_id"},
		{&fsm.UpsertOperator{Operator: "bob", Name: bad}, "name"},
		{&fsm.UpsertOperator{Operator: "bob", Name: "Bob", Email: &long}, "email"},
		{&fsm.RemoveOperator{Operator: ""}, "operator_id"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 3}, Source: fsm.SourceEmail, Text: "x"}, "contact.type"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 1, ID: &bad}, Source: fsm.SourceEmail, Text: "x"}, "contact.id"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 1, Name: &long}, Source: fsm.SourceEmail, Text: "x"}, "contact.name"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 1, Email: &bad}, Source: fsm.SourceEmail, Text: "x"}, "contact.email"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 1}, Source: 0, Text: "x"}, "source"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 1}, Source: 5, Text: "x"}, "source"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 1}, Source: 1, Text: ""}, "text"},
		{&fsm.CreateChat{Contact: fsm.Contact{Type: 1}, Source: 1, Text: strings.Repeat("x", fsm.MaxTextBytes+1)}, "text"},
		{&fsm.CustomerMessage{Chat: 1, Text: bad}, "text"},
		{&fsm.CustomerMessage{Chat: 0, Text: "x"}, "chat_id"},
		{&fsm.OperatorMessage{Chat: 1, Operator: "", Text: "x"}, "author.id"},
		{&fsm.Join{ChatAction: act(1, "a/b")}, "operator"},
		{&fsm.Close{ChatAction: act(-1, "ann")}, "chat_id"},
		{&fsm.Assign{Chat: 1, Operator: "ann", By: ""}, "by"},
		{&fsm.Assign{Chat: 1, Operator: "a b", By: "ann"}, "operator"},
		{&fsm.CreateKey{KeyID: ""}, "id"},
		{&fsm.RevokeKey{KeyID: "?"}, "key_id"},
	}
	for _, tc := range cases {
		r := h.fails(tc.cmd, fsm.CodeInvalidField)
		if r.Err.Field != tc.field || r.Err.Message == "" {
			t.Errorf("%T: field %q (%s), want %q", tc.cmd, r.Err.Field, r.Err.Message, tc.field)
		}
	}
	// A text of exactly the limit is fine.
	h.ok(&fsm.CustomerMessage{Chat: 1, Text: strings.Repeat("é", fsm.MaxTextBytes/2)})
}
