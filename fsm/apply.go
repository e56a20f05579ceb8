package fsm

import (
	"bytes"
	"slices"
	"sort"
	"unicode/utf8"

	"github.com/tidwall/btree"
)

// applier applies commands of one log entry. Each run is one command,
// under the FSM's write lock.
type applier struct {
	cfg   *Config
	st    *state
	index uint64

	// per command
	at      Millis
	acc     *account   // owned by the current generation once mutated
	pending []eventRec // events of the command, chats fixed up at commit
}

// run applies one command and returns its Result. Nothing changes when
// Result.Err is set.
func (ap *applier) run(cmd Command) Result {
	h := cmd.Head()
	ap.at = h.Time
	ap.acc = nil
	ap.pending = ap.pending[:0]

	switch c := cmd.(type) {
	case *Noop:
		return Result{Index: ap.index}
	case *SetNode:
		return ap.result(ap.setNode(c))
	case *RemoveNode:
		return ap.result(ap.removeNode(c))
	}

	if err := validate(cmd); err != nil {
		return Result{Err: err, Index: ap.index}
	}

	// The idempotency table answers before anything is applied.
	key := h.IdempotencyKey
	if key != "" {
		if a, ok := ap.st.accounts.Get(h.Account); ok {
			if e, ok := a.idem.Get(key); ok {
				if !bytes.Equal(e.fingerprint, h.Fingerprint) {
					return Result{Index: ap.index, Err: newError(CodeIdempotencyKeyReused,
						"idempotency key %q was used for a different request", key)}
				}
				r := e.result
				r.Replayed = true
				return r
			}
		}
	}

	r := ap.result(ap.dispatch(cmd))

	if key != "" {
		if _, ok := ap.st.accounts.Get(h.Account); ok {
			ap.remember(h, r)
		}
	}
	return r
}

// result completes a command's outcome: on success it publishes the
// pending events with the chats as they are after the whole write.
func (ap *applier) result(r Result, err *Error) Result {
	r.Index = ap.index
	if err != nil {
		return Result{Err: err, Index: ap.index}
	}
	if len(ap.pending) > 0 {
		a := ap.acc
		for _, e := range ap.pending {
			if e.chat != nil {
				e.chat = a.chat(e.chat.ID)
			}
			a.appendEvent(e, ap.cfg.EventWindow)
		}
		if r.Chat != nil {
			r.Chat = a.chat(r.Chat.ID)
		}
	}
	return r
}

func (ap *applier) dispatch(cmd Command) (Result, *Error) {
	switch c := cmd.(type) {
	case *UpsertAccount:
		return ap.upsertAccount(c)
	case *CreateKey:
		return ap.createKey(c)
	case *RevokeKey:
		return ap.revokeKey(c)
	}
	a, ok := ap.st.accounts.Get(cmd.Head().Account)
	if !ok {
		return Result{}, newError(CodeNotFound, "account %s not found", cmd.Head().Account)
	}
	ap.acc = a
	switch c := cmd.(type) {
	case *UpsertOperator:
		return ap.upsertOperator(c)
	case *RemoveOperator:
		return ap.removeOperator(c)
	case *CreateChat:
		return ap.createChat(c)
	case *CustomerMessage:
		return ap.customerMessage(c)
	case *OperatorMessage:
		return ap.operatorMessage(c)
	case *Join:
		return ap.join(&c.ChatAction)
	case *Leave:
		return ap.leave(&c.ChatAction)
	case *MarkUnread:
		return ap.setUnread(&c.ChatAction, true)
	case *MarkRead:
		return ap.setUnread(&c.ChatAction, false)
	case *Close:
		return ap.close(&c.ChatAction)
	case *Reopen:
		return ap.reopen(&c.ChatAction)
	case *Assign:
		return ap.assign(c)
	case *ReadNotifications:
		return ap.readNotifications(c)
	}
	panic("fsm: unhandled command type")
}

// own makes the current account mutable in this generation.
func (ap *applier) own() *account {
	if ap.acc.gen != ap.st.gen {
		ap.acc = ap.st.ownAccount(ap.acc.rec.ID)
	}
	return ap.acc
}

// emit queues an event of the current command. For chat events, chat is any
// version of the chat (it is replaced by the final one) and before the
// version before the write.
func (ap *applier) emit(typ EventType, chat, before *Chat, ref any) {
	ap.pending = append(ap.pending, newEventRec(typ, ap.at, chat, before, ref))
}

// notify adds a notification to recipient's inbox and queues its event.
func (ap *applier) notify(recipient string, typ NotificationType, chat int64, other string) {
	a := ap.own()
	a.nextNotification++
	n := &Notification{ID: a.nextNotification, Type: typ, Recipient: recipient, ChatID: chat, Operator: other, At: ap.at}
	o := a.ownOp(recipient)
	o.inbox = append(o.inbox, n)
	o.unread++
	for len(o.inbox) > ap.cfg.InboxSize {
		if o.inbox[0].ID > o.readUpTo {
			o.unread--
		}
		o.inbox = o.inbox[1:]
	}
	ap.emit(EventNotificationCreated, nil, nil, n)
}

// remember stores r under the command's idempotency key and forgets keys
// that are both older than the TTL and beyond the newest IdempotencyKeys.
func (ap *applier) remember(h *Header, r Result) {
	if r.Err != nil && r.Err.Code == CodeInvalidField {
		return
	}
	if ap.acc == nil || ap.acc.rec.ID != h.Account {
		ap.acc, _ = ap.st.accounts.Get(h.Account)
	}
	a := ap.own()
	e := &idemEntry{key: h.IdempotencyKey, fingerprint: h.Fingerprint, at: h.Time, result: r}
	a.idem.Set(e.key, e)
	a.idemOrder = append(a.idemOrder, e)
	ttl := Millis(ap.cfg.IdempotencyTTL.Milliseconds())
	for len(a.idemOrder) > ap.cfg.IdempotencyKeys && a.idemOrder[0].at < h.Time-ttl {
		a.idem.Delete(a.idemOrder[0].key)
		a.idemOrder = a.idemOrder[1:]
	}
}

// --- accounts, keys, nodes ---

func (ap *applier) upsertAccount(c *UpsertAccount) (Result, *Error) {
	st := ap.st
	a, ok := st.accounts.Get(c.Account)
	if !ok {
		rec := &Account{ID: c.Account, Name: c.Name, CreatedAt: ap.at}
		st.accounts.Set(c.Account, newAccount(rec, st.gen))
		return Result{Account: rec, Created: true}, nil
	}
	if a.rec.Name == c.Name {
		return Result{Account: a.rec}, nil
	}
	a = st.ownAccount(c.Account)
	rec := *a.rec
	rec.Name = c.Name
	a.rec = &rec
	return Result{Account: a.rec}, nil
}

func (ap *applier) createKey(c *CreateKey) (Result, *Error) {
	st := ap.st
	if _, ok := st.accounts.Get(c.Account); !ok {
		return Result{}, newError(CodeNotFound, "account %s not found", c.Account)
	}
	a := st.ownAccount(c.Account)
	old, existed := a.keys.Get(c.KeyID)
	if existed {
		st.keys.Delete(string(old[:]))
	}
	a.keys.Set(c.KeyID, c.Hash)
	st.keys.Set(string(c.Hash[:]), keyRef{Account: c.Account, KeyID: c.KeyID})
	return Result{KeyID: c.KeyID, Created: !existed}, nil
}

func (ap *applier) revokeKey(c *RevokeKey) (Result, *Error) {
	st := ap.st
	a, ok := st.accounts.Get(c.Account)
	if !ok {
		return Result{}, newError(CodeNotFound, "account %s not found", c.Account)
	}
	hash, ok := a.keys.Get(c.KeyID)
	if !ok {
		return Result{}, newError(CodeNotFound, "key %s not found in account %s", c.KeyID, c.Account)
	}
	a = st.ownAccount(c.Account)
	a.keys.Delete(c.KeyID)
	st.keys.Delete(string(hash[:]))
	return Result{KeyID: c.KeyID}, nil
}

func (ap *applier) setNode(c *SetNode) (Result, *Error) {
	if !ValidID(c.NodeID) {
		return Result{}, invalidField("id", "node id %q is not a valid id", c.NodeID)
	}
	if c.Raft == "" || len(c.Raft) > MaxNameBytes {
		return Result{}, invalidField("raft", "raft address must be 1..%d bytes", MaxNameBytes)
	}
	if len(c.HTTP) > MaxNameBytes {
		return Result{}, invalidField("http", "http address must be at most %d bytes", MaxNameBytes)
	}
	ap.st.nodes.Set(c.NodeID, NodeAddr{ID: c.NodeID, Raft: c.Raft, HTTP: c.HTTP})
	return Result{}, nil
}

func (ap *applier) removeNode(c *RemoveNode) (Result, *Error) {
	ap.st.nodes.Delete(c.NodeID)
	return Result{}, nil
}

// --- operators ---

func (ap *applier) upsertOperator(c *UpsertOperator) (Result, *Error) {
	a := ap.acc
	if o := a.op(c.Operator); o != nil {
		if o.rec.Name == c.Name && equalOptional(o.rec.Email, c.Email) {
			return Result{Operator: o.rec}, nil
		}
		a = ap.own()
		o = a.ownOp(c.Operator)
		rec := *o.rec
		rec.Name, rec.Email = c.Name, c.Email
		o.rec = &rec
		ap.emit(EventOperatorUpserted, nil, nil, o.rec)
		return Result{Operator: o.rec}, nil
	}
	a = ap.own()
	rec := &Operator{ID: c.Operator, Name: c.Name, Email: c.Email, CreatedAt: ap.at}
	a.addOp(&operator{gen: a.gen, rec: rec, ord: a.ordinal(c.Operator)})
	ap.emit(EventOperatorUpserted, nil, nil, rec)
	return Result{Operator: rec, Created: true}, nil
}

func (ap *applier) removeOperator(c *RemoveOperator) (Result, *Error) {
	a := ap.acc
	o := a.op(c.Operator)
	if o == nil {
		return Result{}, opNotFound(c.Operator)
	}
	a = ap.own()
	// Active chats assigned to the operator, in id order.
	var assigned []int64
	cs := a.assignees[o.ord]
	var it listIter
	it.seek(&cs.halves[0], activeMask, nil)
	for k, ok := it.prev(); ok; k, ok = it.prev() {
		assigned = append(assigned, k.id)
	}
	slices.Sort(assigned)
	var joined []int64
	if o.joined != nil {
		joined = o.joined.Items()
	}

	i, _ := a.findOp(c.Operator)
	a.ops = slices.Delete(a.ops, i, i+1)
	a.opByOrd[o.ord] = nil
	ap.emit(EventOperatorRemoved, nil, nil, o.rec.ID)
	for _, id := range assigned {
		old := a.chat(id)
		n := newVersion(old)
		n.Assignee = ""
		n.Unread = true
		a.putChat(old, n)
		ap.emit(EventChatAssigned, n, old, nil)
	}
	for _, id := range joined {
		old := a.chat(id)
		n := newVersion(old)
		n.setParticipants(without(old.Participants(), o.rec.ID))
		a.putChat(old, n)
		ap.emit(EventChatLeft, n, old, nil)
	}
	return Result{}, nil
}

// --- chats ---

// initialTranscriptCap fits a typical short chat without growing.
const initialTranscriptCap = 6

func (ap *applier) createChat(c *CreateChat) (Result, *Error) {
	a := ap.own()
	contact := c.Contact
	ch := &Chat{
		ID:             a.numChats + 1,
		Status:         StatusActive,
		Unread:         true,
		Source:         c.Source,
		Contact:        &contact,
		CreatedAt:      ap.at,
		LastActivityAt: ap.at,
		WaitingSince:   ap.at,
		transcript:     make([]Message, 0, initialTranscriptCap),
	}
	msg := ch.appendEntry(Message{AuthorType: AuthorCustomer, Text: a.keepText(c.Text), At: ap.at})
	ch.MessageCount = 1
	ch.LastMessage = msg
	a.putChat(nil, ch)
	ap.emit(EventChatCreated, ch, nil, nil)
	ap.emit(EventMessageCreated, ch, nil, msg)
	return Result{Chat: ch, Message: msg, Created: true}, nil
}

// actOn checks the acting operator, as actor does, and looks up the chat
// the command names: the start of every operator's action on a chat.
func (ap *applier) actOn(operator *string, chat int64) (*Chat, *Error) {
	if err := ap.actor(operator); err != nil {
		return nil, err
	}
	return ap.chatFor(chat)
}

// chatFor looks up the chat a command names.
func (ap *applier) chatFor(id int64) (*Chat, *Error) {
	if ch := ap.acc.chat(id); ch != nil {
		return ch, nil
	}
	return nil, newError(CodeNotFound, "chat %d not found", id)
}

// actor checks that the operator named by *id exists and replaces *id by
// the operator record's own string, so that the ids stored in chats,
// transcripts and notifications share one allocation per operator.
func (ap *applier) actor(id *string) *Error {
	o := ap.acc.op(*id)
	if o == nil {
		return opNotFound(*id)
	}
	*id = o.rec.ID
	return nil
}

func (ap *applier) customerMessage(c *CustomerMessage) (Result, *Error) {
	old, err := ap.chatFor(c.Chat)
	if err != nil {
		return Result{}, err
	}
	a := ap.own()
	n := newVersion(old)
	reopened := old.Status == StatusClosed
	if reopened {
		ap.reopenInto(n)
		sys := n.appendEntry(Message{AuthorType: AuthorSystem, Event: SystemReopened, At: ap.at})
		ap.emit(EventChatReopened, n, old, nil)
		ap.emit(EventMessageCreated, n, old, sys)
	}
	msg := n.appendEntry(Message{AuthorType: AuthorCustomer, Text: a.keepText(c.Text), At: ap.at})
	n.MessageCount++
	n.LastMessage = msg
	n.Unread = true
	if n.WaitingSince == 0 {
		n.WaitingSince = ap.at
	}
	a.putChat(old, n)
	ap.emit(EventMessageCreated, n, old, msg)
	if reopened {
		if n.Assignee != "" {
			ap.notify(n.Assignee, NotificationChatReopened, n.ID, "")
		}
	} else {
		if n.Assignee != "" {
			ap.notify(n.Assignee, NotificationNewMessage, n.ID, "")
		}
		for _, p := range n.Participants() {
			ap.notify(p, NotificationNewMessage, n.ID, "")
		}
	}
	return Result{Chat: n, Message: msg, Created: true}, nil
}

// reopenInto makes n active again, keeping its assignee if that operator
// still exists.
func (ap *applier) reopenInto(n *Chat) {
	n.Status = StatusActive
	n.ClosedAt = 0
	n.ClosedBy = ""
	if n.Assignee != "" && ap.acc.op(n.Assignee) == nil {
		n.Assignee = ""
	}
}

func (ap *applier) operatorMessage(c *OperatorMessage) (Result, *Error) {
	old, err := ap.actOn(&c.Operator, c.Chat)
	if err != nil {
		return Result{}, err
	}
	if old.Status == StatusClosed {
		return Result{}, chatClosed(old.ID)
	}
	take := old.Assignee == ""
	if !take && old.Assignee != c.Operator && !slices.Contains(old.Participants(), c.Operator) {
		return Result{}, newError(CodeNotParticipant, "operator %s is neither the assignee nor a participant of chat %d", c.Operator, old.ID)
	}
	a := ap.own()
	n := newVersion(old)
	if take {
		ap.setAssignee(n, c.Operator)
		ap.emit(EventChatAssigned, n, old, nil)
	}
	msg := n.appendEntry(Message{AuthorType: AuthorOperator, AuthorID: c.Operator, Text: a.keepText(c.Text), At: ap.at})
	n.MessageCount++
	n.LastMessage = msg
	n.Unread = false
	n.WaitingSince = 0
	if n.FirstReplyAt == 0 {
		n.FirstReplyAt = ap.at
	}
	a.putChat(old, n)
	ap.emit(EventMessageCreated, n, old, msg)
	return Result{Chat: n, Message: msg, Created: true}, nil
}

// setAssignee makes op (or nobody, for "") the assignee of n; a participant
// who becomes assignee stops being a participant.
func (ap *applier) setAssignee(n *Chat, op string) {
	if op != "" && slices.Contains(n.Participants(), op) {
		n.setParticipants(without(n.Participants(), op))
		ap.unjoin(op, n.ID)
	}
	n.Assignee = op
}

func (ap *applier) unjoin(op string, chat int64) {
	o := ap.acc.ownOp(op)
	o.joined.Delete(chat)
	if o.joined.Len() == 0 {
		o.joined = nil
	}
}

func (ap *applier) join(c *ChatAction) (Result, *Error) {
	old, err := ap.actOn(&c.Operator, c.Chat)
	if err != nil {
		return Result{}, err
	}
	switch {
	case old.Status == StatusClosed:
		return Result{}, chatClosed(old.ID)
	case old.Assignee == "":
		return Result{}, newError(CodeChatUnassigned, "chat %d is unassigned: reply to take it", old.ID)
	case old.Assignee == c.Operator:
		return Result{}, newError(CodeAlreadyAssigned, "operator %s is the assignee of chat %d", c.Operator, old.ID)
	case slices.Contains(old.Participants(), c.Operator):
		return Result{Chat: old}, nil
	}
	a := ap.own()
	n := newVersion(old)
	n.setParticipants(append(slices.Clip(old.Participants()), c.Operator))
	o := a.ownOp(c.Operator)
	if o.joined == nil {
		o.joined = btree.NewBTreeGOptions(int64Less, treeOptions)
	}
	o.joined.Set(n.ID)
	sys := n.appendEntry(Message{AuthorType: AuthorSystem, Event: SystemOperatorJoined, Operator: c.Operator, At: ap.at})
	a.putChat(old, n)
	ap.emit(EventChatJoined, n, old, nil)
	ap.emit(EventMessageCreated, n, old, sys)
	ap.notify(n.Assignee, NotificationOperatorJoined, n.ID, c.Operator)
	return Result{Chat: n}, nil
}

func (ap *applier) leave(c *ChatAction) (Result, *Error) {
	old, err := ap.actOn(&c.Operator, c.Chat)
	if err != nil {
		return Result{}, err
	}
	if old.Status == StatusClosed {
		return Result{}, chatClosed(old.ID)
	}
	if !slices.Contains(old.Participants(), c.Operator) {
		return Result{}, newError(CodeNotParticipant, "operator %s is not a participant of chat %d", c.Operator, old.ID)
	}
	a := ap.own()
	n := newVersion(old)
	n.setParticipants(without(old.Participants(), c.Operator))
	ap.unjoin(c.Operator, n.ID)
	sys := n.appendEntry(Message{AuthorType: AuthorSystem, Event: SystemOperatorLeft, Operator: c.Operator, At: ap.at})
	a.putChat(old, n)
	ap.emit(EventChatLeft, n, old, nil)
	ap.emit(EventMessageCreated, n, old, sys)
	if n.Assignee != "" {
		ap.notify(n.Assignee, NotificationOperatorLeft, n.ID, c.Operator)
	}
	return Result{Chat: n}, nil
}

func (ap *applier) setUnread(c *ChatAction, unread bool) (Result, *Error) {
	old, err := ap.actOn(&c.Operator, c.Chat)
	if err != nil {
		return Result{}, err
	}
	if old.Status == StatusClosed {
		return Result{}, chatClosed(old.ID)
	}
	if old.Unread == unread {
		return Result{Chat: old}, nil
	}
	a := ap.own()
	n := newVersion(old)
	n.Unread = unread
	a.putChat(old, n)
	typ := EventChatRead
	if unread {
		typ = EventChatUnread
	}
	ap.emit(typ, n, old, nil)
	return Result{Chat: n}, nil
}

func (ap *applier) close(c *ChatAction) (Result, *Error) {
	old, err := ap.actOn(&c.Operator, c.Chat)
	if err != nil {
		return Result{}, err
	}
	if old.Status == StatusClosed {
		return Result{Chat: old}, nil
	}
	a := ap.own()
	n := newVersion(old)
	n.Status = StatusClosed
	n.ClosedAt = ap.at
	n.ClosedBy = c.Operator
	n.Unread = false
	for _, p := range old.Participants() {
		ap.unjoin(p, n.ID)
	}
	n.participants = nil
	sys := n.appendEntry(Message{AuthorType: AuthorSystem, Event: SystemClosed, Operator: c.Operator, At: ap.at})
	a.putChat(old, n)
	ap.emit(EventChatClosed, n, old, nil)
	ap.emit(EventMessageCreated, n, old, sys)
	return Result{Chat: n}, nil
}

func (ap *applier) reopen(c *ChatAction) (Result, *Error) {
	old, err := ap.actOn(&c.Operator, c.Chat)
	if err != nil {
		return Result{}, err
	}
	if old.Status == StatusActive {
		return Result{Chat: old}, nil
	}
	a := ap.own()
	n := newVersion(old)
	ap.reopenInto(n)
	sys := n.appendEntry(Message{AuthorType: AuthorSystem, Event: SystemReopened, Operator: c.Operator, At: ap.at})
	a.putChat(old, n)
	ap.emit(EventChatReopened, n, old, nil)
	ap.emit(EventMessageCreated, n, old, sys)
	if n.Assignee != "" && n.Assignee != c.Operator {
		ap.notify(n.Assignee, NotificationChatReopened, n.ID, c.Operator)
	}
	return Result{Chat: n}, nil
}

func (ap *applier) assign(c *Assign) (Result, *Error) {
	if err := ap.actor(&c.By); err != nil {
		return Result{}, err
	}
	if c.Operator != "" {
		if err := ap.actor(&c.Operator); err != nil {
			return Result{}, err
		}
	}
	old, err := ap.chatFor(c.Chat)
	if err != nil {
		return Result{}, err
	}
	if old.Status == StatusClosed {
		return Result{}, chatClosed(old.ID)
	}
	if old.Assignee == c.Operator {
		return Result{Chat: old}, nil
	}
	a := ap.own()
	n := newVersion(old)
	prev := old.Assignee
	ap.setAssignee(n, c.Operator)
	var sys *Message
	if c.Operator != "" {
		sys = n.appendEntry(Message{AuthorType: AuthorSystem, Event: SystemAssigned, Operator: c.Operator, At: ap.at})
	} else {
		sys = n.appendEntry(Message{AuthorType: AuthorSystem, Event: SystemUnassigned, Operator: prev, At: ap.at})
	}
	a.putChat(old, n)
	ap.emit(EventChatAssigned, n, old, nil)
	ap.emit(EventMessageCreated, n, old, sys)
	if c.Operator != "" && c.Operator != c.By {
		ap.notify(c.Operator, NotificationChatAssigned, n.ID, c.By)
	}
	if prev != "" && prev != c.By {
		ap.notify(prev, NotificationChatUnassigned, n.ID, c.By)
	}
	return Result{Chat: n}, nil
}

func (ap *applier) readNotifications(c *ReadNotifications) (Result, *Error) {
	o := ap.acc.op(c.Operator)
	if o == nil {
		return Result{}, opNotFound(c.Operator)
	}
	// The watermark never passes the newest id handed out, so that
	// notifications created later are unread.
	upTo := min(c.UpTo, ap.acc.nextNotification)
	if upTo <= o.readUpTo {
		return Result{UnreadCount: int(o.unread)}, nil
	}
	a := ap.own()
	o = a.ownOp(c.Operator)
	o.readUpTo = upTo
	first := sort.Search(len(o.inbox), func(i int) bool { return o.inbox[i].ID > upTo })
	o.unread = int32(len(o.inbox) - first)
	return Result{UnreadCount: int(o.unread)}, nil
}

// --- helpers ---

// newVersion starts the next version of a chat. The transcript is shared:
// the new version appends past the old one's length.
func newVersion(c *Chat) *Chat {
	n := *c
	n.rev++
	return &n
}

// appendEntry appends a transcript entry, stamping its seq, and moves
// last_activity_at. It returns the stored entry.
func (c *Chat) appendEntry(m Message) *Message {
	m.Seq = int64(len(c.transcript)) + 1
	if n := len(c.transcript); n == cap(c.transcript) {
		// Grow by half rather than double: the old array stays reachable
		// through older versions held by events, so slack costs twice.
		grown := make([]Message, n, n+max(n/2, 4))
		copy(grown, c.transcript)
		c.transcript = grown
	}
	c.transcript = append(c.transcript, m)
	c.LastActivityAt = m.At
	return &c.transcript[len(c.transcript)-1]
}

// without returns a new slice of list minus s; list is never modified.
func without(list []string, s string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func equalOptional(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func opNotFound(id string) *Error { return newError(CodeNotFound, "operator %s not found", id) }

func chatClosed(id int64) *Error { return newError(CodeChatClosed, "chat %d is closed", id) }

// --- validation ---

// validate checks a command's fields as the HTTP layer does, because
// embedded users propose commands directly.
func validate(cmd Command) *Error {
	h := cmd.Head()
	if !ValidID(h.Account) {
		return invalidField("account_id", "account id %q is not a valid id", h.Account)
	}
	if k := h.IdempotencyKey; k != "" {
		if len(k) > MaxKeyBytes || !printableASCII(k) {
			return invalidField("Idempotency-Key", "idempotency key must be 1..%d printable ASCII characters", MaxKeyBytes)
		}
	}
	switch c := cmd.(type) {
	case *UpsertAccount:
		return checkName("name", c.Name)
	case *UpsertOperator:
		if err := checkOperatorID("operator_id", c.Operator); err != nil {
			return err
		}
		if err := checkName("name", c.Name); err != nil {
			return err
		}
		if c.Email != nil {
			return checkOptional("email", *c.Email)
		}
	case *RemoveOperator:
		return checkOperatorID("operator_id", c.Operator)
	case *CreateChat:
		ct := c.Contact
		if ct.Type != ContactTypeContact && ct.Type != ContactTypeVisitor {
			return invalidField("contact.type", "contact.type must be contact or visitor")
		}
		if ct.ID != nil && !ValidID(*ct.ID) {
			return invalidField("contact.id", "contact id %q is not a valid id", *ct.ID)
		}
		if ct.Name != nil {
			if err := checkOptional("contact.name", *ct.Name); err != nil {
				return err
			}
		}
		if ct.Email != nil {
			if err := checkOptional("contact.email", *ct.Email); err != nil {
				return err
			}
		}
		if c.Source < SourceEmail || c.Source > SourceExternalPage {
			return invalidField("source", "source must be email, landing_page, chat_page or external_page")
		}
		return checkText(c.Text)
	case *CustomerMessage:
		if err := checkChatID(c.Chat); err != nil {
			return err
		}
		return checkText(c.Text)
	case *OperatorMessage:
		if err := checkChatID(c.Chat); err != nil {
			return err
		}
		if err := checkOperatorID("author.id", c.Operator); err != nil {
			return err
		}
		return checkText(c.Text)
	case *Join:
		return checkAction(&c.ChatAction)
	case *Leave:
		return checkAction(&c.ChatAction)
	case *MarkUnread:
		return checkAction(&c.ChatAction)
	case *MarkRead:
		return checkAction(&c.ChatAction)
	case *Close:
		return checkAction(&c.ChatAction)
	case *Reopen:
		return checkAction(&c.ChatAction)
	case *Assign:
		if err := checkChatID(c.Chat); err != nil {
			return err
		}
		if c.Operator != "" {
			if err := checkOperatorID("operator", c.Operator); err != nil {
				return err
			}
		}
		return checkOperatorID("by", c.By)
	case *ReadNotifications:
		if err := checkOperatorID("operator_id", c.Operator); err != nil {
			return err
		}
		if c.UpTo < 0 {
			return invalidField("up_to", "up_to must be 0 or more")
		}
	case *CreateKey:
		return checkOperatorID("id", c.KeyID)
	case *RevokeKey:
		return checkOperatorID("key_id", c.KeyID)
	}
	return nil
}

func checkAction(c *ChatAction) *Error {
	if err := checkChatID(c.Chat); err != nil {
		return err
	}
	return checkOperatorID("operator", c.Operator)
}

func checkChatID(id int64) *Error {
	if id < 1 {
		return invalidField("chat_id", "chat id must be a positive integer")
	}
	return nil
}

func checkOperatorID(field, id string) *Error {
	if !ValidID(id) {
		return invalidField(field, "%s %q is not a valid id", field, id)
	}
	return nil
}

func checkName(field, s string) *Error {
	if s == "" {
		return invalidField(field, "%s must not be empty", field)
	}
	return checkOptional(field, s)
}

func checkOptional(field, s string) *Error {
	if len(s) > MaxNameBytes {
		return invalidField(field, "%s must be at most %d bytes", field, MaxNameBytes)
	}
	if !utf8.ValidString(s) {
		return invalidField(field, "%s must be valid UTF-8", field)
	}
	return nil
}

func checkText(s string) *Error {
	if len(s) == 0 || len(s) > MaxTextBytes {
		return invalidField("text", "text must be 1..%d bytes", MaxTextBytes)
	}
	if !utf8.ValidString(s) {
		return invalidField("text", "text must be valid UTF-8")
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
