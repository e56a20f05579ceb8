package client_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/chatstate/chatstate/client"
)

// TestRealServerMsgpackMatchesJSON reads the same state from a real
// chatstated in JSON (decoded by encoding/json from the struct tags) and
// in MessagePack (decoded by the client's own reader), and requires equal
// results, with every field of every record non-zero somewhere, so a
// field the MessagePack reader misses or misreads cannot pass unnoticed.
func TestRealServerMsgpackMatchesJSON(t *testing.T) {
	node := startProcess(t, "n1", t.TempDir())
	cj := serverClient(t, []string{node.HTTP}, client.JSON)
	cm := serverClient(t, []string{node.HTTP}, client.MessagePack)
	waitReady(t, cj, node.HTTP)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// State that gives every field a value somewhere: a contact with
	// every detail and visitors; assigned, joined, unread, waiting,
	// closed and reopened chats; system entries with and without an
	// operator; notifications naming another operator.
	const acct = "acme"
	must(cm.PutAccount(ctx, acct, "Acme"))
	must(cm.PutOperator(ctx, acct, "ann", client.OperatorRequest{Name: "Ann", Email: client.String("ann@example.com")}))
	must(cm.PutOperator(ctx, acct, "bob", client.OperatorRequest{Name: "Bob"}))
	newChat := func(contact client.Contact, source client.Source, text string) int64 {
		t.Helper()
		chat, err := cm.CreateChat(ctx, acct, client.CreateChatRequest{Contact: contact, Source: source, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return chat.ID
	}
	jane := newChat(client.Contact{Type: client.ContactTypeContact, ID: client.String("c-1"),
		Name: client.String("Jane"), Email: client.String("jane@example.com")}, client.SourceEmail, "Where is my order? ✈")
	must(cm.SendMessage(ctx, acct, jane, client.OperatorAuthor("ann"), "Checking."))
	must(cm.JoinChat(ctx, acct, jane, "bob"))
	must(cm.SendMessage(ctx, acct, jane, client.Customer(), "Any news?"))
	newChat(client.Contact{Type: client.ContactTypeVisitor}, client.SourceLandingPage, "hello")
	closed := newChat(client.Contact{Type: client.ContactTypeVisitor, Name: client.String("V")}, client.SourceChatPage, "bye")
	must(cm.SendMessage(ctx, acct, closed, client.OperatorAuthor("bob"), "Bye!"))
	must(cm.CloseChat(ctx, acct, closed, "bob"))
	reopened := newChat(client.Contact{Type: client.ContactTypeContact, ID: client.String("c-2")}, client.SourceExternalPage, "one")
	must(cm.CloseChat(ctx, acct, reopened, "ann"))
	// The result of a message, read back below through JSON.
	sent, err := cm.SendMessage(ctx, acct, reopened, client.Customer(), "two")
	if err != nil {
		t.Fatal(err)
	}

	// Ann has read her first notification.
	inbox, err := cm.ListNotifications(ctx, acct, "ann", 0, 0)
	if err != nil || len(inbox.Notifications) < 2 {
		t.Fatalf("Ann's inbox %+v, %v: want at least two notifications", inbox, err)
	}
	must(cm.ReadNotifications(ctx, acct, "ann", inbox.Notifications[0].ID))

	// Every read, in both encodings.
	reads := map[string]func(c *client.Client) (any, error){
		"account":  func(c *client.Client) (any, error) { return c.GetAccount(ctx, acct) },
		"accounts": func(c *client.Client) (any, error) { return c.ListAccounts(ctx) },
		"operator": func(c *client.Client) (any, error) { return c.GetOperator(ctx, acct, "ann") },
		"operators": func(c *client.Client) (any, error) {
			return c.ListOperators(ctx, acct)
		},
		"chat": func(c *client.Client) (any, error) { return c.GetChat(ctx, acct, jane) },
		"active page": func(c *client.Client) (any, error) {
			return c.ListChats(ctx, acct, client.ListChatsRequest{Limit: 2})
		},
		"active pages": func(c *client.Client) (any, error) {
			var all []client.Chat
			for chat, err := range c.ListChatsAll(ctx, acct, client.ListChatsRequest{Limit: 1}) {
				if err != nil {
					return nil, err
				}
				all = append(all, chat)
			}
			return all, nil
		},
		"closed page": func(c *client.Client) (any, error) {
			return c.ListChats(ctx, acct, client.ListChatsRequest{ChatFilter: client.ChatFilter{Status: client.StatusClosed}})
		},
		"transcript": func(c *client.Client) (any, error) { return c.ListMessages(ctx, acct, jane, 0, 3) },
		"reopened transcript": func(c *client.Client) (any, error) {
			return c.ListMessages(ctx, acct, reopened, 0, 0)
		},
		"inbox":       func(c *client.Client) (any, error) { return c.ListNotifications(ctx, acct, "ann", 0, 1) },
		"whole inbox": func(c *client.Client) (any, error) { return c.ListNotifications(ctx, acct, "ann", 0, 0) },
		"counts":      func(c *client.Client) (any, error) { return c.CountChats(ctx, acct, client.CountsRequest{}) },
		"closed counts": func(c *client.Client) (any, error) {
			return c.CountChats(ctx, acct, client.CountsRequest{Status: client.StatusClosed})
		},
	}
	seen := map[string]bool{}
	for name, read := range reads {
		fromJSON, err := read(cj)
		if err != nil {
			t.Fatalf("%s in JSON: %v", name, err)
		}
		fromMsgpack, err := read(cm)
		if err != nil {
			t.Fatalf("%s in MessagePack: %v", name, err)
		}
		if !reflect.DeepEqual(fromJSON, fromMsgpack) {
			t.Errorf("%s: JSON and MessagePack differ:\n%+v\n%+v", name, fromJSON, fromMsgpack)
		}
		markNonZero(seen, reflect.ValueOf(fromMsgpack))
	}

	// The message's answer, decoded from MessagePack, against the same
	// chat and message read in JSON.
	markNonZero(seen, reflect.ValueOf(sent))
	chatNow, err := cj.GetChat(ctx, acct, reopened)
	if err != nil {
		t.Fatal(err)
	}
	transcript, err := cj.ListMessages(ctx, acct, reopened, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	lastEntry := transcript.Messages[len(transcript.Messages)-1]
	if !reflect.DeepEqual(&sent.Chat, chatNow) || !reflect.DeepEqual(sent.Message, lastEntry) {
		t.Errorf("SendMessage's answer in MessagePack:\n%+v\ndiffers from JSON's reads:\n%+v\n%+v", sent, chatNow, lastEntry)
	}

	for _, v := range []any{client.Account{}, client.Operator{}, client.Chat{}, client.Contact{}, client.Message{},
		client.Author{}, client.Notification{}, client.Counts{}, client.ChatPage{}, client.MessagePage{},
		client.NotificationPage{}, client.MessageResult{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			if name := typ.Name() + "." + typ.Field(i).Name; !seen[name] {
				t.Errorf("%s was never set in a MessagePack answer: the test does not cover it", name)
			}
		}
	}
}

// markNonZero records, as "Type.Field", every struct field that is not
// zero in v or in anything v holds.
func markNonZero(seen map[string]bool, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			markNonZero(seen, v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			markNonZero(seen, v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			if !v.Field(i).IsZero() {
				seen[v.Type().Name()+"."+v.Type().Field(i).Name] = true
			}
			markNonZero(seen, v.Field(i))
		}
	}
}
