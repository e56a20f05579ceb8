package fsm_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/chatstate/chatstate/fsm"
)

// randomWorkload applies n random commands (most of them valid) to h, over
// the operators ops. It returns the number of chats created.
func randomWorkload(h *harness, rng *rand.Rand, n int, ops []string) {
	h.t.Helper()
	chats := int64(0)
	if c, err := h.f.Counts(h.acct, fsm.CountQuery{}); err == nil {
		_ = c
	}
	pick := func() string { return ops[rng.Intn(len(ops))] }
	for i := 0; i < n; i++ {
		if chats == 0 || rng.Intn(8) == 0 {
			ct := fsm.AllContactTypes[rng.Intn(2)]
			src := fsm.AllSources[rng.Intn(4)]
			h.do(&fsm.CreateChat{Contact: fsm.Contact{Type: ct}, Source: src, Text: "hi"})
			chats++
			continue
		}
		id := 1 + rng.Int63n(chats)
		// Same timestamps now and then, to exercise the id tie-break.
		if rng.Intn(4) == 0 {
			h.now -= 1000
		}
		var cmd fsm.Command
		switch rng.Intn(13) {
		case 0, 1:
			cmd = &fsm.CustomerMessage{Chat: id, Text: "more"}
		case 2, 3:
			cmd = &fsm.OperatorMessage{Chat: id, Operator: pick(), Text: "reply"}
		case 4:
			cmd = &fsm.Join{ChatAction: act(id, pick())}
		case 5:
			cmd = &fsm.Leave{ChatAction: act(id, pick())}
		case 6:
			cmd = &fsm.MarkUnread{ChatAction: act(id, pick())}
		case 7:
			cmd = &fsm.MarkRead{ChatAction: act(id, pick())}
		case 8:
			cmd = &fsm.Close{ChatAction: act(id, pick())}
		case 9:
			cmd = &fsm.Reopen{ChatAction: act(id, pick())}
		case 10:
			target := pick()
			if rng.Intn(3) == 0 {
				target = ""
			}
			cmd = &fsm.Assign{Chat: id, Operator: target, By: pick()}
		case 11:
			if rng.Intn(6) == 0 {
				cmd = &fsm.RemoveOperator{Operator: pick()}
			} else {
				op := pick()
				cmd = &fsm.UpsertOperator{Operator: op, Name: op + fmt.Sprint(rng.Intn(2))}
			}
		case 12:
			cmd = &fsm.ReadNotifications{Operator: pick(), UpTo: rng.Int63n(50)}
		}
		if rng.Intn(10) == 0 {
			cmd.Head().IdempotencyKey = fmt.Sprintf("k%d", rng.Intn(20))
			cmd.Head().Fingerprint = []byte{byte(rng.Intn(2))}
		}
		h.do(cmd)
	}
}

// allChats reads every chat of the harness account by id.
func (h *harness) allChats() []*fsm.Chat {
	var out []*fsm.Chat
	for id := int64(1); ; id++ {
		c, err := h.f.Chat(h.acct, id)
		if err != nil {
			return out
		}
		out = append(out, c)
	}
}

func listOrder(a, b *fsm.Chat) int {
	if a.LastActivityAt != b.LastActivityAt {
		if a.LastActivityAt > b.LastActivityAt {
			return -1
		}
		return 1
	}
	if a.ID > b.ID {
		return -1
	}
	return 1
}

// allFilters lists every filter combination over the given operators.
func allFilters(ops []string) []fsm.ChatFilter {
	var out []fsm.ChatFilter
	assignees := append([]string{"", "-"}, ops...)
	for _, st := range []fsm.Status{fsm.StatusAny, fsm.StatusActive, fsm.StatusClosed} {
		for _, as := range assignees {
			for ct := fsm.ContactType(0); ct <= 2; ct++ {
				for src := fsm.Source(0); src <= 4; src++ {
					for u := fsm.UnreadFilter(0); u <= 2; u++ {
						f := fsm.ChatFilter{Status: st, ContactType: ct, Source: src, Unread: u}
						switch as {
						case "":
						case "-":
							f.Unassigned = true
						default:
							f.Operator = as
						}
						out = append(out, f)
					}
				}
			}
		}
	}
	return out
}

// checkListsAndCounts compares every list filter, paged, and every count
// query with a brute-force evaluation over all chats.
func checkListsAndCounts(t *testing.T, h *harness, ops []string) {
	t.Helper()
	checkListsAndCountsPaged(t, h, ops, []int{1, 3, 500})
}

// checkListsAndCountsPaged is checkListsAndCounts with pages of the given
// sizes.
func checkListsAndCountsPaged(t *testing.T, h *harness, ops []string, limits []int) {
	t.Helper()
	all := h.allChats()
	slices.SortFunc(all, listOrder)
	for _, fl := range allFilters(append(slices.Clone(ops), "ghost")) {
		var want []int64
		for _, c := range all {
			if fl.Matches(c) {
				want = append(want, c.ID)
			}
		}
		for _, limit := range limits {
			var got []int64
			q := fsm.ListQuery{Filter: fl, Limit: limit}
			for pages := 0; ; pages++ {
				p, err := h.f.ListChats(h.acct, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Chats) > limit {
					t.Fatalf("%+v: page of %d > limit %d", fl, len(p.Chats), limit)
				}
				for _, c := range p.Chats {
					got = append(got, c.ID)
				}
				if p.Next == nil {
					break
				}
				if len(p.Chats) < limit {
					t.Fatalf("%+v: short page with a next cursor", fl)
				}
				q.After = p.Next
				if pages > len(all)+2 {
					t.Fatalf("%+v: paging does not end", fl)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("filter %+v limit %d:\n got %v\nwant %v", fl, limit, got, want)
			}
		}
	}

	current, _ := h.f.Operators(h.acct)
	for _, st := range []fsm.Status{fsm.StatusActive, fsm.StatusClosed} {
		for ct := fsm.ContactType(0); ct <= 2; ct++ {
			for src := fsm.Source(0); src <= 4; src++ {
				for u := fsm.UnreadFilter(0); u <= 2; u++ {
					q := fsm.CountQuery{Status: st, ContactType: ct, Source: src, Unread: u}
					got, err := h.f.Counts(h.acct, q)
					if err != nil {
						t.Fatal(err)
					}
					want := fsm.Counts{Status: st}
					fl := fsm.ChatFilter{Status: st, ContactType: ct, Source: src, Unread: u}
					perOp := map[string]int{}
					for _, c := range all {
						if !fl.Matches(c) {
							continue
						}
						want.All++
						if c.Assignee == "" {
							want.Unassigned++
						} else {
							perOp[c.Assignee]++
						}
						if c.Unread {
							want.Unread++
						}
						want.ContactTypes[c.Contact.Type-1]++
						want.Sources[c.Source-1]++
					}
					for _, o := range current {
						want.Operators = append(want.Operators, fsm.OperatorCount{Operator: o.ID, Count: perOp[o.ID]})
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("counts %+v:\n got %+v\nwant %+v", q, got, want)
					}
					// CountsInto overwrites whatever the slice held.
					dirty := make([]fsm.OperatorCount, len(current), len(current)+1)
					for i := range dirty {
						dirty[i] = fsm.OperatorCount{Operator: "stale", Count: -1}
					}
					into, err := h.f.CountsInto(h.acct, q, dirty)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(into) != fmt.Sprint(want) || len(into.Operators) > 0 && &into.Operators[0] != &dirty[0] {
						t.Fatalf("counts into a used slice %+v:\n got %+v\nwant %+v", q, into, want)
					}
				}
			}
		}
	}
	for _, o := range current {
		n := 0
		for _, c := range all {
			if c.Status == fsm.StatusActive && c.Assignee == o.ID {
				n++
			}
		}
		if o.ActiveChats != n {
			t.Fatalf("operator %s active_chats %d, want %d", o.ID, o.ActiveChats, n)
		}
	}
}

func TestListsAndCountsMatchBruteForce(t *testing.T) {
	ops := []string{"ann", "bob", "cid"}
	h := newHarness(t)
	h.setup(ops...)
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 4; round++ {
		randomWorkload(h, rng, 150, ops)
		checkListsAndCounts(t, h, ops)
	}
}

// TestListsAndCountsOverDeepTrees checks lists and counts where the cell
// trees have several levels, so that seeking to a cursor and walking back
// cross node boundaries: thousands of chats, many with equal times, and
// writes whose times go backwards (not the newest key of their tree).
func TestListsAndCountsOverDeepTrees(t *testing.T) {
	ops := []string{"ann", "bob", "cid"}
	h := newHarness(t)
	h.setup(ops...)
	rng := rand.New(rand.NewSource(2))
	batch := make([]fsm.Command, 0, 100)
	// Skewed like real accounts: few contacts and few emails, so that
	// some cells are rare enough for their own trees (checked below).
	skewed := func(rareShare float64, rare, common []fsm.Source) fsm.Source {
		if rng.Float64() < rareShare {
			return rare[rng.Intn(len(rare))]
		}
		return common[rng.Intn(len(common))]
	}
	for i := 0; i < 3000; i++ {
		ct := fsm.ContactTypeVisitor
		if rng.Float64() < 0.25 {
			ct = fsm.ContactTypeContact
		}
		src := skewed(0.04, []fsm.Source{fsm.SourceEmail}, []fsm.Source{fsm.SourceLandingPage, fsm.SourceChatPage, fsm.SourceExternalPage})
		c := &fsm.CreateChat{Contact: fsm.Contact{Type: ct}, Source: src, Text: "hi"}
		if i%3 == 0 {
			c.Time = h.now // ties with the previous chat
		}
		batch = append(batch, c)
		if len(batch) == cap(batch) {
			h.batch(batch...)
			batch = batch[:0]
		}
	}
	// Unread=false needs replies, closed needs closes: two thirds of
	// the chats get a reply, and half of those are closed (enough for
	// both halves of the all-chats set to keep trees of rare cells).
	for id := int64(1); id <= 3000; id++ {
		if id%3 == 0 {
			continue
		}
		batch = append(batch, &fsm.OperatorMessage{Chat: id, Operator: ops[rng.Intn(len(ops))], Text: "reply"})
		if id%3 == 1 {
			batch = append(batch, &fsm.Close{ChatAction: act(id, ops[0])})
		}
		if len(batch) >= 98 {
			h.batch(batch...)
			batch = batch[:0]
		}
	}
	h.batch(batch...)
	if kept := fsm.RareCellTrees(h.f, h.acct); kept[0] == 0 || kept[1] == 0 {
		t.Fatalf("rare-cell trees kept by half: %v; the test must reach lists that walk them", kept)
	}
	// A snapshot first, so that the writes below clone the shared cell
	// sets, trees and counters before changing them.
	frozen := snapshotBytes(t, h.f)
	randomWorkload(h, rng, 1500, ops)
	checkListsAndCountsPaged(t, h, ops, []int{50, 499})

	// Restore builds the indexes through the same path: the restored
	// state answers alike, and so does the snapshot taken before the
	// writes, restored.
	for _, snap := range [][]byte{snapshotBytes(t, h.f), frozen} {
		restored := *h
		restored.f = fsm.New(fsm.DefaultConfig())
		if err := restored.f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
			t.Fatal(err)
		}
		checkListsAndCountsPaged(t, &restored, ops, []int{50})
	}

	// Cursors need not name a chat: any (time, id) pages from there,
	// whatever the id, in every kind of tree walk.
	all := h.allChats()
	slices.SortFunc(all, listOrder)
	mid := all[len(all)/2]
	for _, after := range []fsm.Cursor{
		{LastActivityAt: mid.LastActivityAt, ID: math.MaxInt64},
		{LastActivityAt: mid.LastActivityAt, ID: math.MaxInt64 >> 3},
		{LastActivityAt: mid.LastActivityAt, ID: 0},
		{LastActivityAt: mid.LastActivityAt, ID: math.MinInt64},
		{LastActivityAt: mid.LastActivityAt, ID: mid.ID},
	} {
		for _, fl := range []fsm.ChatFilter{{}, {Status: fsm.StatusActive}, {Status: fsm.StatusActive, Operator: ops[0]}, {Status: fsm.StatusActive, Unread: fsm.UnreadTrue},
			{Status: fsm.StatusClosed}, {Status: fsm.StatusClosed, ContactType: fsm.ContactTypeVisitor}} {
			var want []int64
			for _, c := range all {
				older := c.LastActivityAt < after.LastActivityAt || c.LastActivityAt == after.LastActivityAt && c.ID < after.ID
				if older && fl.Matches(c) && len(want) < 20 {
					want = append(want, c.ID)
				}
			}
			p, err := h.f.ListChats(h.acct, fsm.ListQuery{Filter: fl, Limit: 20, After: &after})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, c := range p.Chats {
				got = append(got, c.ID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("filter %+v after %+v:\n got %v\nwant %v", fl, after, got, want)
			}
		}
	}
}

func TestListCursorNeverRepeatsOrSkipsUnchangedChats(t *testing.T) {
	h := newHarness(t)
	h.setup("ann")
	for i := 0; i < 20; i++ {
		h.newChat()
	}
	p, err := h.f.ListChats("acme", fsm.ListQuery{Filter: fsm.ChatFilter{Status: fsm.StatusActive}, Limit: 5})
	if err != nil || len(p.Chats) != 5 || p.Chats[0].ID != 20 || p.Next == nil {
		t.Fatalf("page 1: %+v %v", p, err)
	}
	// Chats on the first page change meanwhile; they move to the top and
	// must not show up again on later pages.
	h.ok(&fsm.CustomerMessage{Chat: 19, Text: "again"})
	h.ok(&fsm.CustomerMessage{Chat: 3, Text: "again"})
	seen := map[int64]bool{}
	for _, c := range p.Chats {
		seen[c.ID] = true
	}
	q := fsm.ListQuery{Filter: fsm.ChatFilter{Status: fsm.StatusActive}, Limit: 5, After: p.Next}
	for q.After != nil {
		p, err = h.f.ListChats("acme", q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Chats {
			if seen[c.ID] && c.ID != 3 {
				t.Fatalf("chat %d repeated", c.ID)
			}
			seen[c.ID] = true
		}
		q.After = p.Next
	}
	for id := int64(1); id <= 20; id++ {
		if id != 3 && !seen[id] {
			t.Fatalf("chat %d skipped", id)
		}
	}
	if _, err := h.f.ListChats("acme", fsm.ListQuery{Limit: 0}); !isCode(err, fsm.CodeInvalidField) {
		t.Fatalf("limit 0: %v", err)
	}
	if _, err := h.f.ListChats("nope", fsm.ListQuery{Limit: 1}); !isCode(err, fsm.CodeNotFound) {
		t.Fatalf("missing account: %v", err)
	}
}
