package fsm

import (
	"maps"
	"slices"
	"unsafe"

	"github.com/tidwall/btree"
)

// This file holds the layout of the state and its copy-on-write rules.
//
// Every container that Apply mutates carries the generation it was created
// or cloned in. Snapshot bumps state.gen and keeps a lazy copy of the
// top-level trees; from then on, a container whose gen is older than
// state.gen is shared with that snapshot and is cloned (struct copy, O(1)
// Copy of its B-trees, copy of its small slices) before its first mutation.
// Within one generation no snapshot holds a container, so Apply mutates it in
// place, under the write lock that keeps readers out.
//
// Append-only slices (transcripts, inboxes, event chunks, the idempotency
// order) are shared between versions: an older version sees [0, len) of the
// backing array and newer versions only append past that or reslice from the
// front, so a frozen version never sees a write.

var treeOptions = btree.Options{NoLocks: true}

// state is the whole replicated state. A snapshot holds a frozen copy.
type state struct {
	gen   uint64 // bumped by every Snapshot
	index uint64 // last applied log index

	accounts *btree.Map[string, *account]
	// keys maps a key's SHA-256 (as a string) to its account and id.
	keys  *btree.Map[string, keyRef]
	nodes *btree.Map[string, NodeAddr]
}

type keyRef struct {
	Account string
	KeyID   string
}

func newState() *state {
	return &state{
		accounts: btree.NewMap[string, *account](0),
		keys:     btree.NewMap[string, keyRef](0),
		nodes:    btree.NewMap[string, NodeAddr](0),
	}
}

// freeze returns a copy of st that later mutations of st never touch, and
// moves st to a new generation. O(1).
func (st *state) freeze() *state {
	frozen := &state{
		gen:      st.gen,
		index:    st.index,
		accounts: st.accounts.Copy(),
		keys:     st.keys.Copy(),
		nodes:    st.nodes.Copy(),
	}
	st.gen++
	return frozen
}

// ownAccount returns the account for mutation in the current generation,
// cloning it first if a snapshot shares it. The account must exist.
func (st *state) ownAccount(id string) *account {
	a, _ := st.accounts.Get(id)
	if a.gen == st.gen {
		return a
	}
	a = a.clone(st.gen)
	st.accounts.Set(id, a)
	return a
}

// Cell layout: a chat belongs to exactly one cell of (status, contact type,
// source, unread); the list indexes and counters are kept per cell so that
// any filter is a union of whole cells.
const (
	numCells       = 2 * 2 * 4 * 2
	chatChunkSize  = 256
	eventChunkSize = 1024
)

func cellIndex(s Status, ct ContactType, src Source, unread bool) int {
	i := ((int(s)-1)*2+int(ct)-1)*4 + int(src) - 1
	i *= 2
	if unread {
		i++
	}
	return i
}

func cellOf(c *Chat) int { return cellIndex(c.Status, c.Contact.Type, c.Source, c.Unread) }

// cellValues undoes cellIndex.
func cellValues(cell int) (Status, ContactType, Source, bool) {
	return Status(cell>>4 + 1), ContactType(cell>>3&1 + 1), Source(cell>>1&3 + 1), cell&1 == 1
}

// cellMask is a set of cells as a bit mask.
type cellMask uint32

// cellsMatching returns the cells a filter selects; zero fields are
// wildcards.
func cellsMatching(s Status, ct ContactType, src Source, u UnreadFilter) cellMask {
	var m cellMask
	for si := Status(1); si <= 2; si++ {
		if s != StatusAny && s != si {
			continue
		}
		for ci := ContactType(1); ci <= 2; ci++ {
			if ct != ContactTypeAny && ct != ci {
				continue
			}
			for so := Source(1); so <= 4; so++ {
				if src != SourceAny && src != so {
					continue
				}
				if u != UnreadFalse {
					m |= 1 << cellIndex(si, ci, so, true)
				}
				if u != UnreadTrue {
					m |= 1 << cellIndex(si, ci, so, false)
				}
			}
		}
	}
	return m
}

// listKey is a chat's place in its lists. A list shows newest activity
// first, then higher id first; the trees keep the reverse (oldest first)
// and lists walk them backwards, so that the chat a write moves, which
// usually becomes the newest, is appended at a tree's end (a B-tree's
// cheapest insert: no search, no shifting) rather than inserted at its
// front.
type listKey struct {
	at Millis
	id int64
}

// listLess orders keys oldest first: a is older than b.
func listLess(a, b listKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.id < b.id
}

func keyOf(c *Chat) listKey { return listKey{c.LastActivityAt, c.ID} }

// cellSet is one list index partition: a listTree for its active chats
// and one for its closed chats. Each account has one for all chats and one
// per assignee (ordinal 0 is "unassigned"); their counters live in
// account.counts.
//
// A half's tree serves any filter by skipping subtrees without a wanted
// cell, but a rare cell is spread thin: at one chat in 64, every leaf the
// walk reads yields about one chat, and a page of 50 reads 50 leaves. So
// a large half also keeps a tree of its own for each rare cell (see
// keepsCellTree); a filter whose cells are rare together walks those.
// Only the few chats in rare cells pay for the second tree when they move.
type cellSet struct {
	gen    uint64
	halves [2]listTree         // by half (active, closed)
	cells  [numCells]*listTree // the rare cells' own trees; nil for the others
}

// Rare-cell trees are kept for a cell holding under 1/rareCellShare of its
// half, in a half of at least cellTreeMinHalf chats, and dropped when the
// cell holds over twice that share, or the half falls under half that
// size: the gap keeps a cell near a limit from building and dropping its
// tree over and over.
const (
	rareCellShare   = 16
	cellTreeMinHalf = 512
)

// keepsCellTree decides whether a cell holding count of its half's
// total chats should have its own tree, given whether it has one now.
func keepsCellTree(count, total int32, has bool) bool {
	if count == 0 {
		return false
	}
	if has {
		return total >= cellTreeMinHalf/2 && count*rareCellShare/2 <= total
	}
	return total >= cellTreeMinHalf && count*rareCellShare < total
}

// Cells of active chats come first: status is the most significant part of
// the cell index.
const (
	numActiveCells = numCells / 2
	activeMask     = cellMask(1)<<numActiveCells - 1
)

// half is the tree a cell belongs to: 0 for active, 1 for closed.
func half(cell int) int { return cell / numActiveCells }

// clone returns a copy for generation gen; its trees share every node
// with cs's and clone each before changing it.
func (cs *cellSet) clone(gen uint64) *cellSet {
	n := *cs
	n.gen = gen
	for h := range n.halves {
		n.halves[h].gen = gen
	}
	return &n
}

// ownCell returns cell's tree for mutation (it must exist), copying its
// header first if a snapshot shares it.
func (cs *cellSet) ownCell(cell int) *listTree {
	t := cs.cells[cell]
	if t.gen != cs.gen {
		cp := *t
		cp.gen = cs.gen
		t = &cp
		cs.cells[cell] = t
	}
	return t
}

func (cs *cellSet) insert(cell int, k listKey) {
	cs.halves[half(cell)].insert(k, uint8(cell))
	if cs.cells[cell] != nil {
		cs.ownCell(cell).insert(k, uint8(cell))
	}
}

func (cs *cellSet) remove(cell int, k listKey) {
	ok := cs.halves[half(cell)].delete(k, uint8(cell))
	if ok && cs.cells[cell] != nil {
		ok = cs.ownCell(cell).delete(k, uint8(cell))
	}
	if !ok {
		panic("fsm: list index lost a chat")
	}
}

// reviewCell builds or drops cell's own tree as keepsCellTree decides
// from the set's counters row.
func (cs *cellSet) reviewCell(cell int, row *comboRow) {
	count := cellCount(row, cell)
	total := row[mustCombo(Status(half(cell)+1), ContactTypeAny, SourceAny, UnreadAny)]
	has := cs.cells[cell] != nil
	switch keep := keepsCellTree(count, total, has); {
	case keep && !has:
		// Walk the half for the cell (newest first) and append oldest
		// first, so that the new tree's leaves fill up.
		keys := make([]listKey, 0, count)
		var it listIter
		it.seek(&cs.halves[half(cell)], 1<<cell, nil)
		for k, ok := it.prev(); ok; k, ok = it.prev() {
			keys = append(keys, k)
		}
		t := &listTree{gen: cs.gen}
		for _, k := range slices.Backward(keys) {
			t.insert(k, uint8(cell))
		}
		cs.cells[cell] = t
	case !keep && has:
		cs.cells[cell] = nil
	}
}

// Counters: every filter a count can ask for is a combination of an exact
// status and, for contact type, source and unread, either one value or
// "any". That is 2x3x5x3 = 90 combinations, and a chat falls in 8 of them
// (each of its three values or "any"). A comboRow keeps all 90 for one
// partition, so that any count is one load, whatever the filter.
const numCombos = 2 * 3 * 5 * 3

type comboRow [numCombos]int32

// comboIndex returns the counter of (status, contact type, source, unread
// filter); zero values of the last three mean "any". ok is false for values
// outside their ranges (which match no chat).
func comboIndex(s Status, ct ContactType, src Source, u UnreadFilter) (i int, ok bool) {
	if s < StatusActive || s > StatusClosed || ct > ContactTypeVisitor || src > SourceExternalPage || u > UnreadFalse {
		return 0, false
	}
	return ((int(s-1)*3+int(ct))*5+int(src))*3 + int(u), true
}

// mustCombo is comboIndex for values known to be in range.
func mustCombo(s Status, ct ContactType, src Source, u UnreadFilter) int {
	i, ok := comboIndex(s, ct, src, u)
	if !ok {
		panic("fsm: combination out of range")
	}
	return i
}

// add counts a chat of cell (s, ct, src, unread) delta times in each of
// the 8 combinations it falls in.
func (r *comboRow) add(s Status, ct ContactType, src Source, unread bool, delta int32) {
	u := UnreadFalse
	if unread {
		u = UnreadTrue
	}
	for _, c := range [2]ContactType{ContactTypeAny, ct} {
		for _, so := range [2]Source{SourceAny, src} {
			base, _ := comboIndex(s, c, so, UnreadAny)
			r[base] += delta
			r[base+int(u)] += delta
		}
	}
}

// chatChunk is a fixed-size block of the chat table, indexed by id.
type chatChunk struct {
	gen   uint64
	chats [chatChunkSize]*Chat
}

// operator is an operator's record and their per-operator state.
type operator struct {
	gen uint64
	rec *Operator
	ord int32 // assignee ordinal of rec.ID
	// inbox holds the newest Config.InboxSize notifications, oldest first.
	inbox    []*Notification
	readUpTo int64 // every notification with id <= readUpTo is read
	unread   int32 // notifications in inbox with id > readUpTo
	// joined holds the ids of the chats this operator participates in.
	joined *btree.BTreeG[int64]
}

func (o *operator) clone(gen uint64) *operator {
	n := *o
	n.gen = gen
	if o.joined != nil {
		n.joined = o.joined.Copy()
	}
	return &n
}

func int64Less(a, b int64) bool { return a < b }

// eventRec is the compact stored form of an Event; Seq is implied by
// position.
type eventRec struct {
	// typeAt packs the write's time and the event type (time<<8 | type):
	// the window holds millions of events, and this keeps one at 40 bytes.
	typeAt int64
	chat   *Chat
	before *Chat
	// ref is the event's other record: *Message for message.created,
	// *Operator for operator.upserted, *Notification for
	// notification.created, and the removed id (string) for
	// operator.removed. One interface keeps the window compact.
	ref any
}

func newEventRec(typ EventType, at Millis, chat, before *Chat, ref any) eventRec {
	return eventRec{typeAt: int64(at)<<8 | int64(typ), chat: chat, before: before, ref: ref}
}

func (e *eventRec) typ() EventType { return EventType(e.typeAt & 0xff) }
func (e *eventRec) at() Millis     { return Millis(e.typeAt >> 8) }

// idemEntry is a remembered outcome.
type idemEntry struct {
	key         string
	fingerprint []byte
	at          Millis
	result      Result
}

// account is one tenant's whole state.
type account struct {
	gen uint64
	rec *Account

	// ops are the current operators, sorted by id.
	ops []*operator
	// ords gives every assignee id ever seen its ordinal; ordinal 0 is
	// unassigned (""). Ordinals index assignees and are never reused, so
	// closed chats of a removed operator keep their place.
	ords     map[string]int32
	ordsGen  uint64
	ordNames []string
	// opByOrd is the current operator of each ordinal, nil for removed
	// operators and for assignees that never were one: a write finds its
	// operator with one map lookup, where a search of ops compares ids
	// behind three pointers per step. Copied with the account.
	opByOrd []*operator
	// all partitions every chat by cell; assignees[ord] only that
	// assignee's chats.
	all       *cellSet
	assignees []*cellSet
	// counts are the counters of all (row 0) and of every assignee (row
	// ord+1), contiguous so that Counts reads one value per operator
	// without a pointer hop. Copied on the first write of a generation.
	counts    []comboRow
	countsGen uint64

	chats    []*chatChunk // chat id n is chats[(n-1)/chatChunkSize]
	numChats int64

	nextNotification int64 // last notification id handed out

	// Event window: chunks of eventChunkSize events aligned on seq, so
	// that chunk boundaries depend only on seq numbers.
	eventChunks [][]eventRec
	firstSeq    int64 // seq of eventChunks[0][0]
	lastSeq     int64

	idem      *btree.Map[string, *idemEntry]
	idemOrder []*idemEntry // oldest first

	keys *btree.Map[string, [32]byte] // key id -> hash

	// texts is the block that short message texts are packed into (see
	// keepText).
	texts []byte

	// indexLater is set while a restore adds the account's chats: they go
	// into the chat table and counters only, and buildIndexes files them
	// all at once.
	indexLater bool
}

// Texts up to textInlineMax bytes are packed into blocks of textBlockSize.
const (
	textBlockSize = 4 << 10
	textInlineMax = 512
)

// keepText returns a copy of s that lives in the account's text block.
//
// Why: a message text is the one allocation every message makes, and the
// allocator rounds it up to its size class (about 8% for typical 60-140
// byte texts). Texts are never freed (chats are never deleted), so packing
// them costs nothing in retention. The block is append-only: bytes once
// written never change, which is what unsafe.String requires, and a
// snapshot's frozen copy of the account never sees the bytes appended
// after it.
func (a *account) keepText(s string) string {
	if len(s) == 0 || len(s) > textInlineMax {
		return s
	}
	if cap(a.texts)-len(a.texts) < len(s) {
		a.texts = make([]byte, 0, textBlockSize)
	}
	off := len(a.texts)
	a.texts = append(a.texts, s...)
	return unsafe.String(&a.texts[off], len(s))
}

func newAccount(rec *Account, gen uint64) *account {
	a := &account{
		gen:       gen,
		rec:       rec,
		ords:      map[string]int32{"": 0},
		ordsGen:   gen,
		ordNames:  []string{""},
		opByOrd:   []*operator{nil},
		all:       &cellSet{gen: gen},
		assignees: []*cellSet{{gen: gen}},
		counts:    make([]comboRow, 2),
		countsGen: gen,
		firstSeq:  1,
		idem:      btree.NewMap[string, *idemEntry](0),
		keys:      btree.NewMap[string, [32]byte](0),
	}
	return a
}

func (a *account) clone(gen uint64) *account {
	n := *a
	n.gen = gen
	n.ops = append([]*operator(nil), a.ops...)
	n.opByOrd = append([]*operator(nil), a.opByOrd...)
	n.assignees = append([]*cellSet(nil), a.assignees...)
	n.chats = append([]*chatChunk(nil), a.chats...)
	n.eventChunks = append([][]eventRec(nil), a.eventChunks...)
	n.idem = a.idem.Copy()
	n.keys = a.keys.Copy()
	return &n
}

// chat returns the current version of chat id, or nil.
func (a *account) chat(id int64) *Chat {
	if id < 1 || id > a.numChats {
		return nil
	}
	return a.chats[(id-1)/chatChunkSize].chats[(id-1)%chatChunkSize]
}

// findOp returns the index of operator id in a.ops and whether it exists.
func (a *account) findOp(id string) (int, bool) {
	lo, hi := 0, len(a.ops)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.ops[m].rec.ID < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(a.ops) && a.ops[lo].rec.ID == id
}

func (a *account) op(id string) *operator {
	if ord, ok := a.ords[id]; ok {
		return a.opByOrd[ord]
	}
	return nil
}

// ownOp returns operator id for mutation, cloning it if shared. It must
// exist.
func (a *account) ownOp(id string) *operator {
	o := a.op(id)
	if o.gen != a.gen {
		o = o.clone(a.gen)
		i, _ := a.findOp(id)
		a.ops[i] = o
		a.opByOrd[o.ord] = o
	}
	return o
}

// addOp makes o (new, with its ordinal) a current operator.
func (a *account) addOp(o *operator) {
	i, _ := a.findOp(o.rec.ID)
	a.ops = slices.Insert(a.ops, i, o)
	a.opByOrd[o.ord] = o
}

// ordinal returns the assignee ordinal of id, assigning a new one if needed.
func (a *account) ordinal(id string) int32 {
	if ord, ok := a.ords[id]; ok {
		return ord
	}
	if a.ordsGen != a.gen {
		a.ords = maps.Clone(a.ords)
		a.ordNames = append([]string(nil), a.ordNames...)
		a.ordsGen = a.gen
	}
	ord := int32(len(a.ordNames))
	a.ords[id] = ord
	a.ordNames = append(a.ordNames, id)
	a.opByOrd = append(a.opByOrd, nil)
	a.assignees = append(a.assignees, &cellSet{gen: a.gen})
	a.ownCounts()
	a.counts = append(a.counts, comboRow{})
	return ord
}

// ownCounts returns the counters for mutation, copying them first if a
// snapshot shares them.
func (a *account) ownCounts() []comboRow {
	if a.countsGen != a.gen {
		a.counts = slices.Clone(a.counts)
		a.countsGen = a.gen
	}
	return a.counts
}

func (a *account) ownAll() *cellSet {
	if a.all.gen != a.gen {
		a.all = a.all.clone(a.gen)
	}
	return a.all
}

func (a *account) ownAssignee(ord int32) *cellSet {
	cs := a.assignees[ord]
	if cs.gen != a.gen {
		cs = cs.clone(a.gen)
		a.assignees[ord] = cs
	}
	return cs
}

// putChat makes c the current version of its chat (old is the previous
// version, nil for a new chat) and moves it in the list indexes and
// counters.
func (a *account) putChat(old, c *Chat) {
	slot := (c.ID - 1) / chatChunkSize
	if old == nil {
		if c.ID != a.numChats+1 {
			panic("fsm: chat ids must be dense")
		}
		if int(slot) == len(a.chats) {
			a.chats = append(a.chats, &chatChunk{gen: a.gen})
		}
		a.numChats = c.ID
	}
	chunk := a.chats[slot]
	if chunk.gen != a.gen {
		cp := *chunk
		cp.gen = a.gen
		chunk = &cp
		a.chats[slot] = chunk
	}
	chunk.chats[(c.ID-1)%chatChunkSize] = c

	newKey, newCell := keyOf(c), cellOf(c)
	newOrd := a.ordinal(c.Assignee)
	oldCell, oldOrd := -1, int32(-1)
	if old != nil {
		var oldKey listKey
		oldKey, oldCell, oldOrd = keyOf(old), cellOf(old), newOrd
		if old.Assignee != c.Assignee {
			oldOrd = a.ords[old.Assignee]
		}
		if oldKey == newKey && oldCell == newCell && oldOrd == newOrd {
			return
		}
		a.ownAll().remove(oldCell, oldKey)
		a.ownAssignee(oldOrd).remove(oldCell, oldKey)
		if oldCell != newCell || oldOrd != newOrd {
			counts := a.ownCounts()
			counts[0].add(old.Status, old.Contact.Type, old.Source, old.Unread, -1)
			counts[oldOrd+1].add(old.Status, old.Contact.Type, old.Source, old.Unread, -1)
			counts[0].add(c.Status, c.Contact.Type, c.Source, c.Unread, 1)
			counts[newOrd+1].add(c.Status, c.Contact.Type, c.Source, c.Unread, 1)
		}
	} else {
		counts := a.ownCounts()
		counts[0].add(c.Status, c.Contact.Type, c.Source, c.Unread, 1)
		counts[newOrd+1].add(c.Status, c.Contact.Type, c.Source, c.Unread, 1)
	}
	if a.indexLater {
		return
	}
	all, mine := a.ownAll(), a.ownAssignee(newOrd)
	all.insert(newCell, newKey)
	mine.insert(newCell, newKey)
	// A chat that changed cell or assignee changed the counts of its old
	// and new cells, in the sets it left and joined (the all-chats set's
	// only if the cell changed): their own trees may be due or done. A new
	// chat has no old cell (-1).
	if oldCell != newCell {
		if oldCell >= 0 {
			all.reviewCell(oldCell, &a.counts[0])
		}
		all.reviewCell(newCell, &a.counts[0])
	}
	if oldCell != newCell || oldOrd != newOrd {
		if oldCell >= 0 {
			a.ownAssignee(oldOrd).reviewCell(oldCell, &a.counts[oldOrd+1])
		}
		mine.reviewCell(newCell, &a.counts[newOrd+1])
	}
}

// buildIndexes files every chat of an account restored with indexLater
// in the list indexes. Each tree gets its keys sorted, so that every
// insert appends and every leaf fills: filing chats in id order puts
// their keys at random places, splits leaves in halves and leaves them
// about two thirds full, in fresh memory that a restore of a large state
// pays to fault in.
func (a *account) buildIndexes() {
	a.indexLater = false
	type filed struct {
		k    listKey
		cell uint8
	}
	// byTree[2*set+h]: set 0 is all chats, set ord+1 the assignee ord.
	byTree := make([][]filed, 2*(len(a.assignees)+1))
	for id := int64(1); id <= a.numChats; id++ {
		c := a.chat(id)
		cell := cellOf(c)
		f := filed{keyOf(c), uint8(cell)}
		h := half(cell)
		byTree[h] = append(byTree[h], f)
		set := 1 + int(a.ords[c.Assignee])
		byTree[2*set+h] = append(byTree[2*set+h], f)
	}
	for i, keys := range byTree {
		if len(keys) == 0 {
			continue
		}
		slices.SortFunc(keys, func(x, y filed) int {
			if listLess(x.k, y.k) {
				return -1
			}
			return 1 // keys are unique
		})
		cs := a.ownAll()
		if set := i / 2; set > 0 {
			cs = a.ownAssignee(int32(set - 1))
		}
		t := &cs.halves[i%2]
		for _, f := range keys {
			t.insert(f.k, f.cell)
		}
		byTree[i] = nil
	}
	for set := range len(a.assignees) + 1 {
		cs, row := a.ownAll(), &a.counts[0]
		if set > 0 {
			cs, row = a.ownAssignee(int32(set-1)), &a.counts[set]
		}
		for cell := range numCells {
			cs.reviewCell(cell, row)
		}
	}
}

// appendEvent adds e at the end of the window and drops the oldest chunk
// once the window holds a whole chunk more than it must keep.
func (a *account) appendEvent(e eventRec, window int) int64 {
	a.lastSeq++
	n := len(a.eventChunks)
	if n == 0 || len(a.eventChunks[n-1]) == eventChunkSize {
		a.eventChunks = append(a.eventChunks, make([]eventRec, 0, 16))
		n++
	}
	a.eventChunks[n-1] = append(a.eventChunks[n-1], e)
	for a.lastSeq-a.firstSeq+1 >= int64(window)+eventChunkSize && len(a.eventChunks) > 1 {
		a.eventChunks[0] = nil
		a.eventChunks = a.eventChunks[1:]
		a.firstSeq += eventChunkSize
	}
	return a.lastSeq
}

// event returns the stored event with sequence number seq, which must be
// within [firstSeq, lastSeq].
func (a *account) event(seq int64) *eventRec {
	off := seq - a.firstSeq
	return &a.eventChunks[off/eventChunkSize][off%eventChunkSize]
}
