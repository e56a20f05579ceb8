package fsm

import (
	"math/bits"
	"sort"

	"github.com/tidwall/btree"
)

// Read methods take the read lock for the duration of the read only; the
// records they return are immutable.

// account returns the account's state, or a not_found error.
func (st *state) account(id string) (*account, error) {
	if a, ok := st.accounts.Get(id); ok {
		return a, nil
	}
	return nil, newError(CodeNotFound, "account %s not found", id)
}

// Accounts lists every account in id order.
func (f *FSM) Accounts() []*Account {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*Account, 0, f.st.accounts.Len())
	f.st.accounts.Scan(func(_ string, a *account) bool {
		out = append(out, a.rec)
		return true
	})
	return out
}

// Account returns one account, or ErrNotFound.
func (f *FSM) Account(id string) (*Account, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(id)
	if err != nil {
		return nil, err
	}
	return a.rec, nil
}

// Operator returns one operator, or ErrNotFound for the account or operator.
func (f *FSM) Operator(account, op string) (*Operator, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return nil, err
	}
	o := a.op(op)
	if o == nil {
		return nil, opNotFound(op)
	}
	return o.rec, nil
}

// activeCells are the cells of active chats: status is the most significant
// part of the cell index.
const activeCells = cellMask(1)<<(numCells/2) - 1

// Operators lists an account's operators in id order with their active chat
// counts.
func (f *FSM) Operators(account string) ([]OperatorSummary, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return nil, err
	}
	out := make([]OperatorSummary, len(a.ops))
	for i, o := range a.ops {
		out[i] = OperatorSummary{Operator: o.rec, ActiveChats: a.assignees[o.ord].sum(activeCells)}
	}
	return out, nil
}

func (cs *cellSet) sum(m cellMask) int {
	n := 0
	for m != 0 {
		cell := bits.TrailingZeros32(uint32(m))
		m &= m - 1
		n += int(cs.counts[cell])
	}
	return n
}

// Chat returns the current version of a chat.
func (f *FSM) Chat(account string, id int64) (*Chat, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return nil, err
	}
	c := a.chat(id)
	if c == nil {
		return nil, newError(CodeNotFound, "chat %d not found", id)
	}
	return c, nil
}

// ListChats returns one page of the filtered list, newest activity first,
// by an ordered index walk that stops after q.Limit chats. The walk merges
// the B-trees of the cells the filter selects (at most 32, usually far
// fewer), so its cost depends on the page size, not on the account's size.
// Next is nil when no chat follows the page.
func (f *FSM) ListChats(account string, q ListQuery) (ChatPage, error) {
	if q.Limit < 1 {
		return ChatPage{}, invalidField("limit", "limit must be at least 1")
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return ChatPage{}, err
	}
	fl := q.Filter
	cs := a.all
	switch {
	case fl.Unassigned:
		cs = a.assignees[0]
	case fl.Operator != "":
		ord, ok := a.ords[fl.Operator]
		if !ok {
			return ChatPage{Chats: []*Chat{}}, nil
		}
		cs = a.assignees[ord]
	}
	mask := cellsMatching(fl.Status, fl.ContactType, fl.Source, fl.Unread)

	var its [numCells]btree.IterG[listKey]
	var heads [numCells]listKey
	live := make([]int, 0, numCells)
	for m := mask; m != 0; m &= m - 1 {
		cell := bits.TrailingZeros32(uint32(m))
		t := cs.trees[cell]
		if t == nil || t.Len() == 0 {
			continue
		}
		it := &its[len(live)]
		*it = t.Iter()
		var ok bool
		if q.After != nil {
			from := listKey{q.After.LastActivityAt, q.After.ID}
			ok = it.Seek(from)
			if ok && it.Item() == from {
				ok = it.Next()
			}
		} else {
			ok = it.First()
		}
		if ok {
			heads[len(live)] = it.Item()
			live = append(live, len(live))
		}
	}

	page := ChatPage{Chats: make([]*Chat, 0, min(q.Limit, 64))}
	for len(live) > 0 {
		best := 0
		for i := 1; i < len(live); i++ {
			if listLess(heads[live[i]], heads[live[best]]) {
				best = i
			}
		}
		j := live[best]
		k := heads[j]
		if len(page.Chats) == q.Limit {
			last := page.Chats[len(page.Chats)-1]
			page.Next = &Cursor{LastActivityAt: last.LastActivityAt, ID: last.ID}
			break
		}
		page.Chats = append(page.Chats, a.chat(k.id))
		if its[j].Next() {
			heads[j] = its[j].Item()
		} else {
			live = append(live[:best], live[best+1:]...)
		}
	}
	return page, nil
}

// Counts returns the badge counts from counters, without a scan: it sums
// the counters of the cells the query selects.
func (f *FSM) Counts(account string, q CountQuery) (Counts, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return Counts{}, err
	}
	status := q.Status
	if status == StatusAny {
		status = StatusActive
	}
	mask := cellsMatching(status, q.ContactType, q.Source, q.Unread)
	c := Counts{Status: status, Operators: make([]OperatorCount, len(a.ops))}
	unassigned := a.assignees[0]
	for m := mask; m != 0; m &= m - 1 {
		cell := bits.TrailingZeros32(uint32(m))
		n := int(a.all.counts[cell])
		c.All += n
		c.Unassigned += int(unassigned.counts[cell])
		if cell&1 == 1 {
			c.Unread += n
		}
		c.Sources[(cell>>1)&3] += n
		c.ContactTypes[(cell>>3)&1] += n
	}
	for i, o := range a.ops {
		c.Operators[i] = OperatorCount{Operator: o.rec.ID, Count: a.assignees[o.ord].sum(mask)}
	}
	return c, nil
}

// Messages returns up to limit transcript entries with seq > after, oldest
// first. The returned slice is shared and must not be modified.
func (f *FSM) Messages(account string, chat int64, after int64, limit int) (MessagePage, error) {
	if limit < 1 {
		return MessagePage{}, invalidField("limit", "limit must be at least 1")
	}
	if after < 0 {
		return MessagePage{}, invalidField("after", "after must be 0 or more")
	}
	c, err := f.Chat(account, chat)
	if err != nil {
		return MessagePage{}, err
	}
	t := c.transcript
	if after >= int64(len(t)) {
		return MessagePage{Messages: []Message{}}, nil
	}
	end := min(after+int64(limit), int64(len(t)))
	page := MessagePage{Messages: t[after:end:end]}
	if end < int64(len(t)) {
		page.NextAfter = end
	}
	return page, nil
}

// Notifications returns up to limit notifications of op's inbox with id >
// after, oldest first, with Read as of now, and the inbox's unread count.
func (f *FSM) Notifications(account, op string, after int64, limit int) (NotificationPage, error) {
	if limit < 1 {
		return NotificationPage{}, invalidField("limit", "limit must be at least 1")
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return NotificationPage{}, err
	}
	o := a.op(op)
	if o == nil {
		return NotificationPage{}, opNotFound(op)
	}
	in := o.inbox
	from := sort.Search(len(in), func(i int) bool { return in[i].ID > after })
	end := min(from+limit, len(in))
	page := NotificationPage{Notifications: make([]Notification, 0, end-from), UnreadCount: int(o.unread)}
	for _, n := range in[from:end] {
		v := *n
		v.Read = v.ID <= o.readUpTo
		page.Notifications = append(page.Notifications, v)
	}
	if end < len(in) {
		page.NextAfter = in[end-1].ID
	}
	return page, nil
}

// Events returns up to limit events with seq > since (limit < 1 means no
// limit). since 0 means from the oldest retained event; a since below the
// retained window is ErrCompacted.
func (f *FSM) Events(account string, since int64, limit int) (EventPage, error) {
	if since < 0 {
		return EventPage{}, invalidField("since", "since must be 0 or more")
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return EventPage{}, err
	}
	page := EventPage{LastSeq: a.lastSeq}
	if since != 0 && since < a.firstSeq-1 {
		return page, newError(CodeCompacted, "events after %d are no longer retained: the oldest is %d", since, a.firstSeq)
	}
	from := max(since+1, a.firstSeq)
	n := a.lastSeq - from + 1
	if n <= 0 {
		page.Events = []Event{}
		return page, nil
	}
	if limit > 0 && int64(limit) < n {
		n = int64(limit)
	}
	page.Events = make([]Event, n)
	for i := range page.Events {
		seq := from + int64(i)
		page.Events[i] = a.event(seq).expand(seq)
	}
	return page, nil
}

// expand builds the public form of a stored event.
func (e *eventRec) expand(seq int64) Event {
	ev := Event{Seq: seq, Type: e.typ(), At: e.at(), Chat: e.chat, Before: e.before}
	switch r := e.ref.(type) {
	case *Message:
		ev.Message = r
	case *Operator:
		ev.Operator = r
	case *Notification:
		ev.Notification = r
	case string:
		ev.RemovedOperator = r
	}
	return ev
}

// KeyAccount finds the account key with this SHA-256.
func (f *FSM) KeyAccount(hash [32]byte) (account, keyID string, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ref, ok := f.st.keys.Get(string(hash[:]))
	return ref.Account, ref.KeyID, ok
}

// NodeAddr is a cluster member's addresses as recorded by SetNode.
type NodeAddr struct {
	ID   string
	Raft string
	HTTP string
}

// Nodes lists the recorded cluster members in id order.
func (f *FSM) Nodes() []NodeAddr {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]NodeAddr, 0, f.st.nodes.Len())
	f.st.nodes.Scan(func(_ string, n NodeAddr) bool {
		out = append(out, n)
		return true
	})
	return out
}
