package fsm_test

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/chatstate/chatstate/fsm"
)

func TestApplyBatchAnswersEachCommandInOrder(t *testing.T) {
	h := newHarness(t)
	res := h.batch(
		&fsm.Noop{},
		&fsm.UpsertAccount{Name: "Acme"},
		&fsm.CreateChat{Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceEmail, Text: "hi"},
		&fsm.CustomerMessage{Chat: 99, Text: "x"},
		&fsm.CreateChat{Contact: fsm.Contact{Type: fsm.ContactTypeContact}, Source: fsm.SourceChatPage, Text: "yo"},
	)
	for i, r := range res {
		if r.Index != h.index {
			t.Errorf("result %d: Index %d, want %d", i, r.Index, h.index)
		}
	}
	if res[0].Err != nil || res[1].Err != nil || !res[1].Created || res[1].Account.Name != "Acme" {
		t.Fatalf("noop/account: %+v %+v", res[0], res[1])
	}
	if res[2].Chat == nil || res[2].Chat.ID != 1 || res[4].Chat.ID != 2 {
		t.Fatalf("chat ids: %+v %+v", res[2], res[4])
	}
	if !isCode(res[3].Error(), fsm.CodeNotFound) || res[3].Err.Message != "chat 99 not found" {
		t.Fatalf("missing chat: %+v", res[3].Err)
	}
	if got := h.f.AppliedIndex(); got != h.index {
		t.Fatalf("AppliedIndex %d, want %d", got, h.index)
	}
}

func TestApplyNonCommandEntriesReturnNil(t *testing.T) {
	f := fsm.New(fsm.DefaultConfig())
	ch := f.Applied()
	if out := f.Apply(&raft.Log{Index: 7, Type: raft.LogConfiguration}); out != nil {
		t.Fatalf("configuration entry: %#v", out)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Applied channel not closed after the index advanced")
	}
	if f.AppliedIndex() != 7 {
		t.Fatalf("AppliedIndex %d", f.AppliedIndex())
	}
	outs := f.ApplyBatch([]*raft.Log{{Index: 8, Type: raft.LogNoop}, {Index: 9, Type: raft.LogCommand, Data: mustEncode(t, &fsm.Noop{})}})
	if len(outs) != 2 || outs[0] != nil {
		t.Fatalf("ApplyBatch: %#v", outs)
	}
	if r := outs[1].([]fsm.Result); len(r) != 1 || r[0].Index != 9 {
		t.Fatalf("ApplyBatch noop: %#v", outs[1])
	}
}

func TestApplyPanicsOnUndecodableEntry(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":         {},
		"unknown type":  {200, 0x80},
		"garbage body":  {byte(fsm.CmdCreateChat), 0xc1},
		"bad batch":     {byte(fsm.CmdBatch), 0x92, 0xc4},
		"batch garbage": fsm.EncodeBatch([][]byte{{byte(fsm.CmdJoin), 0xff, 0xff}}),
	} {
		t.Run(name, func(t *testing.T) {
			f := fsm.New(fsm.DefaultConfig())
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
		})
	}
}

func mustEncode(t testing.TB, c fsm.Command) []byte {
	t.Helper()
	b, err := fsm.EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAccountsOperatorsAndNodes(t *testing.T) {
	h := newHarness(t)
	r := h.ok(&fsm.UpsertAccount{Name: "Acme"})
	if !r.Created || r.Account.CreatedAt != h.now {
		t.Fatalf("create account: %+v", r)
	}
	created := r.Account.CreatedAt
	r = h.ok(&fsm.UpsertAccount{Name: "Acme Inc"})
	if r.Created || r.Account.Name != "Acme Inc" || r.Account.CreatedAt != created {
		t.Fatalf("rename account: %+v", r.Account)
	}
	h.ok(&fsm.UpsertAccount{Header: fsm.Header{Account: "beta"}, Name: "Beta"})
	accts := h.f.Accounts()
	if len(accts) != 2 || accts[0].ID != "acme" || accts[1].ID != "beta" {
		t.Fatalf("Accounts: %+v", accts)
	}
	if _, err := h.f.Account("nope"); !isCode(err, fsm.CodeNotFound) {
		t.Fatalf("missing account: %v", err)
	}

	email := "ann@example.com"
	r = h.ok(&fsm.UpsertOperator{Operator: "ann", Name: "Ann", Email: &email})
	if !r.Created || *r.Operator.Email != email {
		t.Fatalf("create operator: %+v", r)
	}
	r = h.ok(&fsm.UpsertOperator{Operator: "ann", Name: "Ann B"})
	if r.Created || r.Operator.Email != nil || r.Operator.Name != "Ann B" {
		t.Fatalf("update operator: %+v", r.Operator)
	}
	h.ok(&fsm.UpsertOperator{Operator: "bob", Name: "Bob"})
	ops, err := h.f.Operators("acme")
	if err != nil || len(ops) != 2 || ops[0].ID != "ann" || ops[1].ID != "bob" {
		t.Fatalf("Operators: %+v %v", ops, err)
	}
	h.fails(&fsm.UpsertOperator{Header: fsm.Header{Account: "nope"}, Operator: "ann", Name: "Ann"}, fsm.CodeNotFound)

	h.ok(&fsm.SetNode{NodeID: "n2", Raft: "127.0.0.1:2", HTTP: "127.0.0.1:3"})
	h.ok(&fsm.SetNode{NodeID: "n1", Raft: "127.0.0.1:1", HTTP: "127.0.0.1:4"})
	h.ok(&fsm.SetNode{NodeID: "n2", Raft: "127.0.0.1:5", HTTP: "127.0.0.1:6"})
	nodes := h.f.Nodes()
	if len(nodes) != 2 || nodes[0].ID != "n1" || nodes[1].Raft != "127.0.0.1:5" {
		t.Fatalf("Nodes: %+v", nodes)
	}
	h.ok(&fsm.RemoveNode{NodeID: "n1"})
	if nodes := h.f.Nodes(); len(nodes) != 1 || nodes[0].ID != "n2" {
		t.Fatalf("Nodes after remove: %+v", nodes)
	}
}

func TestCreateChatAndMessages(t *testing.T) {
	h := newHarness(t)
	h.setup("ann")
	name := "Jane"
	r := h.ok(&fsm.CreateChat{Contact: fsm.Contact{Type: fsm.ContactTypeVisitor, Name: &name}, Source: fsm.SourceLandingPage, Text: "hello"})
	c := r.Chat
	at := h.now
	if c.ID != 1 || c.Status != fsm.StatusActive || !c.Unread || c.Assignee != "" || c.CreatedAt != at ||
		c.LastActivityAt != at || c.WaitingSince != at || c.FirstReplyAt != 0 || c.MessageCount != 1 ||
		c.LastMessage == nil || c.LastMessage.Text != "hello" || c.LastMessage.Seq != 1 || *c.Contact.Name != "Jane" {
		t.Fatalf("new chat: %+v", c)
	}
	if r.Message == nil || r.Message.AuthorType != fsm.AuthorCustomer || !r.Created {
		t.Fatalf("new chat message: %+v", r.Message)
	}
	h.ok(&fsm.CustomerMessage{Chat: 1, Text: "anyone?"})
	r = h.ok(&fsm.OperatorMessage{Chat: 1, Operator: "ann", Text: "hi!"})
	c = r.Chat
	if c.Assignee != "ann" || c.Unread || c.WaitingSince != 0 || c.FirstReplyAt != h.now || c.MessageCount != 3 || c.LastMessage.Text != "hi!" || c.LastMessage.AuthorID != "ann" {
		t.Fatalf("after reply: %+v", c)
	}
	if got := h.chat(1); got != c {
		t.Fatalf("Chat() returns %p, result %p", got, c)
	}
	p, err := h.f.Messages("acme", 1, 0, 2)
	if err != nil || len(p.Messages) != 2 || p.NextAfter != 2 || p.Messages[0].Text != "hello" {
		t.Fatalf("messages page 1: %+v %v", p, err)
	}
	p, err = h.f.Messages("acme", 1, p.NextAfter, 2)
	if err != nil || len(p.Messages) != 1 || p.NextAfter != 0 || p.Messages[0].Seq != 3 {
		t.Fatalf("messages page 2: %+v %v", p, err)
	}
	p, _ = h.f.Messages("acme", 1, 3, 2)
	if len(p.Messages) != 0 || p.Messages == nil {
		t.Fatalf("messages after the end: %+v", p)
	}
	if _, err := h.f.Messages("acme", 2, 0, 2); !isCode(err, fsm.CodeNotFound) {
		t.Fatalf("missing chat: %v", err)
	}
}
