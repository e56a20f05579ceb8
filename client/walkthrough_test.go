package client_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/client"
)

// TestOperatorsDay runs the README's operators' day through the client
// against a real single-node chatstated, in JSON and in MessagePack, and
// checks what the README's comments promise, the events, the errors and
// idempotent retries.
func TestOperatorsDay(t *testing.T) {
	node := startProcess(t, "n1", t.TempDir())
	for _, enc := range []client.Encoding{client.JSON, client.MessagePack} {
		t.Run(enc.String(), func(t *testing.T) {
			c := serverClient(t, []string{node.HTTP}, enc)
			waitReady(t, c, node.HTTP)
			operatorsDay(t, c, "acme-"+enc.String())
		})
	}
}

func operatorsDay(t *testing.T, c *client.Client, acct string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Everything that happens in the account, as the client's event
	// subscription sees it.
	var (
		evMu   sync.Mutex
		events []*client.Event
		evCh   = make(chan struct{}, 1)
	)
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)

	// The account and two operators, Ann and Bob.
	var meta client.Meta
	acc, err := c.PutAccount(ctx, acct, "Acme", client.WithMeta(&meta))
	must(err)
	if acc.ID != acct || acc.Name != "Acme" || acc.CreatedAt.IsZero() || meta.Status != 201 || meta.Index == 0 {
		t.Fatalf("account %+v, meta %+v", acc, meta)
	}
	go func() {
		subDone <- c.Subscribe(subCtx, acct, client.EventsRequest{Since: new(int64)}, func(ev *client.Event) error {
			evMu.Lock()
			events = append(events, ev)
			evMu.Unlock()
			select {
			case evCh <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	ann, err := c.PutOperator(ctx, acct, "ann", client.OperatorRequest{Name: "Ann", Email: client.String("ann@example.com")})
	must(err)
	if ann.Email == nil || *ann.Email != "ann@example.com" {
		t.Fatalf("ann %+v", ann)
	}
	bob, err := c.PutOperator(ctx, acct, "bob", client.OperatorRequest{Name: "Bob"})
	must(err)
	if bob.Email != nil {
		t.Fatalf("bob %+v", bob)
	}

	// A visitor on a landing page starts a chat: active, unassigned, unread.
	chat, err := c.CreateChat(ctx, acct, client.CreateChatRequest{
		Contact: client.Contact{Type: client.ContactTypeVisitor, Name: client.String("Jane")},
		Source:  client.SourceLandingPage,
		Text:    "Hi, where is my order?",
	})
	must(err)
	if chat.ID != 1 || chat.Status != client.StatusActive || chat.Assignee != nil || !chat.Unread ||
		chat.WaitingSince == nil || chat.MessageCount != 1 || chat.LastMessage == nil || chat.LastMessage.Text != "Hi, where is my order?" {
		t.Fatalf("new chat %+v", chat)
	}
	queue, err := c.ListChats(ctx, acct, client.ListChatsRequest{ChatFilter: client.ChatFilter{Status: client.StatusActive, Unassigned: true}})
	must(err)
	if len(queue.Chats) != 1 || queue.Chats[0].ID != 1 || queue.NextCursor != "" {
		t.Fatalf("unassigned queue %+v", queue)
	}

	// Ann replies, which assigns the chat to her.
	res, err := c.SendMessage(ctx, acct, 1, client.OperatorAuthor("ann"), "Let me check that for you.")
	must(err)
	if res.Chat.Assignee == nil || *res.Chat.Assignee != "ann" || res.Chat.Unread || res.Message.Author.ID != "ann" || res.Chat.FirstReplyAt == nil {
		t.Fatalf("after Ann's reply %+v", res)
	}

	// Bob joins to help; Ann's inbox shows it.
	chat, err = c.JoinChat(ctx, acct, 1, "bob")
	must(err)
	if !slices.Equal(chat.Participants, []string{"bob"}) {
		t.Fatalf("participants %v", chat.Participants)
	}
	inbox, err := c.ListNotifications(ctx, acct, "ann", 0, 0)
	must(err)
	if len(inbox.Notifications) != 1 || inbox.Notifications[0].Type != client.NotificationOperatorJoined ||
		inbox.Notifications[0].Operator == nil || *inbox.Notifications[0].Operator != "bob" || inbox.UnreadCount != 1 {
		t.Fatalf("Ann's inbox %+v", inbox)
	}
	_, err = c.SendMessage(ctx, acct, 1, client.OperatorAuthor("bob"), "It ships tomorrow.")
	must(err)

	// Bob leaves (Ann is notified again); Ann marks the chat unread.
	_, err = c.LeaveChat(ctx, acct, 1, "bob")
	must(err)
	chat, err = c.MarkUnread(ctx, acct, 1, "ann")
	must(err)
	if !chat.Unread || len(chat.Participants) != 0 {
		t.Fatalf("after leave and unread %+v", chat)
	}
	var ids []int64
	for n, err := range c.NotificationsAll(ctx, acct, "ann", 0, 1) {
		must(err)
		ids = append(ids, n.ID)
	}
	if len(ids) != 2 {
		t.Fatalf("Ann's notifications %v, want 2", ids)
	}
	unread, err := c.ReadNotifications(ctx, acct, "ann", ids[1])
	must(err)
	if unread != 0 {
		t.Fatalf("unread after reading all: %d", unread)
	}

	// The active lists: Ann's chats, and the now empty unassigned queue.
	mine, err := c.ListChats(ctx, acct, client.ListChatsRequest{ChatFilter: client.ChatFilter{Status: client.StatusActive, Operator: "ann"}})
	must(err)
	if len(mine.Chats) != 1 || mine.Chats[0].ID != 1 {
		t.Fatalf("Ann's chats %+v", mine)
	}
	queue, err = c.ListChats(ctx, acct, client.ListChatsRequest{ChatFilter: client.ChatFilter{Status: client.StatusActive, Unassigned: true}})
	must(err)
	if len(queue.Chats) != 0 {
		t.Fatalf("unassigned queue not empty: %+v", queue)
	}

	// Ann closes the chat; closed chats filter by contact type, source
	// and operator.
	chat, err = c.CloseChat(ctx, acct, 1, "ann")
	must(err)
	if chat.Status != client.StatusClosed || chat.ClosedAt == nil || chat.ClosedBy == nil || *chat.ClosedBy != "ann" {
		t.Fatalf("closed chat %+v", chat)
	}
	for _, f := range []client.ChatFilter{
		{Status: client.StatusClosed, ContactType: client.ContactTypeVisitor},
		{Status: client.StatusClosed, Source: client.SourceLandingPage},
		{Status: client.StatusClosed, Operator: "ann"},
	} {
		n := 0
		for ch, err := range c.ListChatsAll(ctx, acct, client.ListChatsRequest{ChatFilter: f}) {
			must(err)
			if ch.ID != 1 {
				t.Fatalf("filter %+v: chat %d", f, ch.ID)
			}
			n++
		}
		if n != 1 {
			t.Fatalf("filter %+v: %d chats", f, n)
		}
	}

	// Badge counts.
	counts, err := c.CountChats(ctx, acct, client.CountsRequest{Status: client.StatusClosed})
	must(err)
	if counts.All != 1 || counts.Operators["ann"] != 1 || counts.Operators["bob"] != 0 ||
		counts.ContactTypes[client.ContactTypeVisitor] != 1 || counts.Sources[client.SourceLandingPage] != 1 || counts.Sources[client.SourceEmail] != 0 {
		t.Fatalf("counts %+v", counts)
	}

	// The transcript, page by page.
	var kinds []string
	for m, err := range c.MessagesAll(ctx, acct, 1, 0, 2) {
		must(err)
		k := string(m.Author.Type)
		if m.Event != "" {
			k += ":" + string(m.Event)
		}
		kinds = append(kinds, k)
	}
	wantKinds := "customer operator system:operator_joined operator system:operator_left system:closed"
	if strings.Join(kinds, " ") != wantKinds {
		t.Fatalf("transcript %v, want %s", kinds, wantKinds)
	}

	// The state's refusals arrive as typed errors.
	_, err = c.JoinChat(ctx, acct, 1, "bob")
	if !errors.Is(err, client.ErrChatClosed) {
		t.Fatalf("join a closed chat: %v", err)
	}
	_, err = c.GetChat(ctx, acct, 99)
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown chat: %v", err)
	}
	_, err = c.SendMessage(ctx, acct, 1, client.Customer(), "not UTF-8: \xff")
	if !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("invalid UTF-8 text: %v, want ErrBadRequest", err)
	}
	_, err = c.ListChats(ctx, acct, client.ListChatsRequest{Cursor: "not a cursor"})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != "invalid_field" || e.Field != "cursor" || e.Status != 400 {
		t.Fatalf("bad cursor: %v", err)
	}

	// Idempotency: the same key and request replay the first answer; the
	// same key with another request is refused.
	var first, again client.Meta
	_, err = c.ReopenChat(ctx, acct, 1, "ann", client.WithIdempotencyKey(acct+"-reopen"), client.WithMeta(&first))
	must(err)
	reopened, err := c.ReopenChat(ctx, acct, 1, "ann", client.WithIdempotencyKey(acct+"-reopen"), client.WithMeta(&again))
	must(err)
	if !again.Replayed || again.Index != first.Index || first.Replayed || reopened.Status != client.StatusActive {
		t.Fatalf("replay: first %+v, again %+v", first, again)
	}
	_, err = c.CloseChat(ctx, acct, 1, "ann", client.WithIdempotencyKey(acct+"-reopen"))
	if !errors.Is(err, client.ErrIdempotencyKeyReused) {
		t.Fatalf("key reused for another request: %v", err)
	}

	// Read-your-writes from any node: a stale read at the write's index.
	// (Closing cleared unread and reopening kept it so.)
	var w client.Meta
	_, err = c.MarkUnread(ctx, acct, 1, "ann", client.WithMeta(&w))
	must(err)
	got, err := c.GetChat(ctx, acct, 1, client.WithConsistency(client.ConsistencyStale), client.WithMinIndex(w.Index, time.Second))
	must(err)
	if !got.Unread {
		t.Fatalf("stale read at index %d is not unread yet", w.Index)
	}
	if _, err := c.GetChat(ctx, acct, 1, client.WithConsistency(client.ConsistencyLinearizable)); err != nil {
		t.Fatalf("linearizable read: %v", err)
	}

	// The events, in commit order, as API.md lists them.
	want := []client.EventType{
		"operator.upserted", "operator.upserted",
		"chat.created", "message.created",
		"chat.assigned", "message.created",
		"chat.joined", "message.created", "notification.created",
		"message.created",
		"chat.left", "message.created", "notification.created",
		"chat.unread",
		"chat.closed", "message.created",
		"chat.reopened", "message.created",
		"chat.unread",
	}
	deadline := time.After(10 * time.Second)
	for {
		evMu.Lock()
		n := len(events)
		evMu.Unlock()
		if n >= len(want) {
			break
		}
		select {
		case <-evCh:
		case err := <-subDone:
			t.Fatalf("subscription ended: %v", err)
		case <-deadline:
			t.Fatalf("%d events within 10s, want %d", n, len(want))
		}
	}
	stopSub()
	if err := <-subDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription: %v", err)
	}
	var gotTypes []client.EventType
	for i, ev := range events {
		gotTypes = append(gotTypes, ev.Type)
		if ev.Seq != int64(i+1) || ev.At.IsZero() {
			t.Fatalf("event %d: seq %d at %v", i, ev.Seq, ev.At)
		}
		if strings.HasPrefix(string(ev.Type), "chat.") && (ev.Chat == nil || ev.Chat.ID != 1) {
			t.Fatalf("event %d %s without its chat", i, ev.Type)
		}
		if ev.Type == client.EventMessageCreated && ev.Message == nil {
			t.Fatalf("event %d without its message", i)
		}
		if ev.Type == client.EventNotificationCreated && (ev.Notification == nil || ev.Notification.Recipient != "ann") {
			t.Fatalf("event %d: notification %+v", i, ev.Notification)
		}
	}
	if !slices.Equal(gotTypes, want) {
		t.Fatalf("events\n got %v\nwant %v", gotTypes, want)
	}

	// Operators and the status.
	ops, err := c.ListOperators(ctx, acct)
	must(err)
	if len(ops) != 2 || ops[0].ActiveChats == nil || *ops[0].ActiveChats != 1 {
		t.Fatalf("operators %+v", ops)
	}
	must(c.DeleteOperator(ctx, acct, "bob"))
	st, err := c.Status(ctx)
	must(err)
	if st.State != "leader" || st.Leader == nil || st.AppliedIndex == 0 || len(st.Nodes) != 1 {
		t.Fatalf("status %+v", st)
	}
}

// TestBackupRestore downloads a backup from a real node, changes the
// state, restores the backup and finds the state as it was.
func TestBackupRestore(t *testing.T) {
	node := startProcess(t, "n1", t.TempDir())
	c := serverClient(t, []string{node.HTTP}, client.JSON)
	waitReady(t, c, node.HTTP)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	newChat := func() int64 {
		t.Helper()
		chat, err := c.CreateChat(ctx, "bk", client.CreateChatRequest{
			Contact: client.Contact{Type: client.ContactTypeVisitor}, Source: client.SourceChatPage, Text: "hello",
		})
		if err != nil {
			t.Fatal(err)
		}
		return chat.ID
	}
	if _, err := c.PutAccount(ctx, "bk", "Backup"); err != nil {
		t.Fatal(err)
	}
	first := newChat()
	var backup bytes.Buffer
	n, err := c.Backup(ctx, &backup)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || int64(backup.Len()) != n {
		t.Fatalf("backup of %d bytes, buffer has %d", n, backup.Len())
	}
	second := newChat()

	index, err := c.Restore(ctx, bytes.NewReader(backup.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if index == 0 {
		t.Fatal("restore answered index 0")
	}
	if _, err := c.GetChat(ctx, "bk", first, client.WithMinIndex(index, 5*time.Second)); err != nil {
		t.Fatalf("chat %d after the restore: %v", first, err)
	}
	if _, err := c.GetChat(ctx, "bk", second); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("chat %d made after the backup: %v, want ErrNotFound", second, err)
	}
	if _, err := c.Restore(ctx, strings.NewReader("not a backup")); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("restoring garbage: %v, want ErrBadRequest", err)
	}
	if _, err := c.GetChat(ctx, "bk", first); err != nil {
		t.Fatalf("a refused restore changed the state: %v", err)
	}
}

// TestAccountKeys runs a node with authentication on: the admin token
// makes an account key, which works for its account only until revoked.
func TestAccountKeys(t *testing.T) {
	node := startProcessArgs(t, "n1", t.TempDir(), "--admin-token", "admin-secret")
	withToken := func(token string) *client.Client {
		return newClient(t, []string{node.HTTP}, func(cfg *client.Config) {
			cfg.Token = token
			cfg.Timeout = 20 * time.Second
		})
	}
	admin := withToken("admin-secret")
	waitReady(t, admin, node.HTTP)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := withToken("").GetAccount(ctx, "acme"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("no token: %v, want ErrUnauthorized", err)
	}
	for _, acct := range []string{"acme", "other"} {
		if _, err := admin.PutAccount(ctx, acct, acct); err != nil {
			t.Fatal(err)
		}
	}
	var meta client.Meta
	key, err := admin.CreateKey(ctx, "acme", client.WithMeta(&meta))
	if err != nil {
		t.Fatal(err)
	}
	if key.ID == "" || key.Key == "" || meta.Status != 201 {
		t.Fatalf("key %+v, meta %+v", key, meta)
	}
	acme := withToken(key.Key)
	if _, err := acme.PutOperator(ctx, "acme", "ann", client.OperatorRequest{Name: "Ann"}); err != nil {
		t.Fatalf("the account key on its account: %v", err)
	}
	if _, err := acme.ListOperators(ctx, "other"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("the account key on another account: %v, want ErrForbidden", err)
	}
	if _, err := acme.CreateKey(ctx, "acme"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("the account key making keys: %v, want ErrForbidden", err)
	}
	if err := admin.DeleteKey(ctx, "acme", key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.ListOperators(ctx, "acme"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("a revoked key: %v, want ErrUnauthorized", err)
	}
}
