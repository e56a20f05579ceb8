package fsm

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/tidwall/btree"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Snapshot format, version 1: a header, then typed records, all
// MessagePack, in an order that depends only on the state:
//
//	header:  "chatstate-fsm" 1 <applied index> <accounts> <nodes>
//	node:    recNode id raft http                    (id order)
//	per account, in id order:
//	  recAccount  the account and its counters
//	  recOperator each operator and its inbox          (id order)
//	  recChat     each chat with its transcript        (id order)
//	  recEvent    each retained event                  (seq order)
//	  recIdem     each remembered outcome              (oldest first)
//	  recKey      each account key                     (id order)
//	recEnd
//
// Fields are written without names, in a fixed order per record type; a
// new field means a new format version. Chat versions held by events and
// remembered outcomes are written once per (chat id, rev), as the fields
// that can differ from the chat's current version, and by reference after
// that; their transcript is a prefix of the current one.
const (
	snapshotMagic   = "chatstate-fsm"
	snapshotVersion = 1
)

const (
	recEnd uint8 = iota
	recNode
	recAccount
	recOperator
	recChat
	recEvent
	recIdem
	recKey
)

// The kinds of an event's extra record.
const (
	refNone uint8 = iota
	refMessage
	refOperator
	refNotification
	refRemoved
)

// ErrBadSnapshot is returned (wrapped) by Restore for bytes that are not a
// snapshot of this format.
var ErrBadSnapshot = errors.New("fsm: bad snapshot")

// Snapshot captures the current state in O(1): it keeps lazy copies of the
// top-level trees and moves the live state to a new generation, so that
// Apply clones whatever it touches next instead of changing what the
// snapshot sees.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	frozen := f.st.freeze()
	f.mu.Unlock()
	return &snapshot{st: frozen}, nil
}

// snapshot is a frozen state; Persist may run concurrently with Apply.
type snapshot struct {
	st *state
}

// Persist writes the snapshot to sink and closes it, or cancels it on
// error.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release does nothing: the frozen state is garbage once unreferenced.
func (s *snapshot) Release() {}

// write writes the snapshot's bytes to w.
func (s *snapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<18)
	enc := msgpack.NewEncoder(bw)
	sw := &snapWriter{e: enc}
	st := s.st
	sw.arr(5)
	sw.str(snapshotMagic)
	sw.uint(snapshotVersion)
	sw.uint(st.index)
	sw.uint(uint64(st.accounts.Len()))
	sw.uint(uint64(st.nodes.Len()))
	st.nodes.Scan(func(_ string, n NodeAddr) bool {
		sw.tag(recNode)
		sw.str(n.ID)
		sw.str(n.Raft)
		sw.str(n.HTTP)
		return sw.err == nil
	})
	st.accounts.Scan(func(_ string, a *account) bool {
		sw.account(a)
		return sw.err == nil
	})
	sw.tag(recEnd)
	if sw.err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", sw.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", err)
	}
	return nil
}

// snapWriter encodes records, keeping the first error.
type snapWriter struct {
	e   *msgpack.Encoder
	err error
	// seen holds the chat versions of the current account already written.
	seen map[versionKey]bool
}

type versionKey struct {
	id, rev int64
}

func (w *snapWriter) tag(t uint8) { w.uint(uint64(t)) }

func (w *snapWriter) uint(v uint64) {
	if w.err == nil {
		w.err = w.e.EncodeUint(v)
	}
}

func (w *snapWriter) int(v int64) {
	if w.err == nil {
		w.err = w.e.EncodeInt(v)
	}
}

func (w *snapWriter) str(s string) {
	if w.err == nil {
		w.err = w.e.EncodeString(s)
	}
}

func (w *snapWriter) optStr(p *string) {
	if p == nil {
		if w.err == nil {
			w.err = w.e.EncodeNil()
		}
		return
	}
	w.str(*p)
}

func (w *snapWriter) bool(b bool) {
	if w.err == nil {
		w.err = w.e.EncodeBool(b)
	}
}

func (w *snapWriter) bytes(b []byte) {
	if w.err == nil {
		w.err = w.e.EncodeBytes(b)
	}
}

func (w *snapWriter) arr(n int) {
	if w.err == nil {
		w.err = w.e.EncodeArrayLen(n)
	}
}

func (w *snapWriter) strs(list []string) {
	w.arr(len(list))
	for _, s := range list {
		w.str(s)
	}
}

func (w *snapWriter) account(a *account) {
	w.seen = make(map[versionKey]bool)
	w.tag(recAccount)
	w.str(a.rec.ID)
	w.str(a.rec.Name)
	w.int(int64(a.rec.CreatedAt))
	w.int(a.numChats)
	w.int(a.nextNotification)
	w.int(a.firstSeq)
	w.int(a.lastSeq)
	w.strs(a.ordNames)
	w.uint(uint64(len(a.ops)))
	w.uint(uint64(len(a.idemOrder)))
	w.uint(uint64(a.keys.Len()))

	for _, o := range a.ops {
		w.tag(recOperator)
		w.operator(o.rec)
		w.int(o.readUpTo)
		w.arr(len(o.inbox))
		for _, n := range o.inbox {
			w.int(n.ID)
			w.uint(uint64(n.Type))
			w.int(n.ChatID)
			w.str(n.Operator)
			w.int(int64(n.At))
		}
	}
	for id := int64(1); id <= a.numChats && w.err == nil; id++ {
		w.chat(a.chat(id))
	}
	for seq := a.firstSeq; seq <= a.lastSeq && w.err == nil; seq++ {
		w.event(a, a.event(seq))
	}
	for _, e := range a.idemOrder {
		w.tag(recIdem)
		w.str(e.key)
		w.bytes(e.fingerprint)
		w.int(int64(e.at))
		w.result(a, &e.result)
	}
	a.keys.Scan(func(id string, hash [32]byte) bool {
		w.tag(recKey)
		w.str(id)
		w.bytes(hash[:])
		return w.err == nil
	})
}

func (w *snapWriter) operator(o *Operator) {
	w.str(o.ID)
	w.str(o.Name)
	w.optStr(o.Email)
	w.int(int64(o.CreatedAt))
}

func (w *snapWriter) chat(c *Chat) {
	w.tag(recChat)
	w.int(c.ID)
	w.int(c.rev)
	w.uint(uint64(c.Source))
	w.uint(uint64(c.Contact.Type))
	w.optStr(c.Contact.ID)
	w.optStr(c.Contact.Name)
	w.optStr(c.Contact.Email)
	w.int(int64(c.CreatedAt))
	w.versionFields(c)
	for i := range c.transcript {
		m := &c.transcript[i]
		w.uint(uint64(m.AuthorType))
		w.str(m.AuthorID)
		w.str(m.Text)
		w.uint(uint64(m.Event))
		w.str(m.Operator)
		w.int(int64(m.At))
	}
}

// versionFields writes the fields that differ between versions of a chat;
// the transcript length comes last.
func (w *snapWriter) versionFields(c *Chat) {
	w.uint(uint64(c.Status))
	w.bool(c.Unread)
	w.str(c.Assignee)
	w.strs(c.Participants)
	w.int(int64(c.LastActivityAt))
	w.int(int64(c.WaitingSince))
	w.int(int64(c.FirstReplyAt))
	w.int(int64(c.ClosedAt))
	w.str(c.ClosedBy)
	w.int(int64(c.MessageCount))
	if c.LastMessage != nil {
		w.int(c.LastMessage.Seq)
	} else {
		w.int(0)
	}
	w.int(int64(len(c.transcript)))
}

// chatRef writes a reference to a chat version: nil, or id and rev, then
// the version's fields the first time it is neither current nor written.
func (w *snapWriter) chatRef(a *account, c *Chat) {
	if c == nil {
		if w.err == nil {
			w.err = w.e.EncodeNil()
		}
		return
	}
	w.int(c.ID)
	w.int(c.rev)
	k := versionKey{c.ID, c.rev}
	if c.rev == a.chat(c.ID).rev || w.seen[k] {
		w.bool(false)
		return
	}
	w.seen[k] = true
	w.bool(true)
	w.versionFields(c)
}

func (w *snapWriter) event(a *account, e *eventRec) {
	w.tag(recEvent)
	w.uint(uint64(e.typ))
	w.int(int64(e.at))
	w.chatRef(a, e.chat)
	w.chatRef(a, e.before)
	switch r := e.ref.(type) {
	case *Message:
		w.tag(refMessage)
		w.int(r.Seq)
	case *Operator:
		w.tag(refOperator)
		w.operator(r)
	case *Notification:
		w.tag(refNotification)
		w.int(r.ID)
		w.uint(uint64(r.Type))
		w.str(r.Recipient)
		w.int(r.ChatID)
		w.str(r.Operator)
		w.int(int64(r.At))
	case string:
		w.tag(refRemoved)
		w.str(r)
	default:
		w.tag(refNone)
	}
}

func (w *snapWriter) result(a *account, r *Result) {
	if r.Err != nil {
		w.arr(3)
		w.str(string(r.Err.Code))
		w.str(r.Err.Field)
		w.str(r.Err.Message)
	} else if w.err == nil {
		w.err = w.e.EncodeNil()
	}
	w.bool(r.Created)
	w.uint(r.Index)
	if r.Account != nil {
		w.arr(3)
		w.str(r.Account.ID)
		w.str(r.Account.Name)
		w.int(int64(r.Account.CreatedAt))
	} else if w.err == nil {
		w.err = w.e.EncodeNil()
	}
	if r.Operator != nil {
		w.bool(true)
		w.operator(r.Operator)
	} else {
		w.bool(false)
	}
	w.chatRef(a, r.Chat)
	if r.Message != nil {
		w.int(r.Message.Seq)
	} else {
		w.int(0)
	}
	w.int(int64(r.UnreadCount))
	w.str(r.KeyID)
}

// Restore replaces the whole state with a snapshot written by Persist. The
// new state is built aside and swapped in under the write lock; on error
// the state is unchanged.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := f.readSnapshot(rc)
	if err != nil {
		return err
	}
	// The new state's containers are all of generation 0 and shared with
	// no snapshot, so the state starts at generation 0 too.
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
	f.advance(st.index)
	return nil
}

func (f *FSM) readSnapshot(r io.Reader) (st *state, err error) {
	dec := msgpack.NewDecoder(bufio.NewReaderSize(r, 1<<18))
	sr := &snapReader{d: dec, cfg: &f.cfg}
	defer func() {
		// Malformed input must be an error, whatever it trips over.
		if p := recover(); p != nil {
			st, err = nil, fmt.Errorf("%w: %v", ErrBadSnapshot, p)
		}
	}()
	st = newState()
	if n := sr.arr(); n != 5 || sr.str() != snapshotMagic {
		return nil, fmt.Errorf("%w: not a chatstate snapshot", ErrBadSnapshot)
	}
	if v := sr.uint(); v != snapshotVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", ErrBadSnapshot, v, snapshotVersion)
	}
	st.index = sr.uint()
	numAccounts := sr.uint()
	numNodes := sr.uint()
	if sr.err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadSnapshot, sr.err)
	}
	var acc *accountReader
	finish := func() error {
		if acc == nil {
			return nil
		}
		if err := acc.finish(st); err != nil {
			return err
		}
		acc = nil
		return nil
	}
	for {
		tag := uint8(sr.uint())
		if sr.err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, sr.err)
		}
		switch tag {
		case recEnd:
			if err := finish(); err != nil {
				return nil, err
			}
			if uint64(st.accounts.Len()) != numAccounts || uint64(st.nodes.Len()) != numNodes {
				return nil, fmt.Errorf("%w: %d accounts and %d nodes, header says %d and %d",
					ErrBadSnapshot, st.accounts.Len(), st.nodes.Len(), numAccounts, numNodes)
			}
			return st, nil
		case recNode:
			n := NodeAddr{ID: sr.str(), Raft: sr.str(), HTTP: sr.str()}
			st.nodes.Set(n.ID, n)
		case recAccount:
			if err := finish(); err != nil {
				return nil, err
			}
			acc = sr.account()
		default:
			if acc == nil {
				return nil, fmt.Errorf("%w: record %d outside an account", ErrBadSnapshot, tag)
			}
			if err := acc.record(tag); err != nil {
				return nil, err
			}
		}
		if sr.err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrBadSnapshot, tag, sr.err)
		}
	}
}

// snapReader decodes records, keeping the first error.
type snapReader struct {
	d   *msgpack.Decoder
	err error
	cfg *Config
	// intern shares the strings that repeat within an account (operator
	// ids) instead of allocating each occurrence.
	intern map[string]string
}

func (r *snapReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, err := r.d.DecodeUint64()
	r.err = err
	return v
}

func (r *snapReader) int() int64 {
	if r.err != nil {
		return 0
	}
	v, err := r.d.DecodeInt64()
	r.err = err
	return v
}

func (r *snapReader) str() string {
	if r.err != nil {
		return ""
	}
	v, err := r.d.DecodeString()
	r.err = err
	return v
}

// id reads a short repeated string, interned.
func (r *snapReader) id() string {
	s := r.str()
	if s == "" {
		return ""
	}
	if v, ok := r.intern[s]; ok {
		return v
	}
	r.intern[s] = s
	return s
}

func (r *snapReader) isNil() bool {
	if r.err != nil {
		return false
	}
	c, err := r.d.PeekCode()
	if err != nil {
		r.err = err
		return false
	}
	if c == msgpcode.Nil {
		r.err = r.d.DecodeNil()
		return true
	}
	return false
}

func (r *snapReader) optStr() *string {
	if r.isNil() {
		return nil
	}
	s := r.str()
	return &s
}

func (r *snapReader) bool() bool {
	if r.err != nil {
		return false
	}
	v, err := r.d.DecodeBool()
	r.err = err
	return v
}

func (r *snapReader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	v, err := r.d.DecodeBytes()
	r.err = err
	return v
}

func (r *snapReader) arr() int {
	if r.err != nil {
		return 0
	}
	n, err := r.d.DecodeArrayLen()
	r.err = err
	if n < 0 {
		return 0
	}
	return n
}

func (r *snapReader) ids() []string {
	n := r.arr()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, min(n, 1024))
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.id())
	}
	return out
}

func (r *snapReader) operator() *Operator {
	return &Operator{ID: r.id(), Name: r.str(), Email: r.optStr(), CreatedAt: Millis(r.int())}
}

// accountReader rebuilds one account from its records.
type accountReader struct {
	r       *snapReader
	a       *account
	numOps  uint64
	numIdem uint64
	numKeys uint64
	// wantChats and wantLastSeq are the account's counters; the records
	// that follow must add up to them.
	wantChats   int64
	wantLastSeq int64
	versions    map[versionKey]*Chat
	// notifications by id, so that events share the inbox's records.
	notifications map[int64]*Notification
}

func (r *snapReader) account() *accountReader {
	r.intern = make(map[string]string)
	rec := &Account{ID: r.str(), Name: r.str(), CreatedAt: Millis(r.int())}
	a := newAccount(rec, 0)
	ar := &accountReader{r: r, a: a, versions: make(map[versionKey]*Chat), notifications: make(map[int64]*Notification)}
	numChats := r.int()
	a.nextNotification = r.int()
	a.firstSeq = r.int()
	a.lastSeq = r.int()
	names := r.ids()
	ar.numOps, ar.numIdem, ar.numKeys = r.uint(), r.uint(), r.uint()
	if r.err != nil {
		return ar
	}
	if len(names) == 0 || names[0] != "" || numChats < 0 || a.firstSeq < 1 || a.lastSeq < a.firstSeq-1 {
		r.err = fmt.Errorf("account %s: inconsistent counters", rec.ID)
		return ar
	}
	for _, n := range names[1:] {
		a.ordinal(n)
	}
	if len(a.ords) != len(names) {
		r.err = fmt.Errorf("account %s: duplicate assignee", rec.ID)
	}
	a.chats = make([]*chatChunk, 0, (numChats+chatChunkSize-1)/chatChunkSize)
	// Events are appended at lastSeq+1 by restoreEvent.
	ar.wantLastSeq = a.lastSeq
	a.lastSeq = a.firstSeq - 1
	ar.wantChats = numChats
	return ar
}

func (ar *accountReader) record(tag uint8) error {
	r, a := ar.r, ar.a
	switch tag {
	case recOperator:
		o := &operator{rec: ar.r.operator()}
		o.ord = a.ordinal(o.rec.ID)
		o.readUpTo = r.int()
		n := r.arr()
		o.inbox = make([]*Notification, 0, min(n, r.cfg.InboxSize))
		for i := 0; i < n && r.err == nil; i++ {
			nt := &Notification{ID: r.int(), Type: NotificationType(r.uint()), Recipient: o.rec.ID, ChatID: r.int(), Operator: r.id(), At: Millis(r.int())}
			o.inbox = append(o.inbox, nt)
			ar.notifications[nt.ID] = nt
			if nt.ID > o.readUpTo {
				o.unread++
			}
		}
		if len(a.ops) > 0 && a.ops[len(a.ops)-1].rec.ID >= o.rec.ID {
			return fmt.Errorf("%w: operators out of order", ErrBadSnapshot)
		}
		a.ops = append(a.ops, o)
	case recChat:
		c, err := ar.chat()
		if err != nil {
			return err
		}
		if c.ID != a.numChats+1 || c.ID > ar.wantChats {
			return fmt.Errorf("%w: chat %d out of order", ErrBadSnapshot, c.ID)
		}
		a.putChat(nil, c)
		for _, p := range c.Participants {
			o := a.op(p)
			if o == nil {
				return fmt.Errorf("%w: chat %d: participant %s is no operator", ErrBadSnapshot, c.ID, p)
			}
			if o.joined == nil {
				o.joined = btree.NewBTreeGOptions(int64Less, treeOptions)
			}
			o.joined.Set(c.ID)
		}
	case recEvent:
		e := eventRec{typ: EventType(r.uint()), at: Millis(r.int())}
		var err error
		if e.chat, err = ar.chatRef(); err != nil {
			return err
		}
		if e.before, err = ar.chatRef(); err != nil {
			return err
		}
		switch uint8(r.uint()) {
		case refNone:
		case refMessage:
			seq := r.int()
			if e.chat == nil || seq < 1 || seq > int64(len(e.chat.transcript)) {
				return fmt.Errorf("%w: event message %d out of range", ErrBadSnapshot, seq)
			}
			e.ref = &e.chat.transcript[seq-1]
		case refOperator:
			e.ref = r.operator()
		case refNotification:
			n := &Notification{ID: r.int(), Type: NotificationType(r.uint()), Recipient: r.id(), ChatID: r.int(), Operator: r.id(), At: Millis(r.int())}
			if shared, ok := ar.notifications[n.ID]; ok && *shared == *n {
				n = shared
			}
			e.ref = n
		case refRemoved:
			e.ref = r.id()
		default:
			return fmt.Errorf("%w: unknown event record kind", ErrBadSnapshot)
		}
		if a.lastSeq >= ar.wantLastSeq {
			return fmt.Errorf("%w: more events than the account's counter", ErrBadSnapshot)
		}
		a.restoreEvent(e)
	case recIdem:
		e := &idemEntry{key: r.str(), fingerprint: r.bytes(), at: Millis(r.int())}
		if err := ar.result(&e.result); err != nil {
			return err
		}
		a.idem.Set(e.key, e)
		a.idemOrder = append(a.idemOrder, e)
	case recKey:
		id := r.str()
		b := r.bytes()
		if len(b) != 32 {
			return fmt.Errorf("%w: key %s: hash of %d bytes", ErrBadSnapshot, id, len(b))
		}
		a.keys.Set(id, [32]byte(b))
	default:
		return fmt.Errorf("%w: unknown record type %d", ErrBadSnapshot, tag)
	}
	return nil
}

func (ar *accountReader) chat() (*Chat, error) {
	r := ar.r
	c := &Chat{ID: r.int(), rev: r.int(), Source: Source(r.uint())}
	ct := &Contact{Type: ContactType(r.uint()), ID: r.optStr(), Name: r.optStr(), Email: r.optStr()}
	c.Contact = ct
	c.CreatedAt = Millis(r.int())
	lastSeq, n := ar.versionFields(c)
	if r.err != nil {
		return nil, r.err
	}
	if c.Source < SourceEmail || c.Source > SourceExternalPage || ct.Type < ContactTypeContact || ct.Type > ContactTypeVisitor ||
		c.Status < StatusActive || c.Status > StatusClosed || n < 0 || lastSeq < 0 || lastSeq > n {
		return nil, fmt.Errorf("%w: chat %d: field out of range", ErrBadSnapshot, c.ID)
	}
	if n > 0 {
		c.transcript = make([]Message, 0, min(n, 1<<16))
	}
	for i := int64(0); i < n && r.err == nil; i++ {
		c.transcript = append(c.transcript, Message{
			Seq:        i + 1,
			AuthorType: AuthorType(r.uint()),
			AuthorID:   r.id(),
			Text:       r.str(),
			Event:      SystemEvent(r.uint()),
			Operator:   r.id(),
			At:         Millis(r.int()),
		})
	}
	if r.err != nil {
		return nil, r.err
	}
	if lastSeq > 0 {
		c.LastMessage = &c.transcript[lastSeq-1]
	}
	return c, nil
}

// versionFields reads what snapWriter.versionFields wrote into c and
// returns the last message's seq and the transcript length.
func (ar *accountReader) versionFields(c *Chat) (lastSeq, n int64) {
	r := ar.r
	c.Status = Status(r.uint())
	c.Unread = r.bool()
	c.Assignee = r.id()
	c.Participants = r.ids()
	c.LastActivityAt = Millis(r.int())
	c.WaitingSince = Millis(r.int())
	c.FirstReplyAt = Millis(r.int())
	c.ClosedAt = Millis(r.int())
	c.ClosedBy = r.id()
	c.MessageCount = int(r.int())
	lastSeq = r.int()
	n = r.int()
	return lastSeq, n
}

func (ar *accountReader) chatRef() (*Chat, error) {
	r := ar.r
	if r.isNil() {
		return nil, nil
	}
	id, rev := r.int(), r.int()
	full := r.bool()
	if r.err != nil {
		return nil, r.err
	}
	cur := ar.a.chat(id)
	if cur == nil || rev > cur.rev {
		return nil, fmt.Errorf("%w: reference to unknown chat %d version %d", ErrBadSnapshot, id, rev)
	}
	k := versionKey{id, rev}
	if !full {
		if rev == cur.rev {
			return cur, nil
		}
		if v, ok := ar.versions[k]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("%w: reference to unwritten chat %d version %d", ErrBadSnapshot, id, rev)
	}
	v := &Chat{ID: id, rev: rev, Source: cur.Source, Contact: cur.Contact, CreatedAt: cur.CreatedAt}
	lastSeq, n := ar.versionFields(v)
	if r.err != nil {
		return nil, r.err
	}
	if n < 0 || n > int64(len(cur.transcript)) || lastSeq < 0 || lastSeq > n || v.Status < StatusActive || v.Status > StatusClosed {
		return nil, fmt.Errorf("%w: chat %d version %d out of range", ErrBadSnapshot, id, rev)
	}
	v.transcript = cur.transcript[:n:n]
	if lastSeq > 0 {
		v.LastMessage = &cur.transcript[lastSeq-1]
	}
	ar.versions[k] = v
	return v, nil
}

func (ar *accountReader) result(res *Result) error {
	r := ar.r
	if !r.isNil() {
		if r.arr() != 3 {
			return fmt.Errorf("%w: remembered error", ErrBadSnapshot)
		}
		res.Err = &Error{Code: Code(r.str()), Field: r.str(), Message: r.str()}
	}
	res.Created = r.bool()
	res.Index = r.uint()
	if !r.isNil() {
		if r.arr() != 3 {
			return fmt.Errorf("%w: remembered account", ErrBadSnapshot)
		}
		res.Account = &Account{ID: r.str(), Name: r.str(), CreatedAt: Millis(r.int())}
	}
	if r.bool() {
		res.Operator = r.operator()
	}
	var err error
	if res.Chat, err = ar.chatRef(); err != nil {
		return err
	}
	if seq := r.int(); seq != 0 {
		if res.Chat == nil || seq < 1 || seq > int64(len(res.Chat.transcript)) {
			return fmt.Errorf("%w: remembered message %d out of range", ErrBadSnapshot, seq)
		}
		res.Message = &res.Chat.transcript[seq-1]
	}
	res.UnreadCount = int(r.int())
	res.KeyID = r.str()
	return r.err
}

// finish checks the account's record counts and adds it to st.
func (ar *accountReader) finish(st *state) error {
	a := ar.a
	if ar.r.err != nil {
		return fmt.Errorf("%w: account %s: %v", ErrBadSnapshot, a.rec.ID, ar.r.err)
	}
	if a.numChats != ar.wantChats || uint64(len(a.ops)) != ar.numOps || uint64(len(a.idemOrder)) != ar.numIdem ||
		uint64(a.keys.Len()) != ar.numKeys || a.lastSeq != ar.wantLastSeq {
		return fmt.Errorf("%w: account %s: record counts do not match", ErrBadSnapshot, a.rec.ID)
	}
	if _, dup := st.accounts.Get(a.rec.ID); dup {
		return fmt.Errorf("%w: account %s twice", ErrBadSnapshot, a.rec.ID)
	}
	var err error
	a.keys.Scan(func(id string, hash [32]byte) bool {
		if _, dup := st.keys.Get(string(hash[:])); dup {
			err = fmt.Errorf("%w: key hash used twice", ErrBadSnapshot)
			return false
		}
		st.keys.Set(string(hash[:]), keyRef{Account: a.rec.ID, KeyID: id})
		return true
	})
	st.accounts.Set(a.rec.ID, a)
	return err
}

// restoreEvent appends a restored event; chunk boundaries follow seq as
// appendEvent lays them out.
func (a *account) restoreEvent(e eventRec) {
	a.lastSeq++
	off := a.lastSeq - a.firstSeq
	if off%eventChunkSize == 0 {
		a.eventChunks = append(a.eventChunks, make([]eventRec, 0, 16))
	}
	n := len(a.eventChunks) - 1
	a.eventChunks[n] = append(a.eventChunks[n], e)
}
