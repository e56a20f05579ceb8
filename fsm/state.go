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

// cellSet is one list index partition: a B-tree per cell. Each account has
// one for all chats and one per assignee (ordinal 0 is "unassigned"); their
// counters live in account.counts.
//
// A set with at least wideIndexMin active chats also keeps all of them in
// one tree, wide[0], keyed by wideKey: a filter that selects most active
// chats across many cells (status=active alone merges 16 trees) walks that
// one tree and skips the few keys of other cells, instead of seeking and
// merging every cell tree. Closed chats get the same, wide[1]: closed chats
// are never unread, so a wide closed filter merges at most 8 trees, and at
// 1,000,000 chats those merges were the slowest lists (closed, with or
// without an operator: p99 16-53 µs). The memory this costs (about 30
// bytes a chat for each of the all-chats and assignee sets) was made room
// for by shrinking chat versions (see Chat.participants).
type cellSet struct {
	gen   uint64
	trees [numCells]*btree.BTreeG[listKey]
	wide  [2]*btree.BTreeG[listKey] // by half (active, closed); nil until kept
}

// wideIndexMin is the number of active (or closed) chats from which a cell
// set keeps its wide tree for them. Below it, the cell trees are one or two
// nodes each and merging them costs about what one walk would.
const wideIndexMin = 128

// Cells of active chats come first: status is the most significant part of
// the cell index.
const (
	numActiveCells = numCells / 2
	activeMask     = cellMask(1)<<numActiveCells - 1
	cellBits       = 5 // numCells == 1<<cellBits
)

// half is the wide tree a cell belongs to: 0 for active, 1 for closed.
func half(cell int) int { return cell / numActiveCells }

// wideKey is k in a wide tree: the chat's cell in the low bits of the id,
// so that a walk can filter by cell without looking at the chat. The order
// is that of k (ids are unique).
func wideKey(k listKey, cell int) listKey {
	return listKey{k.at, k.id<<cellBits | int64(cell)}
}

// splitWideKey undoes wideKey.
func splitWideKey(k listKey) (listKey, int) {
	return listKey{k.at, k.id >> cellBits}, int(k.id & (numCells - 1))
}

func (cs *cellSet) clone(gen uint64) *cellSet {
	n := &cellSet{gen: gen}
	for i, t := range cs.trees {
		if t != nil {
			n.trees[i] = t.Copy()
		}
	}
	for i, t := range cs.wide {
		if t != nil {
			n.wide[i] = t.Copy()
		}
	}
	return n
}

func (cs *cellSet) insert(cell int, k listKey) {
	t := cs.trees[cell]
	if t == nil {
		t = btree.NewBTreeGOptions(listLess, treeOptions)
		cs.trees[cell] = t
	}
	// Load appends when k sorts after the last key and falls back to Set
	// otherwise.
	t.Load(k)
	if w := cs.wide[half(cell)]; w != nil {
		w.Load(wideKey(k, cell))
	}
}

func (cs *cellSet) remove(cell int, k listKey) {
	cs.trees[cell].Delete(k)
	if w := cs.wide[half(cell)]; w != nil {
		w.Delete(wideKey(k, cell))
	}
}

// indexWide builds wide tree h from the cell trees of that half.
func (cs *cellSet) indexWide(h int) {
	var keys []listKey
	for cell := h * numActiveCells; cell < (h+1)*numActiveCells; cell++ {
		if t := cs.trees[cell]; t != nil {
			t.Scan(func(k listKey) bool {
				keys = append(keys, wideKey(k, cell))
				return true
			})
		}
	}
	slices.SortFunc(keys, func(x, y listKey) int {
		if listLess(x, y) {
			return -1
		}
		return 1 // keys are unique
	})
	t := btree.NewBTreeGOptions(listLess, treeOptions)
	for _, k := range keys {
		t.Load(k)
	}
	cs.wide[h] = t
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
	if i, ok := a.findOp(id); ok {
		return a.ops[i]
	}
	return nil
}

// ownOp returns operator id for mutation, cloning it if shared. It must
// exist.
func (a *account) ownOp(id string) *operator {
	i, _ := a.findOp(id)
	o := a.ops[i]
	if o.gen != a.gen {
		o = o.clone(a.gen)
		a.ops[i] = o
	}
	return o
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
	if old != nil {
		oldKey, oldCell := keyOf(old), cellOf(old)
		oldOrd := newOrd
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
	all, mine := a.ownAll(), a.ownAssignee(newOrd)
	all.insert(newCell, newKey)
	mine.insert(newCell, newKey)
	if c.Status == StatusActive {
		if all.wide[0] == nil && a.counts[0].chats(StatusActive) >= wideIndexMin {
			all.indexWide(0)
		}
		if mine.wide[0] == nil && a.counts[newOrd+1].chats(StatusActive) >= wideIndexMin {
			mine.indexWide(0)
		}
	} else {
		if all.wide[1] == nil && a.counts[0].chats(StatusClosed) >= wideIndexMin {
			all.indexWide(1)
		}
		if mine.wide[1] == nil && a.counts[newOrd+1].chats(StatusClosed) >= wideIndexMin {
			mine.indexWide(1)
		}
	}
}

// chats is the number of chats of status s the row counts.
func (r *comboRow) chats(s Status) int32 {
	i, _ := comboIndex(s, ContactTypeAny, SourceAny, UnreadAny)
	return r[i]
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
