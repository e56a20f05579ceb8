package httpapi

import (
	"bytes"
	"sync/atomic"
	"unsafe"

	"github.com/chatstate/chatstate/fsm"
)

// chatCache remembers the rendered bytes of recently read chat versions,
// so that the list pages operators reload all day are copied, not
// rendered, field by field, again.
//
// Why it is safe: a *fsm.Chat is an immutable version (fsm/DESIGN.md), so
// its rendering never changes, and an entry keeps its version alive, so
// its address cannot be reused by another chat while the entry holds it.
// A change to a chat is a new version at a new address: it misses and
// replaces the entry.
//
// It is direct-mapped and lock-free: each slot holds one entry behind an
// atomic pointer, chosen by the version's address; a collision just
// replaces the older entry. The memory is bounded by the number of slots
// (a rendered chat is about half a kilobyte).
type chatCache struct {
	// slots[0] holds JSON renderings and slots[1] MessagePack ones.
	slots [2][]atomic.Pointer[renderedChat]
	shift uint
}

type renderedChat struct {
	chat *fsm.Chat
	b    []byte
}

// newChatCache returns a cache of at least n slots per encoding (rounded
// up to a power of two), or nil when n < 1: a nil cache renders every time.
func newChatCache(n int) *chatCache {
	if n < 1 {
		return nil
	}
	bits := uint(0)
	for 1<<bits < n {
		bits++
	}
	c := &chatCache{shift: 64 - bits}
	for i := range c.slots {
		c.slots[i] = make([]atomic.Pointer[renderedChat], 1<<bits)
	}
	return c
}

// render appends chat c to e as renderChat does.
func (cc *chatCache) render(e *encoder, c *fsm.Chat) {
	if cc == nil {
		renderChat(e, c)
		return
	}
	format := 0
	if e.mp {
		format = 1
	}
	// Fibonacci hashing of the address: versions are allocated close
	// together, and the multiply spreads neighbours over the table.
	h := uint64(uintptr(unsafe.Pointer(c))) * 0x9e3779b97f4a7c15 >> cc.shift
	slot := &cc.slots[format][h]
	if !e.mp {
		e.sep()         // the comma objectStart would write, so that
		e.comma = false // an entry holds the object alone
	}
	if r := slot.Load(); r != nil && r.chat == c {
		e.b = append(e.b, r.b...)
		e.comma = true // as objectEnd leaves it
		return
	}
	start := len(e.b)
	renderChat(e, c)
	slot.Store(&renderedChat{chat: c, b: bytes.Clone(e.b[start:])})
}
