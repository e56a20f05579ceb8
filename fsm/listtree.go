package fsm

import "slices"

// listTree is one half (active or closed chats) of a cell set's list
// index: a B+tree of list keys, oldest first, that keeps each key's cell
// beside it, and in which every inner node records, for each child, the
// set of cells found under it.
//
// Why not one tree per cell: a chat's move (every message moves it to the
// newest end) then costs a delete and an insert in the tree of its cell,
// and again in a tree holding every cell of its half (a filter that spans
// many cells must not merge many trees). Deletes of old keys, scattered
// over the account's chats, are cache misses at every level, and they
// were half of Apply's time. With the cell masks a single tree serves
// every filter: a walk skips each child whose mask has none of the cells
// it wants, so it visits only leaves that hold a matching chat, and a
// move costs one delete and one insert per cell set.
//
// Keys live inline in fixed-size nodes, so that a level of the descent
// costs one node's cache lines and no hops through separate slices. A
// leaf keeps its keys' cells in a separate array of bytes: a walk for a
// rare cell (a chat in 36 of the big account's closed chats is a contact
// who wrote by email) checks 64 cells on one cache line per leaf and
// reads only the keys that match, instead of the leaf's 16 lines of keys.
//
// Copy-on-write: every node carries the generation it was created or
// cloned in. A tree clones a node of an older generation before its first
// change (see cellSet.clone); a frozen tree is never changed, so readers
// of a snapshot see exactly what it held.
//
// Inner nodes route by upper bounds: maxes[i] is at least every key under
// child i and below every key under child i+1. Bounds are exact after
// splits and merges; a delete may leave one above its child's new
// largest key, which routes the same.
type listTree struct {
	gen    uint64
	height int        // inner levels above the leaves; 0 when the root is a leaf
	len    int        // keys in the tree
	mask   cellMask   // cells of the keys in the tree
	leaf   *listLeaf  // the root when height == 0; nil when the tree is empty
	root   *listInner // the root when height > 0
}

const (
	listLeafCap  = 64
	listInnerCap = 64
	// listMaxHeight bounds the inner levels, for the iterator's path: a
	// root splits only when full, so height h takes about 32^h keys.
	listMaxHeight = 16
)

type listLeaf struct {
	gen   uint64
	n     int
	cells [listLeafCap]uint8 // cells[i] is the cell of keys[i]
	keys  [listLeafCap]listKey
}

type listInner struct {
	gen   uint64
	n     int
	maxes [listInnerCap]listKey
	masks [listInnerCap]cellMask
	// Children are leaves at height 1 and inner nodes above.
	inners [listInnerCap]*listInner
	leaves [listInnerCap]*listLeaf
}

func cellBit(cell uint8) cellMask { return 1 << cell }

// search returns the index of the first key not older than k.
func (l *listLeaf) search(k listKey) int { return firstNotOlder(l.keys[:l.n], k) }

// route returns the first child whose bound is not older than k, or n.n
// when k is beyond every bound.
func (n *listInner) route(k listKey) int { return firstNotOlder(n.maxes[:n.n], k) }

// firstNotOlder bisects keys (oldest first) for the first key not older
// than k.
func firstNotOlder(keys []listKey, k listKey) int {
	lo, hi := 0, len(keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if listLess(keys[m], k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (l *listLeaf) has(cell uint8) bool {
	return slices.Contains(l.cells[:l.n], cell)
}

func (l *listLeaf) mask() cellMask {
	var m cellMask
	for _, c := range l.cells[:l.n] {
		m |= cellBit(c)
	}
	return m
}

func (n *listInner) mask() cellMask {
	var m cellMask
	for _, c := range n.masks[:n.n] {
		m |= c
	}
	return m
}

func (l *listLeaf) insertAt(i int, k listKey, cell uint8) {
	copy(l.keys[i+1:l.n+1], l.keys[i:l.n])
	copy(l.cells[i+1:l.n+1], l.cells[i:l.n])
	l.keys[i], l.cells[i] = k, cell
	l.n++
}

func (l *listLeaf) removeAt(i int) {
	copy(l.keys[i:], l.keys[i+1:l.n])
	copy(l.cells[i:], l.cells[i+1:l.n])
	l.n--
}

// moveHalf moves l's keys from half on to the empty leaf r.
func (l *listLeaf) moveHalf(half int, r *listLeaf) {
	r.n = copy(r.keys[:], l.keys[half:l.n])
	copy(r.cells[:], l.cells[half:l.n])
	l.n = half
}

// insertKid puts a child with bound max and cells mask at i (exactly one
// of leaf and inner is set).
func (n *listInner) insertKid(i int, max listKey, mask cellMask, leaf *listLeaf, inner *listInner) {
	copy(n.maxes[i+1:n.n+1], n.maxes[i:n.n])
	copy(n.masks[i+1:n.n+1], n.masks[i:n.n])
	copy(n.leaves[i+1:n.n+1], n.leaves[i:n.n])
	copy(n.inners[i+1:n.n+1], n.inners[i:n.n])
	n.maxes[i], n.masks[i], n.leaves[i], n.inners[i] = max, mask, leaf, inner
	n.n++
}

func (n *listInner) removeKid(i int) {
	copy(n.maxes[i:], n.maxes[i+1:n.n])
	copy(n.masks[i:], n.masks[i+1:n.n])
	copy(n.leaves[i:], n.leaves[i+1:n.n])
	copy(n.inners[i:], n.inners[i+1:n.n])
	n.n--
	// Let the collector have what the last slot pointed to.
	n.leaves[n.n], n.inners[n.n] = nil, nil
}

func (t *listTree) ownLeaf(l *listLeaf) *listLeaf {
	if l.gen == t.gen {
		return l
	}
	c := new(listLeaf)
	*c = *l
	c.gen = t.gen
	return c
}

func (t *listTree) ownInner(n *listInner) *listInner {
	if n.gen == t.gen {
		return n
	}
	c := new(listInner)
	*c = *n
	c.gen = t.gen
	return c
}

// insert adds k, of cell cell, which must not be in the tree.
func (t *listTree) insert(k listKey, cell uint8) {
	t.len++
	t.mask |= cellBit(cell)
	if t.height == 0 {
		if t.leaf == nil {
			t.leaf = &listLeaf{gen: t.gen}
		}
		l := t.ownLeaf(t.leaf)
		t.leaf = l
		if r := t.insertLeaf(l, k, cell, true); r != nil {
			root := &listInner{gen: t.gen}
			root.insertKid(0, l.keys[l.n-1], l.mask(), l, nil)
			root.insertKid(1, r.keys[r.n-1], r.mask(), r, nil)
			t.root, t.leaf, t.height = root, nil, 1
		}
		return
	}
	root := t.ownInner(t.root)
	t.root = root
	if r := t.insertInner(root, t.height, k, cell, true); r != nil {
		if t.height == listMaxHeight {
			panic("fsm: list index deeper than listMaxHeight")
		}
		n := &listInner{gen: t.gen}
		n.insertKid(0, root.maxes[root.n-1], root.mask(), nil, root)
		n.insertKid(1, r.maxes[r.n-1], r.mask(), nil, r)
		t.root = n
		t.height++
	}
}

// insertLeaf inserts k into l (owned) and returns l's new right sibling
// if l was full. rightmost says that l is the tree's last leaf: a key
// appended there (a chat becoming the newest, nearly every write) starts
// a new leaf instead of halving l, so that leaves filled by appends stay
// full.
func (t *listTree) insertLeaf(l *listLeaf, k listKey, cell uint8, rightmost bool) *listLeaf {
	// Most inserts append: checking the last key first reads one cache
	// line of a cold leaf instead of bisecting through five.
	i := l.n
	if i > 0 && !listLess(l.keys[i-1], k) {
		i = l.search(k)
	}
	if l.n < listLeafCap {
		l.insertAt(i, k, cell)
		return nil
	}
	r := &listLeaf{gen: t.gen}
	if rightmost && i == l.n {
		r.insertAt(0, k, cell)
		return r
	}
	half := l.n / 2
	l.moveHalf(half, r)
	if i <= half {
		l.insertAt(i, k, cell)
	} else {
		r.insertAt(i-half, k, cell)
	}
	return r
}

// insertInner inserts k under n (owned, at height h) and returns n's new
// right sibling if n had to split.
func (t *listTree) insertInner(n *listInner, h int, k listKey, cell uint8, rightmost bool) *listInner {
	i := n.route(k)
	if i == n.n {
		// Beyond every key: the last child takes it, and its bound grows.
		i = n.n - 1
		n.maxes[i] = k
	}
	n.masks[i] |= cellBit(cell)
	rightmost = rightmost && i == n.n-1
	if h == 1 {
		l := t.ownLeaf(n.leaves[i])
		n.leaves[i] = l
		r := t.insertLeaf(l, k, cell, rightmost)
		if r == nil {
			return nil
		}
		bound := n.maxes[i]
		n.maxes[i], n.masks[i] = l.keys[l.n-1], l.mask()
		return t.addKid(n, i+1, bound, r.mask(), r, nil, rightmost)
	}
	c := t.ownInner(n.inners[i])
	n.inners[i] = c
	r := t.insertInner(c, h-1, k, cell, rightmost)
	if r == nil {
		return nil
	}
	bound := n.maxes[i]
	n.maxes[i], n.masks[i] = c.maxes[c.n-1], c.mask()
	return t.addKid(n, i+1, bound, r.mask(), nil, r, rightmost)
}

// addKid inserts a child at i of n, splitting n if it is full; it returns
// n's new right sibling, if any. As in insertLeaf, a child appended to
// the tree's last inner node of its level starts a new node.
func (t *listTree) addKid(n *listInner, i int, max listKey, mask cellMask, leaf *listLeaf, inner *listInner, rightmost bool) *listInner {
	if n.n < listInnerCap {
		n.insertKid(i, max, mask, leaf, inner)
		return nil
	}
	r := &listInner{gen: t.gen}
	if rightmost && i == n.n {
		r.insertKid(0, max, mask, leaf, inner)
		return r
	}
	half := n.n / 2
	r.n = copy(r.maxes[:], n.maxes[half:n.n])
	copy(r.masks[:], n.masks[half:n.n])
	copy(r.leaves[:], n.leaves[half:n.n])
	copy(r.inners[:], n.inners[half:n.n])
	clear(n.leaves[half:n.n])
	clear(n.inners[half:n.n])
	n.n = half
	if i <= half {
		n.insertKid(i, max, mask, leaf, inner)
	} else {
		r.insertKid(i-half, max, mask, leaf, inner)
	}
	return r
}

// delete removes k, of cell cell, and reports whether it was in the tree.
func (t *listTree) delete(k listKey, cell uint8) bool {
	if t.height == 0 {
		l := t.leaf
		if l == nil {
			return false
		}
		i := l.search(k)
		if i == l.n || l.keys[i] != k {
			return false
		}
		l = t.ownLeaf(l)
		t.leaf = l
		l.removeAt(i)
		t.len--
		if l.n == 0 {
			t.leaf = nil
		}
		if !l.has(cell) {
			t.mask &^= cellBit(cell)
		}
		return true
	}
	root := t.ownInner(t.root)
	t.root = root
	found, cellLeft := t.deleteInner(root, t.height, k, cell)
	if !found {
		return false
	}
	t.len--
	if !cellLeft {
		t.mask &^= cellBit(cell)
	}
	for t.height > 0 && t.root.n <= 1 {
		switch {
		case t.root.n == 0:
			t.root, t.height = nil, 0
		case t.height == 1:
			t.leaf, t.root, t.height = t.root.leaves[0], nil, 0
		default:
			t.root, t.height = t.root.inners[0], t.height-1
		}
	}
	return true
}

// deleteInner removes k from under n (owned, at height h). It reports
// whether k was there and whether n still holds a key of k's cell.
func (t *listTree) deleteInner(n *listInner, h int, k listKey, cell uint8) (found, cellLeft bool) {
	bit := cellBit(cell)
	i := n.route(k)
	if i == n.n {
		return false, true
	}
	if h == 1 {
		l := n.leaves[i]
		j := l.search(k)
		if j == l.n || l.keys[j] != k {
			return false, true
		}
		l = t.ownLeaf(l)
		n.leaves[i] = l
		l.removeAt(j)
		switch {
		case l.n == 0:
			n.removeKid(i)
		case !l.has(cell):
			n.masks[i] &^= bit
			t.mergeLeaves(n, i)
		default:
			t.mergeLeaves(n, i)
		}
	} else {
		c := t.ownInner(n.inners[i])
		n.inners[i] = c
		found, left := t.deleteInner(c, h-1, k, cell)
		if !found {
			return false, true
		}
		if c.n == 0 {
			n.removeKid(i)
		} else {
			if !left {
				n.masks[i] &^= bit
			}
			t.mergeInners(n, i)
		}
	}
	return true, n.mask()&bit != 0
}

// mergeLeaves merges leaf i of n into a neighbour when it has fallen below
// a quarter of its capacity and both fit in three quarters (so that a
// merged leaf does not split again at the next few inserts).
func (t *listTree) mergeLeaves(n *listInner, i int) {
	if n.leaves[i].n >= listLeafCap/4 || n.n < 2 {
		return
	}
	a := max(i-1, 0) // merge child a+1 into child a
	left, right := n.leaves[a], n.leaves[a+1]
	if left.n+right.n > listLeafCap*3/4 {
		return
	}
	left = t.ownLeaf(left)
	n.leaves[a] = left
	copy(left.cells[left.n:], right.cells[:right.n])
	left.n += copy(left.keys[left.n:], right.keys[:right.n])
	n.masks[a+1] |= n.masks[a]
	n.removeKid(a) // child a+1's bound and mask now describe the merged leaf
	n.leaves[a] = left
}

// mergeInners is mergeLeaves for inner children.
func (t *listTree) mergeInners(n *listInner, i int) {
	if n.inners[i].n >= listInnerCap/4 || n.n < 2 {
		return
	}
	a := max(i-1, 0)
	left, right := n.inners[a], n.inners[a+1]
	if left.n+right.n > listInnerCap*3/4 {
		return
	}
	left = t.ownInner(left)
	copy(left.maxes[left.n:], right.maxes[:right.n])
	copy(left.masks[left.n:], right.masks[:right.n])
	copy(left.leaves[left.n:], right.leaves[:right.n])
	copy(left.inners[left.n:], right.inners[:right.n])
	left.n += right.n
	n.masks[a+1] |= n.masks[a]
	n.removeKid(a)
	n.inners[a] = left
}

// listIter walks a tree backwards (newest first), yielding only keys of
// the cells in its filter and skipping every subtree without one. It
// allocates nothing.
type listIter struct {
	filter cellMask
	height int
	path   [listMaxHeight]struct {
		n *listInner
		i int
	}
	leaf *listLeaf
	pos  int // leaf.keys[:pos] are still to be walked
}

// seek positions it before the first key of t not older than before (nil:
// after t's last key), so that prev yields the keys older than before.
func (it *listIter) seek(t *listTree, filter cellMask, before *listKey) {
	it.filter, it.height, it.leaf, it.pos = filter, t.height, nil, 0
	if t.mask&filter == 0 {
		it.height = 0
		return
	}
	l := t.leaf
	if t.height > 0 {
		n := t.root
		for d := 0; d < t.height; d++ {
			i := n.n - 1
			if before != nil {
				i = min(n.route(*before), n.n-1)
			}
			it.path[d].n, it.path[d].i = n, i
			if d == t.height-1 {
				l = n.leaves[i]
			} else {
				n = n.inners[i]
			}
		}
	}
	it.leaf, it.pos = l, l.n
	if before != nil {
		it.pos = l.search(*before)
	}
}

// prev returns the next key in list order, or false at the end.
func (it *listIter) prev() (listKey, bool) {
	for {
		for it.pos > 0 {
			it.pos--
			if it.filter&cellBit(it.leaf.cells[it.pos]) != 0 {
				return it.leaf.keys[it.pos], true
			}
		}
		if !it.prevLeaf() {
			return listKey{}, false
		}
	}
}

// prevLeaf moves to the end of the nearest leaf to the left that holds a
// key of the filter's cells.
func (it *listIter) prevLeaf() bool {
	d := it.height - 1
	for ; d >= 0; d-- {
		p := &it.path[d]
		p.i--
		for p.i >= 0 && p.n.masks[p.i]&it.filter == 0 {
			p.i--
		}
		if p.i >= 0 {
			break
		}
	}
	if d < 0 {
		it.height, it.pos = 0, 0 // exhausted: prev returns false from now on
		return false
	}
	// Masks are exact, so the rightmost child with a matching mask leads
	// down to a leaf with a matching key.
	for ; d < it.height-1; d++ {
		c := it.path[d].n.inners[it.path[d].i]
		j := c.n - 1
		for c.masks[j]&it.filter == 0 {
			j--
		}
		it.path[d+1].n, it.path[d+1].i = c, j
	}
	p := it.path[it.height-1]
	it.leaf = p.n.leaves[p.i]
	it.pos = it.leaf.n
	return true
}
