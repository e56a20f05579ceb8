package node_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/node"
)

// Example embeds a single-node cluster in a program: no HTTP, just
// commands proposed through Raft and reads from the state machine.
func Example() {
	dir, err := os.MkdirTemp("", "chatstate-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cfg := node.DefaultConfig()
	cfg.ID = "n1"
	cfg.Dir = dir
	cfg.RaftAddr = "127.0.0.1:0" // any free port
	cfg.Bootstrap = true         // a new single-node cluster
	n, err := node.Open(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		log.Fatal(err)
	}

	// Commands carry the time the leader stamps into them.
	h := fsm.Header{Account: "acme", Time: fsm.MillisOf(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC))}
	propose := func(cmd fsm.Command) fsm.Result {
		res, _, err := n.Propose(ctx, cmd)
		if err != nil {
			log.Fatal(err) // not leader, leadership lost, timeout, shutting down
		}
		if res.Err != nil {
			log.Fatal(res.Err) // a business rule refused the command
		}
		return res
	}
	propose(&fsm.UpsertAccount{Header: h, Name: "Acme"})
	propose(&fsm.UpsertOperator{Header: h, Operator: "ann", Name: "Ann"})
	created := propose(&fsm.CreateChat{
		Header:  h,
		Contact: fsm.Contact{Type: fsm.ContactTypeVisitor},
		Source:  fsm.SourceLandingPage,
		Text:    "Hi, is anyone there?",
	})
	propose(&fsm.OperatorMessage{Header: h, Chat: created.Chat.ID, Operator: "ann", Text: "Hello! How can I help?"})

	// Reads come straight from memory; LeaderRead makes sure this node is
	// a leader that has applied everything before its term.
	if err := n.LeaderRead(ctx); err != nil {
		log.Fatal(err)
	}
	chat, err := n.FSM().Chat("acme", created.Chat.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("chat %d: %s, assignee %s, unread %v, %d messages\n",
		chat.ID, chat.Status, chat.Assignee, chat.Unread, chat.MessageCount)
	fmt.Printf("last message: %q\n", chat.LastMessage.Text)
	// Output:
	// chat 1: active, assignee ann, unread false, 2 messages
	// last message: "Hello! How can I help?"
}
