package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/chatstate/chatstate/client"
)

// The examples below need a running cluster (make run, or make cluster),
// so they compile but do not run; ExampleError runs.

func ExampleNew() {
	c, err := client.New(client.Config{
		Addrs:    []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082"},
		Token:    os.Getenv("CHATSTATE_TOKEN"),
		Encoding: client.MessagePack,
		Timeout:  5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	if _, err := c.PutAccount(ctx, "acme", "Acme"); err != nil {
		log.Fatal(err)
	}
	if _, err := c.PutOperator(ctx, "acme", "ann", client.OperatorRequest{Name: "Ann", Email: client.String("ann@example.com")}); err != nil {
		log.Fatal(err)
	}
}

// A visitor starts a chat; an operator takes it by replying.
func ExampleClient_CreateChat() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080"}})
	defer c.Close()
	ctx := context.Background()

	chat, err := c.CreateChat(ctx, "acme", client.CreateChatRequest{
		Contact: client.Contact{Type: client.ContactTypeVisitor, Name: client.String("Jane")},
		Source:  client.SourceLandingPage,
		Text:    "Hi, where is my order?",
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.SendMessage(ctx, "acme", chat.ID, client.OperatorAuthor("ann"), "Let me check that for you.")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*res.Chat.Assignee) // ann
}

// The state's refusals are typed: match them with errors.Is, read the
// details with errors.As.
func ExampleError() {
	// What JoinChat returns for a closed chat.
	var err error = fmt.Errorf("joining: %w", &client.Error{Status: 409, Code: "chat_closed", Message: "chat 42 is closed"})

	fmt.Println(errors.Is(err, client.ErrChatClosed))
	fmt.Println(errors.Is(err, client.ErrNotFound))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Message)
	}
	// Output:
	// true
	// false
	// 409 chat 42 is closed
}

// Operators take over each other's chats; refusals say why.
func ExampleClient_JoinChat() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080"}})
	defer c.Close()

	_, err := c.JoinChat(context.Background(), "acme", 42, "bob")
	switch {
	case errors.Is(err, client.ErrChatUnassigned):
		// Nobody has it yet: reply to take it instead.
	case errors.Is(err, client.ErrChatClosed):
		// Too late.
	case err != nil:
		log.Fatal(err)
	}
}

// Every page of a filtered list, by cursor.
func ExampleClient_ListChatsAll() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080"}})
	defer c.Close()

	queue := client.ListChatsRequest{
		ChatFilter: client.ChatFilter{Status: client.StatusActive, Unassigned: true, Unread: client.Bool(true)},
		Limit:      200,
	}
	for chat, err := range c.ListChatsAll(context.Background(), "acme", queue) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(chat.ID, chat.LastActivityAt.Format(time.RFC3339))
	}
}

// Badge counts for the sidebar.
func ExampleClient_CountChats() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080"}})
	defer c.Close()

	counts, err := c.CountChats(context.Background(), "acme", client.CountsRequest{Status: client.StatusActive})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(counts.Unassigned, counts.Unread, counts.Operators["ann"])
}

// An operator's inbox: read everything, then mark it read.
func ExampleClient_NotificationsAll() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080"}})
	defer c.Close()
	ctx := context.Background()

	var last int64
	for n, err := range c.NotificationsAll(ctx, "acme", "ann", 0, 0) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(n.Type, n.ChatID)
		last = n.ID
	}
	if last > 0 {
		if _, err := c.ReadNotifications(ctx, "acme", "ann", last); err != nil {
			log.Fatal(err)
		}
	}
}

// Keep a view up to date from the event stream. The subscription survives
// disconnects and failovers; after a long outage it asks for a reload.
func ExampleClient_Subscribe() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082"}})
	defer c.Close()
	ctx := context.Background()

	reload := func(ctx context.Context) error {
		// Fetch the lists and counts again (ListChatsAll, CountChats).
		return nil
	}
	if err := reload(ctx); err != nil {
		log.Fatal(err)
	}
	err := c.Subscribe(ctx, "acme", client.EventsRequest{
		Filter:      client.ChatFilter{Status: client.StatusActive, Operator: "ann"},
		OnCompacted: reload,
	}, func(ev *client.Event) error {
		if ev.Chat != nil {
			fmt.Println(ev.Seq, ev.Type, ev.Chat.ID, *ev.Matches)
		}
		return nil
	})
	log.Fatal(err)
}

// A job that may run twice writes with its own key: the second run gets
// the first run's answer instead of a second message.
func ExampleWithIdempotencyKey() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080"}})
	defer c.Close()

	var meta client.Meta
	_, err := c.SendMessage(context.Background(), "acme", 42, client.OperatorAuthor("ann"), "Your order shipped.",
		client.WithIdempotencyKey("shipping-notice:order-981"), client.WithMeta(&meta))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(meta.Replayed) // true when an earlier run already sent it
}

// Read your own write from any node, leader or not.
func ExampleWithMinIndex() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080", "127.0.0.1:8081"}})
	defer c.Close()
	ctx := context.Background()

	var meta client.Meta
	if _, err := c.MarkRead(ctx, "acme", 42, "ann", client.WithMeta(&meta)); err != nil {
		log.Fatal(err)
	}
	chat, err := c.GetChat(ctx, "acme", 42,
		client.WithConsistency(client.ConsistencyStale), client.WithMinIndex(meta.Index, time.Second))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(chat.Unread) // false
}

// Back up the whole state to a file.
func ExampleClient_Backup() {
	c, _ := client.New(client.Config{Addrs: []string{"127.0.0.1:8080"}, Token: os.Getenv("CHATSTATE_ADMIN_TOKEN")})
	defer c.Close()

	f, err := os.Create("chatstate.backup")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.Backup(ctx, f); err != nil {
		log.Fatal(err)
	}
}
