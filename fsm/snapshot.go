package fsm

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hashicorp/raft"
	"github.com/tidwall/btree"
)

// Snapshot format, version 1: MessagePack values, a header and then typed
// records, in an order that depends only on the state:
//
//	header:  ["chatstate-fsm", 1, <applied index>, <accounts>, <nodes>]
//	node:    recNode id raft http                    (id order)
//	per account, in id order: recAccount <bin>, then recMore <bin>...
//	recEnd
//
// An account's binary frames hold, concatenated, its records:
//
//	the account, its counters and its operator ids
//	recOperator each operator and its inbox          (id order)
//	recChat     each chat with its transcript        (id order)
//	recEvent    each retained event                  (seq order)
//	recIdem     each remembered outcome              (oldest first)
//	recKey      each account key                     (id order)
//
// Frames end only between records, so that accounts are encoded and decoded
// on every core at once and each frame decodes on its own.
//
// Fields are written without names, in a fixed order per record type; a
// new field means a new format version. Operator ids inside an account are
// written as their ordinal in the account's id table. A chat version held
// by events and remembered outcomes is written as (chat id, rev) and, the
// first time, the fields that differ between versions; its transcript is a
// prefix of the current one. Events reference a chat's versions in
// increasing rev order, so one "last version written" per chat replaces a
// lookup table on both sides.
const (
	snapshotMagic   = "chatstate-fsm"
	snapshotVersion = 1
)

const (
	recEnd uint8 = iota
	recNode
	recAccount // a binary frame that starts an account's records
	recMore    // a binary frame that continues them
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
	return &snapshot{st: frozen, share: f.cfg.PersistShare, applied: &f.applied}, nil
}

// snapshot is a frozen state; Persist may run concurrently with Apply.
type snapshot struct {
	st      *state
	share   float64        // Config.PersistShare
	applied *atomic.Uint64 // the FSM's applied index, to tell whether writes go on
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

// snapshotBudget bounds the encoded accounts that Persist holds before
// writing them: the price of using every core while the output stays in
// account order. The account being written is streamed and not held back
// (its frames are written as they are cut), so this bounds only the
// accounts encoded ahead of it; frames are recycled once written, so it
// also bounds the garbage a Persist makes.
const snapshotBudget = 64 << 20

// restoreFramesAhead is how many frames (of about frameSize) Restore reads
// ahead of an account's decoder. Frames are handed over as they are read
// rather than an account at a time: a restore allocates the whole state,
// and every megabyte of frames held besides it is heap that must be
// faulted in and counted by the collector's pacer.
const restoreFramesAhead = 4

// write writes the snapshot's bytes to out. Accounts are encoded in
// parallel, each into frames of whole records, and written in id order.
func (s *snapshot) write(out io.Writer) error {
	hw := newMPWriter(out)
	st := s.st
	hw.arr(5)
	hw.str(snapshotMagic)
	hw.uint(snapshotVersion)
	hw.uint(st.index)
	hw.uint(uint64(st.accounts.Len()))
	hw.uint(uint64(st.nodes.Len()))
	st.nodes.Scan(func(_ string, n NodeAddr) bool {
		hw.uint(uint64(recNode))
		hw.str(n.ID)
		hw.str(n.Raft)
		hw.str(n.HTTP)
		return true
	})
	accounts := make([]*account, 0, st.accounts.Len())
	st.accounts.Scan(func(_ string, a *account) bool {
		accounts = append(accounts, a)
		return true
	})

	p := newPipeline(len(accounts))
	defer p.stop()
	var pool framePool
	lists := make([]*frameList, len(accounts))
	for i := range lists {
		lists[i] = newFrameList(&pool, p.produced)
	}
	// One pacer per worker: its account of work and rest spans accounts.
	pacers := make([]pacer, p.workers)
	for i := range pacers {
		pacers[i] = newPacer(s.share, s.applied)
	}
	p.run(func(worker, i int) {
		w := &snapWriter{mpWriter: newFrameWriter(lists[i]), pace: &pacers[worker]}
		w.pace.resume()
		w.account(accounts[i])
		w.flush()
		pool.put(w.buf)
		if w.err != nil {
			p.fail(fmt.Errorf("account %s: %w", accounts[i].rec.ID, w.err))
			return
		}
		lists[i].finish()
	})
	var frames [][]byte
	for i, fl := range lists {
		// The account's frames are written as its encoder cuts them.
		first := true
		for done := false; !done && hw.err == nil; {
			frames, done = fl.take(frames[:0])
			for _, f := range frames {
				if first {
					hw.uint(uint64(recAccount))
					first = false
				} else {
					hw.uint(uint64(recMore))
				}
				hw.binHeader(len(f))
				hw.raw(f)
				pool.put(f)
				p.consumed(len(f))
			}
			if !done {
				select {
				case <-fl.ready:
				case <-p.failed:
					return fmt.Errorf("fsm: write snapshot: %w", p.err)
				}
			}
		}
		p.advance(i + 1)
		if hw.err != nil {
			break
		}
	}
	hw.uint(uint64(recEnd))
	hw.flush()
	if hw.err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", hw.err)
	}
	return nil
}

// pipeline runs jobs 0..n-1 on every core, starting them in order, and
// holds back a job while the output produced and not yet consumed exceeds
// snapshotBudget, unless it is the next one the consumer needs.
type pipeline struct {
	n       int
	workers int
	mu      sync.Mutex
	cond    *sync.Cond
	pending int // bytes produced and not yet consumed
	next    int // the job the consumer waits for
	stopped bool
	wg      sync.WaitGroup

	failOnce sync.Once
	failed   chan struct{}
	err      error
}

func newPipeline(n int) *pipeline {
	p := &pipeline{n: n, workers: max(1, min(runtime.GOMAXPROCS(0), n)), failed: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// run starts the workers; job(worker, i) runs on worker 0..p.workers-1.
func (p *pipeline) run(job func(worker, i int)) {
	jobs := make(chan int)
	p.wg.Add(p.workers + 1)
	go func() {
		defer p.wg.Done()
		defer close(jobs)
		for i := 0; i < p.n; i++ {
			p.mu.Lock()
			for p.pending > snapshotBudget && i != p.next && !p.stopped {
				p.cond.Wait()
			}
			stopped := p.stopped
			p.mu.Unlock()
			if stopped {
				return
			}
			jobs <- i
		}
	}()
	for w := range p.workers {
		go func() {
			defer p.wg.Done()
			for i := range jobs {
				job(w, i)
			}
		}()
	}
}

// produced counts n bytes of output against the budget.
func (p *pipeline) produced(n int) {
	p.mu.Lock()
	p.pending += n
	p.mu.Unlock()
}

// consumed releases n bytes of output.
func (p *pipeline) consumed(n int) {
	p.mu.Lock()
	p.pending -= n
	p.cond.Broadcast()
	p.mu.Unlock()
}

// advance says the consumer now waits for job next.
func (p *pipeline) advance(next int) {
	p.mu.Lock()
	p.next = next
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pipeline) fail(err error) {
	p.failOnce.Do(func() {
		p.err = err
		close(p.failed)
	})
}

// stop makes the workers finish early and waits for them.
func (p *pipeline) stop() {
	p.mu.Lock()
	p.stopped = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

// snapWriter writes the records of a snapshot.
type snapWriter struct {
	*mpWriter
	a *account
	// lastWritten[id-1] is the rev of chat id's version last written in
	// full, -1 for none; curRev[id-1] is the rev of its current version.
	// Slices indexed by id keep the references cheap to resolve.
	lastWritten []int64
	curRev      []int64
	touched     int // see touchChats
	pace        *pacer
}

func (w *snapWriter) tag(t uint8) { w.uint(uint64(t)) }

// op writes an operator id of the current account as its ordinal.
func (w *snapWriter) op(id string) {
	if id == "" {
		w.uint(0)
		return
	}
	ord, ok := w.a.ords[id]
	if !ok && w.err == nil {
		// Every operator id in an account got an ordinal when the
		// operator was created; this is a bug, not bad input.
		w.err = fmt.Errorf("operator id %q has no ordinal in account %s", id, w.a.rec.ID)
	}
	w.uint(uint64(ord))
}

func (w *snapWriter) account(a *account) {
	w.a = a
	w.lastWritten = slices.Grow(w.lastWritten[:0], int(a.numChats))[:a.numChats]
	w.curRev = slices.Grow(w.curRev[:0], int(a.numChats))[:a.numChats]
	for i := range w.lastWritten {
		w.lastWritten[i] = -1
	}
	w.str(a.rec.ID)
	w.str(a.rec.Name)
	w.int(int64(a.rec.CreatedAt))
	w.int(a.numChats)
	w.int(a.nextNotification)
	w.int(a.firstSeq)
	w.int(a.lastSeq)
	w.arr(len(a.ordNames))
	for _, n := range a.ordNames {
		w.str(n)
	}
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
			w.op(n.Operator)
			w.int(int64(n.At))
		}
		w.maybeFlush()
	}
	for from := int64(1); from <= a.numChats && w.err == nil; from += touchAhead {
		to := min(from+touchAhead-1, a.numChats)
		w.touched += touchChats(a, from, to)
		w.pace.pause()
		for id := from; id <= to && w.err == nil; id++ {
			c := a.chat(id)
			w.curRev[id-1] = int64(c.rev)
			w.chat(c)
			w.maybeFlush()
		}
	}
	for from := a.firstSeq; from <= a.lastSeq && w.err == nil; from += touchAhead {
		to := min(from+touchAhead-1, a.lastSeq)
		w.touched += touchEvents(a, from, to)
		w.pace.pause()
		for seq := from; seq <= to && w.err == nil; seq++ {
			w.event(a.event(seq))
			w.maybeFlush()
		}
	}
	for _, e := range a.idemOrder {
		w.tag(recIdem)
		w.str(e.key)
		w.bytes(e.fingerprint)
		w.int(int64(e.at))
		w.result(&e.result)
		w.maybeFlush()
	}
	a.keys.Scan(func(id string, hash [32]byte) bool {
		w.tag(recKey)
		w.str(id)
		w.bytes(hash[:])
		return true
	})
}

// pacer makes an encoder rest in proportion to its work while the state
// machine applies writes, so that it uses at most share of a core, and lets
// waiting goroutines run between runs of records.
//
// Why: Persist encodes on every core beside Apply and the write path. Go
// preempts a running goroutine only after 10 ms, so without a yield each
// hand-off of a write (HTTP handler, proposer, Raft, FSM) that becomes
// runnable while both cores encode waits up to 10 ms for one. Yielding
// alone still left every hand-off waiting behind encoders that took the
// core back at once, and the snapshot's fsyncs beside the log's: see
// DESIGN.md for the write p99 during a persist at each share. With no
// write applied for idleAfter, an encoder does not rest: an idle node
// snapshots at full speed. Rests are taken in stretches of at least
// minRest, since a shorter sleep costs as much in timer wake-ups as it
// gives; oversleeping is credited.
type pacer struct {
	share   float64
	applied *atomic.Uint64
	seen    uint64        // applied at the last pause
	active  time.Time     // when applied was last seen to change
	start   time.Time     // when the current stretch of work began
	owed    time.Duration // rest owed for the work done, minus oversleep
}

const (
	minRest = time.Millisecond
	// maxRest bounds one rest, whatever the measured work: a stretch of
	// work is never more than a run of records, but a clock jump or a
	// descheduled process must not stall a snapshot for long.
	maxRest = 50 * time.Millisecond
	// idleAfter is longer than the gap between two applied entries of a
	// node under load (a few fsyncs), so that load is never taken for idle.
	idleAfter = 100 * time.Millisecond
)

func newPacer(share float64, applied *atomic.Uint64) pacer {
	now := time.Now()
	// Taken as busy at first: idle once idleAfter passes with no apply.
	return pacer{share: share, applied: applied, seen: applied.Load(), active: now, start: now}
}

// resume starts a stretch of work: time spent waiting for a job is not
// work.
func (p *pacer) resume() { p.start = time.Now() }

func (p *pacer) pause() {
	runtime.Gosched()
	if p.share >= 1 {
		return
	}
	now := time.Now()
	if seen := p.applied.Load(); seen != p.seen {
		p.seen, p.active = seen, now
	}
	if now.Sub(p.active) > idleAfter {
		p.owed = min(p.owed, 0) // idle: no rest owed for this stretch
	} else {
		p.owed += time.Duration(float64(now.Sub(p.start)) * (1/p.share - 1))
	}
	p.start = now
	if p.owed < minRest {
		return
	}
	time.Sleep(min(p.owed, maxRest))
	p.start = time.Now()
	p.owed = min(p.owed-p.start.Sub(now), maxRest)
}

// touchAhead is how many chats or events Persist touches (see touchChats)
// before encoding them.
const touchAhead = 32

// touchChats reads one word of every record that encoding chats from..to
// will read: the version, its contact, its transcript and each text.
//
// Why: Persist walks records allocated over the whole life of the state,
// scattered over the heap, and the encoder does enough work per record
// that the processor waits for each cache miss in turn. These loops do
// nothing but independent loads, so the processor has many misses in
// flight at once, and the encoder then finds the records in cache.
// Measured: see DESIGN.md, Snapshots. The sum only keeps the loads from
// being optimised away.
func touchChats(a *account, from, to int64) (sum int) {
	for id := from; id <= to; id++ {
		c := a.chat(id)
		sum += int(c.rev) + len(c.transcript)
	}
	for id := from; id <= to; id++ {
		c := a.chat(id)
		sum += int(c.Contact.Type)
		for i := range c.transcript {
			sum += len(c.transcript[i].Text)
		}
	}
	for id := from; id <= to; id++ {
		t := a.chat(id).transcript
		for i := range t {
			if len(t[i].Text) > 0 {
				sum += int(t[i].Text[0])
			}
		}
	}
	return sum
}

// touchEvents does for events from..to what touchChats does for chats:
// both chat versions and what the event refers to.
func touchEvents(a *account, from, to int64) (sum int) {
	for seq := from; seq <= to; seq++ {
		e := a.event(seq)
		if e.chat != nil {
			sum += int(e.chat.rev)
		}
		if e.before != nil {
			sum += int(e.before.rev)
		}
		if m, ok := e.ref.(*Message); ok {
			sum += int(m.Seq)
		}
	}
	for seq := from; seq <= to; seq++ {
		e := a.event(seq)
		for _, c := range [2]*Chat{e.chat, e.before} {
			if c != nil {
				sum += len(c.transcript) + len(c.Participants())
				if c.LastMessage != nil {
					sum += int(c.LastMessage.Seq)
				}
			}
		}
	}
	return sum
}

func (w *snapWriter) operator(o *Operator) {
	w.op(o.ID)
	w.str(o.Name)
	w.optStr(o.Email)
	w.int(int64(o.CreatedAt))
}

func (w *snapWriter) chat(c *Chat) {
	w.tag(recChat)
	w.int(c.ID)
	w.uint(uint64(c.rev))
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
		w.op(m.AuthorID)
		w.str(m.Text)
		w.uint(uint64(m.Event))
		w.op(m.Operator)
		w.int(int64(m.At))
	}
}

// versionFields writes the fields that differ between versions of a chat;
// the transcript length comes last.
func (w *snapWriter) versionFields(c *Chat) {
	w.uint(uint64(c.Status))
	w.bool(c.Unread)
	w.op(c.Assignee)
	w.arr(len(c.Participants()))
	for _, p := range c.Participants() {
		w.op(p)
	}
	w.int(int64(c.LastActivityAt))
	w.int(int64(c.WaitingSince))
	w.int(int64(c.FirstReplyAt))
	w.int(int64(c.ClosedAt))
	w.op(c.ClosedBy)
	w.int(int64(c.MessageCount))
	if c.LastMessage != nil {
		w.int(c.LastMessage.Seq)
	} else {
		w.int(0)
	}
	w.int(int64(len(c.transcript)))
}

// chatRef writes a reference to a chat version: nil, or id and rev, then
// the version's fields unless it is the current version or the one last
// written for that chat.
func (w *snapWriter) chatRef(c *Chat) {
	if c == nil {
		w.nil()
		return
	}
	w.int(c.ID)
	w.uint(uint64(c.rev))
	rev := int64(c.rev)
	if rev == w.curRev[c.ID-1] || w.lastWritten[c.ID-1] == rev {
		w.bool(false)
		return
	}
	w.lastWritten[c.ID-1] = rev
	w.bool(true)
	w.versionFields(c)
}

func (w *snapWriter) event(e *eventRec) {
	w.tag(recEvent)
	w.uint(uint64(e.typ()))
	w.int(int64(e.at()))
	// Before first: a chat's references then never go down in rev.
	w.chatRef(e.before)
	w.chatRef(e.chat)
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
		w.op(r.Recipient)
		w.int(r.ChatID)
		w.op(r.Operator)
		w.int(int64(r.At))
	case string:
		w.tag(refRemoved)
		w.op(r)
	default:
		w.tag(refNone)
	}
}

func (w *snapWriter) result(r *Result) {
	if r.Err != nil {
		w.arr(3)
		w.str(string(r.Err.Code))
		w.str(r.Err.Field)
		w.str(r.Err.Message)
	} else {
		w.nil()
	}
	w.bool(r.Created)
	w.uint(r.Index)
	if r.Account != nil {
		w.arr(3)
		w.str(r.Account.ID)
		w.str(r.Account.Name)
		w.int(int64(r.Account.CreatedAt))
	} else {
		w.nil()
	}
	if r.Operator != nil {
		w.bool(true)
		w.operator(r.Operator)
	} else {
		w.bool(false)
	}
	w.chatRef(r.Chat)
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

func (f *FSM) readSnapshot(in io.Reader) (st *state, err error) {
	r := newMPReader(in)
	st = newState()
	if n := r.arr(); n != 5 || r.str() != snapshotMagic {
		return nil, fmt.Errorf("%w: not a chatstate snapshot", ErrBadSnapshot)
	}
	if v := r.uint(); v != snapshotVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", ErrBadSnapshot, v, snapshotVersion)
	}
	st.index = r.uint()
	numAccounts := r.uint()
	numNodes := r.uint()
	if r.err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadSnapshot, r.err)
	}

	// Each account is decoded on a worker while this goroutine reads on,
	// and its frames are handed over as they are read, a few ahead of the
	// decoder; accounts join the state in stream order.
	type job struct {
		frames chan []byte
		acc    *accountReader
		err    error
		done   chan struct{}
	}
	var jobs []*job
	var pool framePool
	work := make(chan *job)
	workers := max(1, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for j := range work {
				j.acc, j.err = f.decodeAccount(j.frames, &pool)
				// After an error, take the frames the reader still sends.
				for fr := range j.frames {
					pool.put(fr)
				}
				close(j.done)
			}
		}()
	}
	var cur *job
	endAccount := func() {
		if cur != nil {
			close(cur.frames)
			cur = nil
		}
	}
	var stopOnce sync.Once
	stopWorkers := func() {
		stopOnce.Do(func() {
			endAccount()
			close(work)
			wg.Wait()
		})
	}
	defer func() {
		// The reader guards every length, but a bad snapshot must never
		// take the node down: any panic becomes an error.
		if p := recover(); p != nil {
			stopWorkers()
			st, err = nil, fmt.Errorf("%w: %v", ErrBadSnapshot, p)
		}
	}()
	for done := false; !done; {
		tag := uint8(r.uint())
		if r.err != nil {
			stopWorkers()
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, r.err)
		}
		switch tag {
		case recEnd:
			done = true
		case recNode:
			n := NodeAddr{ID: r.str(), Raft: r.str(), HTTP: r.str()}
			st.nodes.Set(n.ID, n)
		case recAccount:
			endAccount()
			cur = &job{frames: make(chan []byte, restoreFramesAhead), done: make(chan struct{})}
			jobs = append(jobs, cur)
			work <- cur // waits for a free worker
			fallthrough
		case recMore:
			if cur == nil {
				stopWorkers()
				return nil, fmt.Errorf("%w: frame outside an account", ErrBadSnapshot)
			}
			if fr := r.frame(&pool); r.err == nil {
				cur.frames <- fr
			}
		default:
			stopWorkers()
			return nil, fmt.Errorf("%w: unknown record type %d", ErrBadSnapshot, tag)
		}
		if r.err != nil {
			stopWorkers()
			return nil, fmt.Errorf("%w: record %d: %v", ErrBadSnapshot, tag, r.err)
		}
	}
	stopWorkers()
	for _, j := range jobs {
		<-j.done
		if j.err != nil {
			return nil, j.err
		}
		if err := j.acc.finish(st); err != nil {
			return nil, err
		}
	}
	if uint64(st.accounts.Len()) != numAccounts || uint64(st.nodes.Len()) != numNodes {
		return nil, fmt.Errorf("%w: %d accounts and %d nodes, header says %d and %d",
			ErrBadSnapshot, st.accounts.Len(), st.nodes.Len(), numAccounts, numNodes)
	}
	return st, nil
}

// rev reads a chat version number.
func (r *mpReader) rev() uint32 {
	v := r.uint()
	if v > math.MaxUint32 {
		r.fail(fmt.Errorf("%w: version %d", errSnapshotValue, v))
	}
	return uint32(v)
}

// decodeAccount rebuilds one account from its frames, returning each frame
// to pool once decoded (nothing restored points into a frame).
func (f *FSM) decodeAccount(frames <-chan []byte, pool *framePool) (ar *accountReader, err error) {
	defer func() {
		// Malformed input must be an error, whatever it trips over.
		if p := recover(); p != nil {
			ar, err = nil, fmt.Errorf("%w: %v", ErrBadSnapshot, p)
		}
	}()
	r := &snapReader{mpReader: &mpReader{}, cfg: &f.cfg}
	for fr := range frames {
		r.resetFrame(fr)
		if ar == nil {
			ar = r.account()
		}
		err := ar.records()
		pool.put(fr)
		if err != nil {
			return nil, err
		}
	}
	if ar == nil {
		return nil, fmt.Errorf("%w: account without records", ErrBadSnapshot)
	}
	ar.a.buildIndexes()
	// What only the decoding needed is garbage from here on.
	ar.lastVersion, ar.notifications, ar.scratchNames = nil, nil, nil
	ar.slabs = restoreSlabs{}
	return ar, nil
}

// records reads the records of the current frame.
func (ar *accountReader) records() error {
	r := ar.r
	for r.err == nil && !r.done() {
		tag := uint8(r.uint())
		if r.err != nil {
			break
		}
		if err := ar.record(tag); err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				err = fmt.Errorf("%w: account %s: %v", ErrBadSnapshot, ar.a.rec.ID, err)
			}
			return err
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: account %s: %v", ErrBadSnapshot, ar.a.rec.ID, r.err)
	}
	return nil
}

// snapReader reads the records of a snapshot.
type snapReader struct {
	*mpReader
	cfg *Config
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
	// lastVersion[id-1] is the version of chat id last read in full.
	lastVersion []*Chat
	// notifications by id, so that events share the inbox's records.
	notifications map[int64]*Notification
	// scratchNames is scratch space to read a participant list into.
	scratchNames []string
	slabs        restoreSlabs
}

// restoreSlabs hands out an account's restored records from arrays of many
// (slabs) instead of one allocation each.
//
// Why: a restore builds millions of small pointerful objects at once (a
// chat version per event, transcripts, contacts), and both the allocator
// and the garbage collector pay per object; the collector runs while the
// state grows and marks it again on every cycle. A slab is one object of
// about 8-20 KiB. Records are immutable, so they never need to be freed one
// by one; the price is that a slab stays alive while any of its records
// does (see DESIGN.md, Known costs). Slices handed out are capped at their
// length, so that an append past them (a transcript growing) reallocates
// instead of writing into a neighbour.
type restoreSlabs struct {
	chats    []Chat
	contacts []Contact
	strs     []string
	msgs     []Message
	names    []string
	lists    [][]string

	notifications []Notification
}

// Slab lengths: each slab is one allocation of 8-20 KiB.
const (
	slabChats    = 64  // 144 B each
	slabContacts = 256 // 32 B each
	slabStrings  = 512 // 16 B each
	slabMessages = 256 // 72 B each
	slabNames    = 512 // 16 B each
	slabLists    = 512 // 24 B each

	slabNotifications = 128 // 64 B each
)

// carve returns n elements from the end of *slab, starting a new slab of
// size elements when the current one is full. A request larger than a
// quarter of a slab gets an allocation of its own, so that slabs are never
// mostly empty.
func carve[T any](slab *[]T, n, size int) []T {
	s := *slab
	if cap(s)-len(s) < n {
		if n > size/4 {
			return make([]T, n)
		}
		s = make([]T, 0, size)
	}
	out := s[len(s) : len(s)+n : len(s)+n]
	*slab = s[:len(s)+n]
	return out
}

func (ar *accountReader) newChat() *Chat {
	return &carve(&ar.slabs.chats, 1, slabChats)[0]
}

// text returns b as a string that lives in the account's packed text
// blocks (see account.keepText). b is only valid until the next read.
func (ar *accountReader) text(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > textInlineMax {
		return string(b)
	}
	// keepText copies a text of this size into the account's block, so
	// the string it is given need not outlive the frame that b points
	// into. Should it ever hand its argument back, the text is copied
	// here: frames are reused.
	s := ar.a.keepText(unsafe.String(unsafe.SliceData(b), len(b)))
	if unsafe.StringData(s) == unsafe.SliceData(b) {
		return string(b)
	}
	return s
}

// optText reads a string or nil, as mpReader.optStr, into slabs.
func (ar *accountReader) optText() *string {
	if ar.r.isNil() {
		return nil
	}
	p := &carve(&ar.slabs.strs, 1, slabStrings)[0]
	*p = ar.text(ar.r.rawStr())
	return p
}

// op reads an operator id written as its ordinal.
func (ar *accountReader) op() string {
	ord := ar.r.uint()
	if ord >= uint64(len(ar.a.ordNames)) {
		ar.r.fail(fmt.Errorf("%w: operator ordinal %d out of range", errSnapshotValue, ord))
		return ""
	}
	return ar.a.ordNames[ord]
}

// participants reads a participant list. Versions of a chat mostly have
// the same participants, and lists are replaced, never modified, so a list
// equal to prev's is shared rather than allocated again.
func (ar *accountReader) participants(prev *Chat) *[]string {
	n := ar.r.arr()
	if n == 0 {
		return nil
	}
	names := ar.scratchNames[:0]
	for i := 0; i < n && ar.r.err == nil; i++ {
		names = append(names, ar.op())
	}
	ar.scratchNames = names
	if prev != nil && slices.Equal(prev.Participants(), names) {
		return prev.participants
	}
	out := carve(&ar.slabs.names, len(names), slabNames)
	copy(out, names)
	list := &carve(&ar.slabs.lists, 1, slabLists)[0]
	*list = out
	return list
}

func (ar *accountReader) operator() *Operator {
	r := ar.r
	return &Operator{ID: ar.op(), Name: r.str(), Email: r.optStr(), CreatedAt: Millis(r.int())}
}

func (r *snapReader) account() *accountReader {
	rec := &Account{ID: r.str(), Name: r.str(), CreatedAt: Millis(r.int())}
	a := newAccount(rec, 0)
	a.indexLater = true
	ar := &accountReader{r: r, a: a, notifications: make(map[int64]*Notification)}
	numChats := r.int()
	a.nextNotification = r.int()
	a.firstSeq = r.int()
	a.lastSeq = r.int()
	n := r.arr()
	names := make([]string, 0, min(n, 1024))
	for i := 0; i < n && r.err == nil; i++ {
		names = append(names, r.str())
	}
	ar.numOps, ar.numIdem, ar.numKeys = r.uint(), r.uint(), r.uint()
	if r.err != nil {
		return ar
	}
	if len(names) == 0 || names[0] != "" || numChats < 0 || a.firstSeq < 1 || a.lastSeq < a.firstSeq-1 {
		r.fail(fmt.Errorf("account %s: inconsistent counters", rec.ID))
		return ar
	}
	for _, n := range names[1:] {
		a.ordinal(n)
	}
	if len(a.ords) != len(names) {
		r.fail(fmt.Errorf("account %s: duplicate operator id", rec.ID))
		return ar
	}
	a.chats = make([]*chatChunk, 0, min((numChats+chatChunkSize-1)/chatChunkSize, 1<<16))
	ar.lastVersion = make([]*Chat, 0, min(numChats, 1<<20))
	ar.wantChats = numChats
	// Events are appended at lastSeq+1 by restoreEvent.
	ar.wantLastSeq = a.lastSeq
	a.lastSeq = a.firstSeq - 1
	return ar
}

func (ar *accountReader) record(tag uint8) error {
	r, a := ar.r, ar.a
	switch tag {
	case recOperator:
		o := &operator{rec: ar.operator()}
		// The id was read as an ordinal of the account's names, so it
		// has one; "" (ordinal 0) is refused below.
		o.ord = a.ords[o.rec.ID]
		o.readUpTo = r.int()
		n := r.arr()
		if n > r.cfg.InboxSize {
			return fmt.Errorf("%w: inbox of %d notifications", ErrBadSnapshot, n)
		}
		block := make([]Notification, n)
		o.inbox = make([]*Notification, n)
		for i := range block {
			nt := &block[i]
			*nt = Notification{ID: r.int(), Type: NotificationType(r.uint()), Recipient: o.rec.ID, ChatID: r.int(), Operator: ar.op(), At: Millis(r.int())}
			o.inbox[i] = nt
			ar.notifications[nt.ID] = nt
			if nt.ID > o.readUpTo {
				o.unread++
			}
		}
		if o.rec.ID == "" || len(a.ops) > 0 && a.ops[len(a.ops)-1].rec.ID >= o.rec.ID {
			return fmt.Errorf("%w: operators out of order", ErrBadSnapshot)
		}
		a.ops = append(a.ops, o)
		a.opByOrd[o.ord] = o
	case recChat:
		c, err := ar.chat()
		if err != nil {
			return err
		}
		if c.ID != a.numChats+1 || c.ID > ar.wantChats {
			return fmt.Errorf("%w: chat %d out of order", ErrBadSnapshot, c.ID)
		}
		a.putChat(nil, c)
		ar.lastVersion = append(ar.lastVersion, nil)
		for _, p := range c.Participants() {
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
		typ := EventType(r.byteValue())
		at := Millis(r.int())
		before, err := ar.chatRef()
		if err != nil {
			return err
		}
		chat, err := ar.chatRef()
		if err != nil {
			return err
		}
		var ref any
		switch uint8(r.uint()) {
		case refNone:
		case refMessage:
			seq := r.int()
			if chat == nil || seq < 1 || seq > int64(len(chat.transcript)) {
				return fmt.Errorf("%w: event message %d out of range", ErrBadSnapshot, seq)
			}
			ref = &chat.transcript[seq-1]
		case refOperator:
			ref = ar.operator()
		case refNotification:
			n := Notification{ID: r.int(), Type: NotificationType(r.uint()), Recipient: ar.op(), ChatID: r.int(), Operator: ar.op(), At: Millis(r.int())}
			if shared, ok := ar.notifications[n.ID]; ok && *shared == n {
				ref = shared
			} else {
				p := &carve(&ar.slabs.notifications, 1, slabNotifications)[0]
				p.ID, p.Type, p.ChatID, p.At = n.ID, n.Type, n.ChatID, n.At
				p.Recipient, p.Operator = n.Recipient, n.Operator
				ref = p
			}
		case refRemoved:
			ref = ar.op()
		default:
			return fmt.Errorf("%w: unknown event record kind", ErrBadSnapshot)
		}
		if a.lastSeq >= ar.wantLastSeq {
			return fmt.Errorf("%w: more events than the account's counter", ErrBadSnapshot)
		}
		// Stored field by field: copying a whole record into the heap
		// makes the write barrier walk its pointer bitmap while the
		// collector runs, which it does for much of a large restore.
		e := a.restoreEvent(ar.wantLastSeq)
		e.typeAt = newEventRec(typ, at, nil, nil, nil).typeAt
		e.before, e.chat, e.ref = before, chat, ref
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
	// Slab records are zero and filled in field by field (see
	// restoreEvent's caller for why).
	c := ar.newChat()
	c.ID = r.int()
	c.rev = r.rev()
	c.Source = Source(r.uint())
	ct := &carve(&ar.slabs.contacts, 1, slabContacts)[0]
	ct.Type = ContactType(r.uint())
	ct.ID = ar.optText()
	ct.Name = ar.optText()
	ct.Email = ar.optText()
	c.Contact = ct
	c.CreatedAt = Millis(r.int())
	lastSeq, n := ar.versionFields(c, nil)
	if r.err != nil {
		return nil, r.err
	}
	if c.Source < SourceEmail || c.Source > SourceExternalPage || ct.Type < ContactTypeContact || ct.Type > ContactTypeVisitor ||
		n < 0 || n > maxSnapshotString || lastSeq > n {
		return nil, fmt.Errorf("%w: chat %d: field out of range", ErrBadSnapshot, c.ID)
	}
	// Every entry takes at least 6 bytes: a count beyond what is left of
	// the frame is corrupt, and must not size an allocation.
	if n > int64(r.end-r.pos)/6 {
		return nil, fmt.Errorf("%w: chat %d: %d transcript entries in %d bytes", ErrBadSnapshot, c.ID, n, r.end-r.pos)
	}
	if n > 0 {
		c.transcript = carve(&ar.slabs.msgs, int(n), slabMessages)
	}
	for i := range c.transcript {
		m := &c.transcript[i]
		m.Seq = int64(i) + 1
		m.AuthorType = AuthorType(r.uint())
		m.AuthorID = ar.op()
		m.Text = ar.text(r.rawStr())
		m.Event = SystemEvent(r.uint())
		m.Operator = ar.op()
		m.At = Millis(r.int())
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
// returns the last message's seq and the transcript length. prev is a
// version of the same chat whose participant list c may share, or nil.
func (ar *accountReader) versionFields(c, prev *Chat) (lastSeq, n int64) {
	r := ar.r
	c.Status = Status(r.uint())
	c.Unread = r.bool()
	c.Assignee = ar.op()
	c.participants = ar.participants(prev)
	c.LastActivityAt = Millis(r.int())
	c.WaitingSince = Millis(r.int())
	c.FirstReplyAt = Millis(r.int())
	c.ClosedAt = Millis(r.int())
	c.ClosedBy = ar.op()
	c.MessageCount = int(r.int())
	lastSeq = r.int()
	n = r.int()
	if c.Status < StatusActive || c.Status > StatusClosed || lastSeq < 0 {
		r.fail(fmt.Errorf("%w: chat %d: field out of range", errSnapshotValue, c.ID))
	}
	return lastSeq, n
}

func (ar *accountReader) chatRef() (*Chat, error) {
	r := ar.r
	if r.isNil() {
		return nil, nil
	}
	id, rev := r.int(), r.rev()
	full := r.bool()
	if r.err != nil {
		return nil, r.err
	}
	cur := ar.a.chat(id)
	if cur == nil {
		return nil, fmt.Errorf("%w: reference to unknown chat %d version %d", ErrBadSnapshot, id, rev)
	}
	if !full {
		if rev == cur.rev {
			return cur, nil
		}
		if v := ar.lastVersion[id-1]; v != nil && v.rev == rev {
			return v, nil
		}
		return nil, fmt.Errorf("%w: reference to unwritten chat %d version %d", ErrBadSnapshot, id, rev)
	}
	prev := ar.lastVersion[id-1]
	if prev == nil {
		prev = cur
	}
	v := ar.newChat()
	v.ID, v.rev, v.Source, v.Contact, v.CreatedAt = id, rev, cur.Source, cur.Contact, cur.CreatedAt
	lastSeq, n := ar.versionFields(v, prev)
	if r.err != nil {
		return nil, r.err
	}
	if n > int64(len(cur.transcript)) || lastSeq > n {
		return nil, fmt.Errorf("%w: chat %d version %d out of range", ErrBadSnapshot, id, rev)
	}
	v.transcript = cur.transcript[:n:n]
	if lastSeq > 0 {
		v.LastMessage = &cur.transcript[lastSeq-1]
	}
	ar.lastVersion[id-1] = v
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
		res.Operator = ar.operator()
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

// restoreEvent appends a zero event and returns it to be filled in; chunk
// boundaries follow seq as appendEvent lays them out.
func (a *account) restoreEvent(lastSeq int64) *eventRec {
	a.lastSeq++
	off := a.lastSeq - a.firstSeq
	if off%eventChunkSize == 0 {
		// Sized to what the snapshot holds, so that no chunk grows by
		// copying while the window is read in.
		a.eventChunks = append(a.eventChunks, make([]eventRec, 0, min(eventChunkSize, lastSeq-a.lastSeq+1)))
	}
	n := len(a.eventChunks) - 1
	chunk := a.eventChunks[n]
	chunk = chunk[:len(chunk)+1]
	a.eventChunks[n] = chunk
	return &chunk[len(chunk)-1]
}
