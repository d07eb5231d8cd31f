// Package session keeps l7lb's sticky sessions: a bounded table that pins
// session ids to servers, and a signed cookie codec that lets a client carry
// its server with it.
package session

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
)

// maxPins is the most pins a Table can hold: slots are numbered by int32 to
// keep links small, and slot 0 is the list's sentinel.
const maxPins = math.MaxInt32 - 1

// inlineID is the longest id an entry holds itself. Ids l7lb issues and
// typical cookie ids fit; longer ones live in the table's arena.
const inlineID = 24

// recordHeader is the size of an arena record's header: the slot of the
// record's pin (0 once the pin is dropped) and the id's length, as uint32s.
const recordHeader = 8

// Table pins session ids to server ids. It holds at most a set number of
// pins and, when full, drops the least recently used one. A Table is safe
// for concurrent use.
//
// The recency order is strict and global: one mutex guards the whole table,
// because a sharded table would only evict the least recently used pin of
// a shard.
//
// Nothing a Table keeps per pin holds a Go pointer, so the garbage
// collector does not scan a table of a million pins and writing one needs
// no write barrier: ids are copied into fixed-size entries (long ones into
// a byte arena), and a pin's server is a number in a short list of
// interned server ids. Its memory follows the pins it holds, not its max.
type Table struct {
	mu   sync.Mutex
	max  int
	seed maphash.Seed // keeps the index's probe sequences unpredictable

	// index maps ids to slots by open addressing with linear probing. An
	// element holds the top 32 bits of the id's hash (its tag, whose low
	// bits give its home position) above its slot number; slot 0 is never
	// indexed, so 0 marks an empty element. Deletion shifts the following
	// elements back instead of leaving tombstones.
	index []uint64

	// entries and links are slabs indexed by slot. links[0] is the sentinel
	// of the circular recency list: its next is the most recently used pin
	// and its prev the least recently used one. Slots 1 to Len() all hold
	// pins: an evicted pin's slot is reused at once, and SetMax compacts.
	entries []entry
	links   []link

	// arena holds the ids longer than inlineID as records: a header (see
	// recordHeader), then the id's bytes. Dropped pins leave garbage
	// records, which are squeezed out before the arena would grow.
	arena        []byte
	arenaGarbage int // bytes of garbage records

	// servers are the interned server ids, by number. A server id is
	// dropped when its last pin goes, leaving its number free for reuse,
	// so the list is as long as the most server ids pinned at once.
	servers     []pinnedServer
	serverNum   map[string]uint32
	freeServers []uint32
}

// entry is a pin's id and server.
type entry struct {
	// id holds the id when it fits; otherwise its first 8 bytes hold the
	// offset of its record in the arena.
	id     [inlineID]byte
	idLen  uint32
	server uint32 // number in Table.servers
}

type link struct{ prev, next int32 }

type pinnedServer struct {
	id   string
	pins int // pins to this server; 0 when the number is free
}

// NewTable returns an empty table that holds at most max pins. It panics
// when max is below 1; a max above what a Table can hold (about 2^31) is
// lowered to it.
func NewTable(max int) *Table {
	return &Table{
		max:       clampMax(max),
		seed:      maphash.MakeSeed(),
		index:     make([]uint64, indexSize(0)),
		entries:   make([]entry, 1),
		links:     make([]link, 1),
		serverNum: make(map[string]uint32),
	}
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
	h := maphash.String(t.seed, id)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.lookup(id, h)
	if i == 0 {
		return "", false
	}
	t.moveToFront(i)
	return t.servers[t.entries[i].server].id, true
}

// Peek returns the server id pinned to id without changing its recency.
func (t *Table) Peek(id string) (server string, ok bool) {
	h := maphash.String(t.seed, id)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.lookup(id, h)
	if i == 0 {
		return "", false
	}
	return t.servers[t.entries[i].server].id, true
}

// Pin pins id to server, or re-pins it, and marks the pin as the most
// recently used. When the table is full, the least recently used pin is
// dropped to make room.
//
// id is copied, since callers pass strings that alias reusable buffers;
// server is kept as given (or an equal server id pinned before is kept),
// since server ids are long-lived configuration strings.
func (t *Table) Pin(id, server string) {
	h := maphash.String(t.seed, id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.lookup(id, h); i != 0 {
		if e := &t.entries[i]; t.servers[e.server].id != server {
			old := e.server
			e.server = t.intern(server)
			t.release(old)
		}
		t.moveToFront(i)
		return
	}
	var i int32
	if t.len() >= t.max {
		i = t.evictOldest()
	} else {
		i = t.newSlot()
	}
	t.setID(i, id)
	t.entries[i].server = t.intern(server)
	t.insert(h, i)
	t.link(i)
}

// Len returns the number of pins held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.len()
}

func (t *Table) len() int { return len(t.entries) - 1 }

// Pins returns the number of pins to server.
func (t *Table) Pins(server string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.serverNum[server]; ok {
		return t.servers[n].pins
	}
	return 0
}

// SetMax changes the most pins the table holds, as [NewTable] takes it.
// Shrinking drops the least recently used pins down to max and gives their
// memory back.
func (t *Table) SetMax(max int) {
	max = clampMax(max)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.max = max
	if t.len() > max {
		for t.len() > max {
			// Moving the last pin into the freed slot keeps slots 1 to
			// Len() full, so compact can cut the slabs there.
			i := t.evictOldest()
			t.moveSlot(int32(t.len()), i)
			t.entries = t.entries[:len(t.entries)-1]
			t.links = t.links[:len(t.links)-1]
		}
		t.compact()
	}
}

// lookup returns the slot of id, whose hash is h, or 0 when id is not
// pinned.
func (t *Table) lookup(id string, h uint64) int32 {
	mask := len(t.index) - 1
	for p := t.homeOf(h); ; p = (p + 1) & mask {
		v := t.index[p]
		if v == 0 {
			return 0
		}
		if v>>32 == h>>32 && string(t.id(slotOf(v))) == id {
			return slotOf(v)
		}
	}
}

func slotOf(v uint64) int32 { return int32(uint32(v)) }

// homeOf returns the position where the probe sequence of v starts: v is
// an index element or a hash, both of which have the tag in their top 32
// bits.
func (t *Table) homeOf(v uint64) int { return int(uint32(v>>32)) & (len(t.index) - 1) }

// insert indexes slot i under hash h, growing the index first to keep its
// load at most 3/4, which keeps probe sequences short.
func (t *Table) insert(h uint64, i int32) {
	if t.len() > len(t.index)/4*3 {
		t.resizeIndex(2 * len(t.index))
	}
	t.place(h>>32<<32 | uint64(i)) // the tag above the slot
}

// place puts element v in the first empty position of its probe sequence.
func (t *Table) place(v uint64) {
	mask := len(t.index) - 1
	p := t.homeOf(v)
	for t.index[p] != 0 {
		p = (p + 1) & mask
	}
	t.index[p] = v
}

// resizeIndex moves the index's elements into a new index of n elements.
// Tags give each element's home, so no id is hashed again.
func (t *Table) resizeIndex(n int) {
	old := t.index
	t.index = make([]uint64, n)
	for _, v := range old {
		if v != 0 {
			t.place(v)
		}
	}
}

// indexSize returns the index size for n pins: the smallest power of two,
// at least 8, that keeps the load at most 3/4.
func indexSize(n int) int {
	size := 8
	for size/4*3 < n {
		size *= 2
	}
	return size
}

// position returns the position of slot i's element in the index.
func (t *Table) position(i int32) int {
	mask := len(t.index) - 1
	p := t.homeOf(maphash.Bytes(t.seed, t.id(i)))
	for slotOf(t.index[p]) != i {
		p = (p + 1) & mask
	}
	return p
}

// unindex removes slot i from the index.
func (t *Table) unindex(i int32) {
	mask := len(t.index) - 1
	p := t.position(i)
	// Shift back each following element of the run that the hole now
	// separates from its home, so that lookups never stop early.
	hole := p
	for p = (p + 1) & mask; t.index[p] != 0; p = (p + 1) & mask {
		if (p-t.homeOf(t.index[p]))&mask >= (p-hole)&mask {
			t.index[hole] = t.index[p]
			hole = p
		}
	}
	t.index[hole] = 0
}

// reindex points slot from's index element at slot to instead.
func (t *Table) reindex(from, to int32) {
	p := t.position(from)
	t.index[p] = t.index[p]>>32<<32 | uint64(to)
}

// id returns slot i's id, aliasing the table's memory.
func (t *Table) id(i int32) []byte {
	e := &t.entries[i]
	if e.idLen <= inlineID {
		return e.id[:e.idLen]
	}
	off := e.recordOffset() + recordHeader
	return t.arena[off : off+int(e.idLen)]
}

func (e *entry) recordOffset() int { return int(binary.LittleEndian.Uint64(e.id[:8])) }

func (e *entry) setRecordOffset(off int) { binary.LittleEndian.PutUint64(e.id[:8], uint64(off)) }

// setID copies id into free slot i.
func (t *Table) setID(i int32, id string) {
	if uint64(len(id)) > math.MaxUint32 {
		panic("session: id longer than 4 GiB")
	}
	t.entries[i].idLen = uint32(len(id))
	if len(id) <= inlineID {
		copy(t.entries[i].id[:], id)
		return
	}
	// Squeezing only an arena at least half garbage keeps its cost per
	// byte pinned constant, and the arena within about 4 times its live
	// bytes.
	if len(t.arena)+recordHeader+len(id) > cap(t.arena) && t.arenaGarbage >= len(t.arena)/2 {
		t.squeezeArena()
	}
	t.entries[i].setRecordOffset(len(t.arena))
	t.arena = binary.LittleEndian.AppendUint32(t.arena, uint32(i))
	t.arena = binary.LittleEndian.AppendUint32(t.arena, uint32(len(id)))
	t.arena = append(t.arena, id...)
}

// dropID turns slot i's arena record, if any, into garbage.
func (t *Table) dropID(i int32) {
	e := &t.entries[i]
	if e.idLen > inlineID {
		binary.LittleEndian.PutUint32(t.arena[e.recordOffset():], 0)
		t.arenaGarbage += recordHeader + int(e.idLen)
	}
}

// squeezeArena moves the live records down over the garbage, in place, so
// that pinning long ids in steady state does not allocate.
func (t *Table) squeezeArena() {
	w := 0
	for r := 0; r < len(t.arena); {
		owner := int32(binary.LittleEndian.Uint32(t.arena[r:]))
		size := recordHeader + int(binary.LittleEndian.Uint32(t.arena[r+4:]))
		if owner != 0 {
			copy(t.arena[w:], t.arena[r:r+size])
			t.entries[owner].setRecordOffset(w)
			w += size
		}
		r += size
	}
	t.arena = t.arena[:w]
	t.arenaGarbage = 0
}

// intern returns the number of server id s, counting one more pin to it.
func (t *Table) intern(s string) uint32 {
	if n, ok := t.serverNum[s]; ok {
		t.servers[n].pins++
		return n
	}
	var n uint32
	if k := len(t.freeServers); k > 0 {
		n = t.freeServers[k-1]
		t.freeServers = t.freeServers[:k-1]
	} else {
		n = uint32(len(t.servers))
		t.servers = append(t.servers, pinnedServer{})
	}
	t.servers[n] = pinnedServer{id: s, pins: 1}
	t.serverNum[s] = n
	return n
}

// release counts one pin less to server number n, and drops the server id
// when that was its last pin.
func (t *Table) release(n uint32) {
	if t.servers[n].pins--; t.servers[n].pins == 0 {
		delete(t.serverNum, t.servers[n].id)
		t.servers[n] = pinnedServer{}
		t.freeServers = append(t.freeServers, n)
	}
}

// newSlot returns a new slot at the end of the slabs.
func (t *Table) newSlot() int32 {
	t.entries = append(t.entries, entry{})
	t.links = append(t.links, link{})
	return int32(len(t.entries) - 1)
}

// evictOldest drops the least recently used pin, whose slot it returns
// free; the table is not empty.
func (t *Table) evictOldest() int32 {
	i := t.links[0].prev
	t.unlink(i)
	t.unindex(i)
	t.dropID(i)
	t.release(t.entries[i].server)
	return i
}

// moveSlot moves the pin in slot from to free slot to.
func (t *Table) moveSlot(from, to int32) {
	if from == to {
		return
	}
	t.reindex(from, to)
	t.entries[to] = t.entries[from]
	if e := &t.entries[to]; e.idLen > inlineID {
		binary.LittleEndian.PutUint32(t.arena[e.recordOffset():], uint32(to))
	}
	l := t.links[from]
	t.links[to] = l
	t.links[l.prev].next = to
	t.links[l.next].prev = to
}

// compact gives back the memory of dropped pins: it reallocates the slabs,
// the index and the arena at the size of the pins held.
func (t *Table) compact() {
	n := t.len()
	t.entries = append(make([]entry, 0, n+1), t.entries...)
	t.links = append(make([]link, 0, n+1), t.links...)
	t.resizeIndex(indexSize(n))
	t.squeezeArena()
	t.arena = append([]byte(nil), t.arena...)
}

// link inserts slot i at the front of the recency list.
func (t *Table) link(i int32) {
	l := t.links
	first := l[0].next
	l[i] = link{prev: 0, next: first}
	l[first].prev = i
	l[0].next = i
}

// unlink takes slot i out of the recency list.
func (t *Table) unlink(i int32) {
	l := t.links
	l[l[i].prev].next = l[i].next
	l[l[i].next].prev = l[i].prev
}

func (t *Table) moveToFront(i int32) {
	if t.links[0].next != i {
		t.unlink(i)
		t.link(i)
	}
}
