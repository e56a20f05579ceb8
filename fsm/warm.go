package fsm

// Warming a batch before applying it.
//
// Applying one command is mostly waiting for memory: a message walks the
// account, the chat table, the chat, its contact, two list trees down to
// the leaf that holds the chat's old key, the operator and the counters,
// forty or so cache misses into a heap of gigabytes, each one depending on
// the one before. The core waits for them one at a time.
//
// The commands of a batch do not depend on each other's misses, though.
// So before applying a batch, warm walks every command's paths together,
// one step for all of them at a time: the loads of one step are
// independent, and the core has many of them in flight at once. Apply then
// finds its lines in the cache. Warming only reads, so it cannot change
// what Apply does; at worst a line it fetched is stale (an earlier command
// of the batch moved it) and Apply misses as it would have.

// warmPath is one command's walk, filled in step by step.
type warmPath struct {
	acc      *account
	chat     int64 // the chat's id; 0 for commands without one, or none found
	c        *Chat
	actor    string // the acting operator, "" for none
	actorOrd int32  // the actor's ordinal, -1 for none
	assignee int32  // the chat's assignee's ordinal, -1 for none
	key      listKey
	// Two trees lead to the chat's old key (its half in the all-chats set
	// and in its assignee's), two to where most writes put its new key
	// (the end of the active half of each).
	trees [4]warmDescent
}

// warmDescent is a walk down one list tree towards a key, or along its
// right edge.
type warmDescent struct {
	height int // levels left above the leaf; -1 when done
	inner  *listInner
	leaf   *listLeaf
	edge   bool // follow the last child rather than the key
}

// warmer keeps the paths between batches and the sum of what it read.
type warmer struct {
	off   bool // for benchmarks that compare Apply without warming
	paths []warmPath
	// sink takes every value warm reads, so that the compiler cannot drop
	// the loads as unused.
	sink uint64
}

// warm reads what cmds will touch in st, step by step across commands.
func (w *warmer) warm(st *state, cmds []Command) {
	paths := w.paths[:0]
	for _, cmd := range cmds {
		chat, actor := commandTarget(cmd)
		if chat < 1 {
			continue
		}
		// The accounts tree's upper levels are shared by every command,
		// so the lookup is cheap once the first command has walked it.
		acc, _ := st.accounts.Get(cmd.Head().Account)
		if acc == nil {
			continue
		}
		paths = append(paths, warmPath{acc: acc, chat: chat, actor: actor})
	}
	w.paths = paths
	var s uint64
	// The chat table's chunk.
	for i := range paths {
		p := &paths[i]
		if p.chat > p.acc.numChats {
			p.chat = 0
			continue
		}
		s += p.acc.chats[(p.chat-1)/chatChunkSize].gen
	}
	// The chat's slot in it; the event window's and text block's ends.
	for i := range paths {
		p := &paths[i]
		if p.chat == 0 {
			continue
		}
		a := p.acc
		p.c = a.chat(p.chat)
		if n := len(a.eventChunks); n > 0 {
			last := a.eventChunks[n-1]
			if len(last) > 0 {
				s += uint64(last[len(last)-1].typeAt)
			}
		}
		if n := len(a.texts); n > 0 {
			s += uint64(a.texts[n-1])
		}
	}
	// The chat itself.
	for i := range paths {
		p := &paths[i]
		if p.c == nil {
			continue
		}
		p.key = keyOf(p.c)
	}
	// What the chat leads to: its contact, the end of its transcript, its
	// participants, and the ordinals of its assignee and of the actor.
	for i := range paths {
		p := &paths[i]
		c := p.c
		if c == nil {
			continue
		}
		s += uint64(c.Contact.Type)
		if n := len(c.transcript); n > 0 {
			s += uint64(c.transcript[n-1].Seq)
		}
		s += uint64(len(c.Participants()))
		p.assignee = -1
		if ord, ok := p.acc.ords[c.Assignee]; ok && int(ord) < len(p.acc.assignees) {
			p.assignee = ord
		}
		p.actorOrd = -1
		if ord, ok := p.acc.ords[p.actor]; ok && p.actor != "" && int(ord) < len(p.acc.opByOrd) {
			p.actorOrd = ord
		}
	}
	// The operators, the counters, and the trees' roots.
	for i := range paths {
		p := &paths[i]
		if p.c == nil {
			continue
		}
		a := p.acc
		h := half(cellOf(p.c))
		if p.actorOrd >= 0 {
			if o := a.opByOrd[p.actorOrd]; o != nil {
				s += o.gen + uint64(len(o.rec.ID))
			}
		}
		s += touchRow(&a.counts[0])
		p.trees[0] = startDescent(&a.all.halves[h], false)
		p.trees[1] = startDescent(&a.all.halves[0], true)
		p.trees[2].height, p.trees[3].height = -1, -1
		if ord := p.assignee; ord >= 0 {
			s += touchRow(&a.counts[ord+1])
			if int(ord) < len(a.opByOrd) && a.opByOrd[ord] != nil {
				s += uint64(len(a.opByOrd[ord].inbox))
			}
			p.trees[2] = startDescent(&a.assignees[ord].halves[h], false)
			p.trees[3] = startDescent(&a.assignees[ord].halves[0], true)
		}
	}
	// Down the trees, a level at a time.
	for more := true; more; {
		more = false
		for i := range paths {
			p := &paths[i]
			if p.c == nil {
				continue
			}
			for t := range p.trees {
				d := &p.trees[t]
				if d.height < 0 {
					continue
				}
				s += d.step(p.key)
				more = more || d.height >= 0
			}
		}
	}
	w.sink += s
	// The kept slice must not hold versions of the state alive.
	clear(paths)
}

// touchRow reads every cache line of a counters row.
func touchRow(r *comboRow) uint64 {
	var s uint64
	for j := 0; j < numCombos; j += 16 {
		s += uint64(r[j])
	}
	return s
}

func startDescent(t *listTree, edge bool) warmDescent {
	switch {
	case t.height > 0:
		return warmDescent{height: t.height, inner: t.root, edge: edge}
	case t.leaf != nil:
		return warmDescent{leaf: t.leaf, edge: edge}
	}
	return warmDescent{height: -1}
}

// step reads the node d is at, every line a search of it reads, and moves
// to the child towards k.
func (d *warmDescent) step(k listKey) uint64 {
	var s uint64
	if d.height == 0 {
		l := d.leaf
		if d.edge {
			// An append reads the last key and its cell.
			s += uint64(l.keys[max(l.n-1, 0)].at) + uint64(l.cells[max(l.n-1, 0)])
		} else {
			for i := 0; i < l.n; i += 4 {
				s += uint64(l.keys[i].at)
			}
			s += uint64(l.cells[0])
		}
		d.height = -1
		return s
	}
	n := d.inner
	i := n.n - 1
	if d.edge {
		s += uint64(n.maxes[i].at)
	} else {
		for j := 0; j < n.n; j += 4 {
			s += uint64(n.maxes[j].at)
		}
		i = min(n.route(k), i)
	}
	s += uint64(n.masks[i])
	d.height--
	if d.height == 0 {
		d.leaf = n.leaves[i]
	} else {
		d.inner = n.inners[i]
	}
	return s
}

// commandTarget returns the chat cmd acts on (0 for none) and the
// operator who acts ("" for none).
func commandTarget(cmd Command) (chat int64, actor string) {
	switch c := cmd.(type) {
	case *CustomerMessage:
		return c.Chat, ""
	case *OperatorMessage:
		return c.Chat, c.Operator
	case *Assign:
		return c.Chat, c.By
	case interface{ action() *ChatAction }:
		a := c.action()
		return a.Chat, a.Operator
	}
	return 0, ""
}

func (c *ChatAction) action() *ChatAction { return c }
