package httpapi

import (
	"github.com/chatstate/chatstate/fsm"
)

// The renderers below write the API's records. Member counts passed to
// objectStart must match the members written (MessagePack needs them);
// the MessagePack round-trip tests catch a mismatch.

func renderAccount(e *encoder, a *fsm.Account) {
	e.objectStart(3)
	e.key("id")
	e.str(a.ID)
	e.key("name")
	e.str(a.Name)
	e.key("created_at")
	e.time(a.CreatedAt)
	e.objectEnd()
}

// renderOperator writes an operator; activeChats < 0 leaves out
// active_chats (single-operator answers do not carry it).
func renderOperator(e *encoder, o *fsm.Operator, activeChats int) {
	n := 4
	if activeChats >= 0 {
		n++
	}
	e.objectStart(n)
	e.key("id")
	e.str(o.ID)
	e.key("name")
	e.str(o.Name)
	e.key("email")
	e.strPtr(o.Email)
	e.key("created_at")
	e.time(o.CreatedAt)
	if activeChats >= 0 {
		e.key("active_chats")
		e.int(int64(activeChats))
	}
	e.objectEnd()
}

func renderContact(e *encoder, c *fsm.Contact) {
	e.objectStart(4)
	e.key("id")
	e.strPtr(c.ID)
	e.key("type")
	e.str(c.Type.String())
	e.key("name")
	e.strPtr(c.Name)
	e.key("email")
	e.strPtr(c.Email)
	e.objectEnd()
}

func renderChat(e *encoder, c *fsm.Chat) {
	e.objectStart(15)
	e.key("id")
	e.int(c.ID)
	e.key("status")
	e.str(c.Status.String())
	e.key("contact")
	if c.Contact != nil {
		renderContact(e, c.Contact)
	} else {
		e.null()
	}
	e.key("source")
	e.str(c.Source.String())
	e.key("assignee")
	e.optStr(c.Assignee)
	e.key("participants")
	e.arrayStart(len(c.Participants()))
	for _, p := range c.Participants() {
		e.str(p)
	}
	e.arrayEnd()
	e.key("unread")
	e.bool(c.Unread)
	e.key("created_at")
	e.time(c.CreatedAt)
	e.key("last_activity_at")
	e.time(c.LastActivityAt)
	e.key("waiting_since")
	e.time(c.WaitingSince)
	e.key("first_reply_at")
	e.time(c.FirstReplyAt)
	e.key("closed_at")
	e.time(c.ClosedAt)
	e.key("closed_by")
	e.optStr(c.ClosedBy)
	e.key("message_count")
	e.int(int64(c.MessageCount))
	e.key("last_message")
	if c.LastMessage != nil {
		renderMessage(e, c.LastMessage)
	} else {
		e.null()
	}
	e.objectEnd()
}

// renderMessage writes a transcript entry. Customer and operator messages
// are {"seq","author","text","at"}; system entries add "event" and
// "operator".
func renderMessage(e *encoder, m *fsm.Message) {
	system := m.AuthorType == fsm.AuthorSystem
	n := 4
	if system {
		n = 6
	}
	e.objectStart(n)
	e.key("seq")
	e.int(m.Seq)
	e.key("author")
	if m.AuthorType == fsm.AuthorOperator {
		e.objectStart(2)
		e.key("type")
		e.str(m.AuthorType.String())
		e.key("id")
		e.str(m.AuthorID)
	} else {
		e.objectStart(1)
		e.key("type")
		e.str(m.AuthorType.String())
	}
	e.objectEnd()
	if system {
		e.key("event")
		e.str(m.Event.String())
		e.key("operator")
		e.optStr(m.Operator)
	}
	e.key("text")
	e.str(m.Text)
	e.key("at")
	e.time(m.At)
	e.objectEnd()
}

func renderNotification(e *encoder, n *fsm.Notification) {
	e.objectStart(7)
	e.key("id")
	e.int(n.ID)
	e.key("type")
	e.str(n.Type.String())
	e.key("recipient")
	e.str(n.Recipient)
	e.key("chat_id")
	e.int(n.ChatID)
	e.key("operator")
	e.optStr(n.Operator)
	e.key("at")
	e.time(n.At)
	e.key("read")
	e.bool(n.Read)
	e.objectEnd()
}

func renderCounts(e *encoder, c *fsm.Counts) {
	e.objectStart(7)
	e.key("status")
	status := c.Status
	if status == fsm.StatusAny {
		status = fsm.StatusActive
	}
	e.str(status.String())
	e.key("all")
	e.int(int64(c.All))
	e.key("unassigned")
	e.int(int64(c.Unassigned))
	e.key("unread")
	e.int(int64(c.Unread))
	e.key("operators")
	e.objectStart(len(c.Operators))
	for _, oc := range c.Operators {
		e.key(oc.Operator)
		e.int(int64(oc.Count))
	}
	e.objectEnd()
	e.key("contact_types")
	e.objectStart(len(fsm.AllContactTypes))
	for i, t := range fsm.AllContactTypes {
		e.key(t.String())
		e.int(int64(c.ContactTypes[i]))
	}
	e.objectEnd()
	e.key("sources")
	e.objectStart(len(fsm.AllSources))
	for i, s := range fsm.AllSources {
		e.key(s.String())
		e.int(int64(c.Sources[i]))
	}
	e.objectEnd()
	e.objectEnd()
}

func renderStatus(e *encoder, st *NodeStatus) {
	e.objectStart(9)
	e.key("id")
	e.str(st.ID)
	e.key("state")
	e.str(st.State)
	e.key("leader")
	if st.Leader != nil {
		e.objectStart(3)
		e.key("id")
		e.str(st.Leader.ID)
		e.key("http")
		e.str(st.Leader.HTTP)
		e.key("raft")
		e.str(st.Leader.Raft)
		e.objectEnd()
	} else {
		e.null()
	}
	e.key("term")
	e.uint(st.Term)
	e.key("commit_index")
	e.uint(st.CommitIndex)
	e.key("applied_index")
	e.uint(st.AppliedIndex)
	e.key("last_snapshot")
	if st.LastSnapshot != nil {
		e.objectStart(2)
		e.key("index")
		e.uint(st.LastSnapshot.Index)
		e.key("term")
		e.uint(st.LastSnapshot.Term)
		e.objectEnd()
	} else {
		e.null()
	}
	e.key("nodes")
	renderNodes(e, st.Nodes)
	e.key("version")
	e.str(st.Version)
	e.objectEnd()
}

func renderNodes(e *encoder, nodes []NodeInfo) {
	e.arrayStart(len(nodes))
	for i := range nodes {
		n := &nodes[i]
		e.objectStart(4)
		e.key("id")
		e.str(n.ID)
		e.key("http")
		e.str(n.HTTP)
		e.key("raft")
		e.str(n.Raft)
		e.key("suffrage")
		e.str(n.Suffrage)
		e.objectEnd()
	}
	e.arrayEnd()
}

// renderError writes the API's error body. field is null except for
// invalid_field (where "" names a member with an empty name).
func renderError(e *encoder, code, message, field string) {
	e.objectStart(1)
	e.key("error")
	e.objectStart(3)
	e.key("code")
	e.str(code)
	e.key("message")
	e.str(message)
	e.key("field")
	if code == codeInvalidField {
		e.str(field)
	} else {
		e.null()
	}
	e.objectEnd()
	e.objectEnd()
}
