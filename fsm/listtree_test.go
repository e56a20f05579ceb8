package fsm

import (
	"math/rand"
	"slices"
	"testing"
)

// The list tree's contract, checked against a sorted slice: after any
// sequence of inserts and deletes (appends at the newest end, as most
// writes are, and inserts anywhere, as closes and restores are), every
// walk from any cursor with any cell filter yields exactly the model's
// keys, the tree's invariants hold, and a copy taken before the changes
// still yields what it held.

// checkTree verifies t's structure: sorted keys, exact bounds order,
// exact cell masks, its length, and a consistent height.
func checkTree(t *testing.T, tr *listTree) {
	t.Helper()
	var keys []listKey
	var walk func(n *listInner, h int, lo, hi *listKey) cellMask
	checkLeaf := func(l *listLeaf, lo, hi *listKey) cellMask {
		if l.n == 0 {
			t.Fatalf("empty leaf in the tree")
		}
		for i, k := range l.keys[:l.n] {
			if i > 0 && !listLess(l.keys[i-1], k) {
				t.Fatalf("leaf keys out of order at %d", i)
			}
			if (lo != nil && !listLess(*lo, k)) || (hi != nil && listLess(*hi, k)) {
				t.Fatalf("key %v outside its bounds", k)
			}
		}
		keys = append(keys, l.keys[:l.n]...)
		return l.mask()
	}
	walk = func(n *listInner, h int, lo, hi *listKey) cellMask {
		if n.n == 0 {
			t.Fatalf("empty inner node at height %d", h)
		}
		for i := 0; i < n.n; i++ {
			if i > 0 && !listLess(n.maxes[i-1], n.maxes[i]) {
				t.Fatalf("bounds out of order at height %d", h)
			}
			var kidLo *listKey
			if i > 0 {
				kidLo = &n.maxes[i-1]
			} else {
				kidLo = lo
			}
			kidHi := &n.maxes[i]
			var got cellMask
			if h == 1 {
				if n.leaves[i] == nil || n.inners[i] != nil {
					t.Fatalf("child %d at height 1 is not a leaf", i)
				}
				got = checkLeaf(n.leaves[i], kidLo, kidHi)
			} else {
				if n.inners[i] == nil || n.leaves[i] != nil {
					t.Fatalf("child %d at height %d is not an inner node", i, h)
				}
				got = walk(n.inners[i], h-1, kidLo, kidHi)
			}
			if got != n.masks[i] {
				t.Fatalf("mask of child %d at height %d is %b, its keys have %b", i, h, n.masks[i], got)
			}
		}
		if hi != nil && listLess(*hi, n.maxes[n.n-1]) {
			t.Fatalf("bound above the parent's at height %d", h)
		}
		for i := n.n; i < listInnerCap; i++ {
			if n.leaves[i] != nil || n.inners[i] != nil {
				t.Fatalf("stale child pointer in slot %d", i)
			}
		}
		return n.mask()
	}
	var mask cellMask
	switch {
	case tr.height > 0:
		mask = walk(tr.root, tr.height, nil, nil)
	case tr.leaf != nil:
		mask = checkLeaf(tr.leaf, nil, nil)
	}
	if mask != tr.mask {
		t.Fatalf("tree mask %b, keys have %b", tr.mask, mask)
	}
	if len(keys) != tr.len {
		t.Fatalf("tree says %d keys, holds %d", tr.len, len(keys))
	}
}

// entry is a key of the model and its cell.
type entry struct {
	k    listKey
	cell uint8
}

// checkWalks compares walks of tr with the model (sorted oldest first).
func checkWalks(t *testing.T, rng *rand.Rand, tr *listTree, model []entry) {
	t.Helper()
	filters := []cellMask{^cellMask(0), 1, 1 << 3, 1<<2 | 1<<7, cellMask(rng.Uint32()), cellMask(rng.Uint32()) & cellMask(rng.Uint32())}
	for _, filter := range filters {
		var befores []*listKey
		befores = append(befores, nil)
		for range 4 {
			k := listKey{Millis(rng.Int63n(2000)), rng.Int63n(1 << 20)}
			befores = append(befores, &k)
		}
		if len(model) > 0 {
			k := model[rng.Intn(len(model))].k
			befores = append(befores, &k)
		}
		for _, before := range befores {
			var want []listKey
			for i := len(model) - 1; i >= 0; i-- {
				if (before == nil || listLess(model[i].k, *before)) && filter&cellBit(model[i].cell) != 0 {
					want = append(want, model[i].k)
				}
			}
			var it listIter
			it.seek(tr, filter, before)
			var got []listKey
			for k, ok := it.prev(); ok; k, ok = it.prev() {
				got = append(got, k)
			}
			if _, ok := it.prev(); ok {
				t.Fatalf("a finished walk yields again")
			}
			if !slices.Equal(got, want) {
				t.Fatalf("walk with filter %b before %v: got %d keys, want %d", filter, before, len(got), len(want))
			}
		}
	}
}

func TestListTreeAgainstModel(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		rng := rand.New(rand.NewSource(seed))
		tr := &listTree{gen: 1}
		var model []entry
		var nextID int64
		now := Millis(1000)
		type frozen struct {
			tree  listTree
			model []entry
		}
		var copies []frozen
		newKey := func(at Millis) entry {
			nextID++
			return entry{listKey{at, nextID}, uint8(rng.Intn(numCells))}
		}
		add := func(e entry) {
			tr.insert(e.k, e.cell)
			i, found := slices.BinarySearchFunc(model, e, func(a, b entry) int {
				switch {
				case listLess(a.k, b.k):
					return -1
				case listLess(b.k, a.k):
					return 1
				}
				return 0
			})
			if found {
				t.Fatalf("model already holds %v", e.k)
			}
			model = slices.Insert(model, i, e)
		}
		remove := func(i int) {
			if !tr.delete(model[i].k, model[i].cell) {
				t.Fatalf("delete of a present key %v failed", model[i].k)
			}
			model = slices.Delete(model, i, i+1)
		}
		// Rounds grow the tree to several levels, then shrink it to
		// nothing, so that splits, merges and root collapses all happen.
		for round := range 12 {
			target := []int{5000, 20000, 300, 12000, 0, 9000}[round%6]
			for steps := 0; steps < 25000 && len(model) != target; steps++ {
				switch r := rng.Intn(10); {
				case len(model) < target && r < 6:
					now += Millis(rng.Intn(3))
					add(newKey(now)) // the newest: an append
				case len(model) < target && r < 8:
					add(newKey(Millis(rng.Int63n(int64(now) + 1)))) // anywhere
				case len(model) > 0 && r < 9:
					// A move: the old key goes, the chat becomes newest,
					// maybe in another cell.
					i := rng.Intn(len(model))
					old := model[i]
					remove(i)
					now++
					add(entry{listKey{now, old.k.id}, uint8(rng.Intn(numCells))})
				case len(model) > target:
					remove(rng.Intn(len(model)))
				}
			}
			if tr.delete(listKey{-1, 0}, 0) || tr.delete(listKey{now + 1, 0}, 0) {
				t.Fatalf("delete of an absent key succeeded")
			}
			checkTree(t, tr)
			checkWalks(t, rng, tr, model)
			for _, c := range copies {
				checkTree(t, &c.tree)
				checkWalks(t, rng, &c.tree, c.model)
			}
			// Freeze a copy, as a snapshot does, and move on in a new
			// generation.
			copies = append(copies, frozen{tree: *tr, model: slices.Clone(model)})
			tr.gen++
		}
		if tr.height < 2 {
			t.Fatalf("seed %d: the tree never grew past height %d; the test does not reach deep trees", seed, tr.height)
		}
	}
}

// TestRareCellTreeFollowsItsShare grows a cell from rare to common and back
// in a large half and checks that reviewCell builds the cell's own tree,
// drops it, and builds it again holding exactly the cell's keys, with the
// gap between the limits that keeps a tree from flapping.
func TestRareCellTreeFollowsItsShare(t *testing.T) {
	const rare, common = 3, 4 // active cells
	cs := &cellSet{gen: 1}
	var row comboRow
	var rareKeys []listKey
	at := Millis(0)
	put := func(cell int) {
		at++
		k := listKey{at, int64(at)}
		cs.insert(cell, k)
		s, ct, src, unread := cellValues(cell)
		row.add(s, ct, src, unread, 1)
		if cell == rare {
			rareKeys = append(rareKeys, k)
		}
		cs.reviewCell(cell, &row)
	}
	drop := func() {
		k := rareKeys[0]
		rareKeys = rareKeys[1:]
		cs.remove(rare, k)
		s, ct, src, unread := cellValues(rare)
		row.add(s, ct, src, unread, -1)
		cs.reviewCell(rare, &row)
	}
	checkKept := func(want bool, when string) {
		t.Helper()
		got := cs.cells[rare]
		if (got != nil) != want {
			t.Fatalf("%s: rare cell's tree kept = %v, want %v (%d of %d chats)", when, got != nil, want, cellCount(&row, rare), row[mustCombo(StatusActive, ContactTypeAny, SourceAny, UnreadAny)])
		}
		if got == nil {
			return
		}
		var it listIter
		it.seek(got, cellBit(rare), nil)
		var walked []listKey
		for k, ok := it.prev(); ok; k, ok = it.prev() {
			walked = append(walked, k)
		}
		slices.Reverse(walked)
		if !slices.Equal(walked, rareKeys) {
			t.Fatalf("%s: the rare cell's tree holds %d keys, the cell %d", when, len(walked), len(rareKeys))
		}
	}

	for range cellTreeMinHalf - 1 {
		put(common)
	}
	total := func() int { return len(rareKeys) + cellTreeMinHalf - 1 }
	put(rare) // 1 of 512 chats
	checkKept(true, "a cell at 1/512")
	for len(rareKeys)*rareCellShare/2 <= total() {
		put(rare)
		checkKept(len(rareKeys)*rareCellShare/2 <= total(), "growing")
	}
	checkKept(false, "a cell over twice the rare share")
	for (len(rareKeys)-1)*rareCellShare >= total()-1 {
		drop()
		checkKept(false, "shrinking within the gap")
	}
	drop()
	checkKept(true, "a cell back under the rare share")
}
