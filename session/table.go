// Package session keeps l7lb's sticky sessions: a bounded table that pins
// session ids to servers, and a signed cookie codec that lets a client carry
// its server with it.
package session

import (
	"math"
	"strings"
	"sync"
)

// maxPins is the most pins a Table can hold: slots are numbered by int32 to
// keep entries small, and slot 0 is the list's sentinel.
const maxPins = math.MaxInt32 - 1

// Table pins session ids to server ids. It holds at most a set number of
// pins and, when full, drops the least recently used one. A Table is safe
// for concurrent use.
//
// The recency order is strict and global: one mutex guards the whole table,
// because a sharded table would only evict the least recently used pin of
// a shard.
type Table struct {
	mu    sync.Mutex
	max   int
	index map[string]int32 // id → slot in entries
	// entries is a slab of list nodes linked by slot number, so that the
	// recency list costs no allocation per operation and half the memory
	// of pointer links. entries[0] is the sentinel of the circular list:
	// its next is the most recently used pin and its prev the least
	// recently used one.
	entries []entry
	free    int32 // first free slot, chained through next; 0 when none
}

type entry struct {
	id, server string
	prev, next int32
}

// NewTable returns an empty table that holds at most max pins. It panics
// when max is below 1; a max above what a Table can hold (about 2^31) is
// lowered to it.
func NewTable(max int) *Table {
	t := &Table{index: make(map[string]int32), entries: make([]entry, 1)}
	t.max = clampMax(max)
	return t
}

func clampMax(max int) int {
	if max < 1 {
		panic("session: table size below 1")
	}
	return min(max, maxPins)
}

// Get returns the server id pinned to id and marks the pin as the most
// recently used.
func (t *Table) Get(id string) (server string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[id]
	if !ok {
		return "", false
	}
	t.moveToFront(i)
	return t.entries[i].server, true
}

// Peek returns the server id pinned to id without changing its recency.
func (t *Table) Peek(id string) (server string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[id]
	if !ok {
		return "", false
	}
	return t.entries[i].server, true
}

// Pin pins id to server, or re-pins it, and marks the pin as the most
// recently used. When the table is full, the least recently used pin is
// dropped to make room.
//
// id is copied, since callers pass strings that alias reusable buffers;
// server is kept as given, since server ids are long-lived configuration
// strings.
func (t *Table) Pin(id, server string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.index[id]; ok {
		t.entries[i].server = server
		t.moveToFront(i)
		return
	}
	if len(t.index) >= t.max {
		t.evictOldest()
	}
	id = strings.Clone(id)
	i := t.alloc()
	t.entries[i] = entry{id: id, server: server}
	t.index[id] = i
	t.link(i)
}

// Len returns the number of pins held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.index)
}

// SetMax changes the most pins the table holds, as [NewTable] takes it.
// Shrinking drops the least recently used pins down to max and gives their
// memory back.
func (t *Table) SetMax(max int) {
	max = clampMax(max)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.max = max
	if len(t.index) > max {
		for len(t.index) > max {
			t.evictOldest()
		}
		t.compact()
	}
}

// compact rebuilds the slab and the map at the size of the pins held: a Go
// map never shrinks, and the slab would keep every freed slot.
func (t *Table) compact() {
	old := t.entries
	t.entries = make([]entry, 1, len(t.index)+1)
	t.index = make(map[string]int32, len(t.index))
	t.free = 0
	// Walk from the least recently used pin to the most recent, pushing
	// each to the front, which rebuilds the same order.
	for i := old[0].prev; i != 0; i = old[i].prev {
		n := int32(len(t.entries))
		t.entries = append(t.entries, entry{id: old[i].id, server: old[i].server})
		t.index[old[i].id] = n
		t.link(n)
	}
}

// alloc returns a free slot, reusing a freed one first.
func (t *Table) alloc() int32 {
	if i := t.free; i != 0 {
		t.free = t.entries[i].next
		return i
	}
	t.entries = append(t.entries, entry{})
	return int32(len(t.entries) - 1)
}

// evictOldest drops the least recently used pin; the table is not empty.
func (t *Table) evictOldest() {
	i := t.entries[0].prev
	t.unlink(i)
	delete(t.index, t.entries[i].id)
	// Clearing the strings lets the collector free the evicted id.
	t.entries[i] = entry{next: t.free}
	t.free = i
}

// link inserts slot i at the front of the recency list.
func (t *Table) link(i int32) {
	e := t.entries
	first := e[0].next
	e[i].prev, e[i].next = 0, first
	e[first].prev = i
	e[0].next = i
}

// unlink takes slot i out of the recency list.
func (t *Table) unlink(i int32) {
	e := t.entries
	e[e[i].prev].next = e[i].next
	e[e[i].next].prev = e[i].prev
}

func (t *Table) moveToFront(i int32) {
	if t.entries[0].next != i {
		t.unlink(i)
		t.link(i)
	}
}
