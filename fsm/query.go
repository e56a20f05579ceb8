package fsm

import (
	"math/bits"
	"sort"
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

// Operators lists an account's operators in id order with their active chat
// counts.
func (f *FSM) Operators(account string) ([]OperatorSummary, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, err := f.st.account(account)
	if err != nil {
		return nil, err
	}
	active, _ := comboIndex(StatusActive, ContactTypeAny, SourceAny, UnreadAny)
	out := make([]OperatorSummary, len(a.ops))
	for i, o := range a.ops {
		out[i] = OperatorSummary{Operator: o.rec, ActiveChats: int(a.counts[o.ord+1][active])}
	}
	return out, nil
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
// at most two trees (active and closed chats) and skips every subtree that
// holds none of the cells the filter selects, so its cost depends on the
// page size, not on the account's size. Next is nil when no chat follows
// the page.
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
	cs, row := a.all, &a.counts[0]
	switch {
	case fl.Unassigned:
		cs, row = a.assignees[0], &a.counts[1]
	case fl.Operator != "":
		ord, ok := a.ords[fl.Operator]
		if !ok {
			return ChatPage{Chats: []*Chat{}}, nil
		}
		cs, row = a.assignees[ord], &a.counts[ord+1]
	}
	mask := cellsMatching(fl.Status, fl.ContactType, fl.Source, fl.Unread)

	m, _ := f.lists.Get().(*listMerge)
	if m == nil {
		m = new(listMerge)
	}
	defer f.lists.Put(m)
	m.plan(cs, row, mask, q.After)
	page := ChatPage{Chats: make([]*Chat, 0, min(q.Limit, 64))}
	for {
		k, ok := m.pop()
		if !ok {
			break
		}
		if len(page.Chats) == q.Limit {
			last := page.Chats[len(page.Chats)-1]
			page.Next = &Cursor{LastActivityAt: last.LastActivityAt, ID: last.ID}
			break
		}
		page.Chats = append(page.Chats, a.chat(k.id))
	}
	return page, nil
}

// halfCells is the cells of half h: 0 active, 1 closed.
func halfCells(h int) cellMask { return activeMask << (h * numActiveCells) }

// listMerge walks trees in list order (newest first), merging their heads.
// It is reused through FSM.lists: its iterators take a few kilobytes.
type listMerge struct {
	its   [numCells + 2]listIter
	heads [numCells + 2]listKey // each live source's next key
	live  [numCells + 2]uint8   // indexes of the sources with a head, in no order
	n     int                   // live[:n] are live
	added int                   // sources added
}

// plan picks, for each half, the trees that the cells in mask are walked
// in, and positions each walk at its newest key older than the cursor (or
// at its newest key). Cells that are rare together, and have their own
// trees, are merged from those; otherwise the half's tree is walked,
// skipping the subtrees without a cell of mask. row is cs's counters.
func (m *listMerge) plan(cs *cellSet, row *comboRow, mask cellMask, after *Cursor) {
	m.n, m.added = 0, 0
	var before *listKey
	if after != nil {
		before = &listKey{after.LastActivityAt, after.ID}
	}
	for h := range 2 {
		sel := mask & halfCells(h)
		total := row[mustCombo(Status(h+1), ContactTypeAny, SourceAny, UnreadAny)]
		var count int32
		kept := true
		for rest := sel; rest != 0; rest &= rest - 1 {
			cell := bits.TrailingZeros32(uint32(rest))
			n := cellCount(row, cell)
			if n == 0 {
				sel &^= 1 << cell
				continue
			}
			count += n
			kept = kept && cs.cells[cell] != nil
		}
		// Merging a few trees of contiguous keys beats a walk that reads
		// one scattered key per chat; a walk beats seeking many trees.
		switch few := bits.OnesCount32(uint32(sel)) <= maxMergedCells; {
		case sel == 0:
		case kept && (few || count*rareCellShare < total):
			for rest := sel; rest != 0; rest &= rest - 1 {
				cell := bits.TrailingZeros32(uint32(rest))
				m.add(cs.cells[cell], 1<<cell, before)
			}
		default:
			m.add(&cs.halves[h], sel, before)
		}
	}
}

// maxMergedCells is the number of rare-cell trees that a list merges
// rather than walk the half, however many chats they hold together.
const maxMergedCells = 4

// cellCount is the number of chats in cell that row counts.
func cellCount(row *comboRow, cell int) int32 {
	s, ct, src, unread := cellValues(cell)
	u := UnreadFalse
	if unread {
		u = UnreadTrue
	}
	return row[mustCombo(s, ct, src, u)]
}

func (m *listMerge) add(t *listTree, filter cellMask, before *listKey) {
	j := m.added
	m.added++
	m.its[j].seek(t, filter, before)
	var ok bool
	if m.heads[j], ok = m.its[j].prev(); ok {
		m.live[m.n] = uint8(j)
		m.n++
	}
}

// pop returns the next key in list order (the newest head), or false when
// every source is exhausted.
func (m *listMerge) pop() (listKey, bool) {
	if m.n == 0 {
		return listKey{}, false
	}
	best := 0
	for i := 1; i < m.n; i++ {
		if listLess(m.heads[m.live[best]], m.heads[m.live[i]]) {
			best = i
		}
	}
	j := int(m.live[best])
	k := m.heads[j]
	var ok bool
	if m.heads[j], ok = m.its[j].prev(); !ok {
		m.n--
		m.live[best] = m.live[m.n]
	}
	return k, true
}

// Counts returns the badge counts from counters, without a scan: every
// figure is one counter of the combination the query selects (see
// comboRow), so the cost is one load per operator.
func (f *FSM) Counts(account string, q CountQuery) (Counts, error) {
	return f.CountsInto(account, q, nil)
}

// CountsInto is Counts with the operators' counts stored in ops[:0],
// grown only if it is too short: a caller that is done with an earlier
// result (rendered it, say) passes its Operators back and counts without
// allocating. Each call overwrites ops.
func (f *FSM) CountsInto(account string, q CountQuery, ops []OperatorCount) (Counts, error) {
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
	if ops == nil || cap(ops) < len(a.ops) {
		ops = make([]OperatorCount, len(a.ops))
	}
	c := Counts{Status: status, Operators: ops[:len(a.ops)]}
	combo, ok := comboIndex(status, q.ContactType, q.Source, q.Unread)
	if !ok {
		// A value out of range matches no chat.
		for i, o := range a.ops {
			c.Operators[i] = OperatorCount{Operator: o.rec.ID}
		}
		return c, nil
	}
	all := &a.counts[0]
	c.All = int(all[combo])
	c.Unassigned = int(a.counts[1][combo])
	if q.Unread != UnreadFalse {
		i, _ := comboIndex(status, q.ContactType, q.Source, UnreadTrue)
		c.Unread = int(all[i])
	}
	for ct := ContactTypeContact; ct <= ContactTypeVisitor; ct++ {
		if q.ContactType == ContactTypeAny || q.ContactType == ct {
			i, _ := comboIndex(status, ct, q.Source, q.Unread)
			c.ContactTypes[ct-1] = int(all[i])
		}
	}
	for src := SourceEmail; src <= SourceExternalPage; src++ {
		if q.Source == SourceAny || q.Source == src {
			i, _ := comboIndex(status, q.ContactType, src, q.Unread)
			c.Sources[src-1] = int(all[i])
		}
	}
	// ordNames[o.ord] is o.rec.ID, from a contiguous slice instead of one
	// record per operator.
	for i, o := range a.ops {
		c.Operators[i] = OperatorCount{Operator: a.ordNames[o.ord], Count: int(a.counts[o.ord+1][combo])}
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
