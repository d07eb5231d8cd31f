package session

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// pins lists the table's pins as "id=server", most recently used first.
func pins(t *Table) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s []string
	for i := t.links[0].next; i != 0; i = t.links[i].next {
		s = append(s, string(t.id(i))+"="+t.servers[t.entries[i].server].id)
	}
	return s
}

// checkTable verifies the table's internal invariants.
func checkTable(tb testing.TB, t *Table) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.len()
	if n > t.max || len(t.links) != n+1 {
		tb.Fatalf("%d pins, %d links, max %d", n, len(t.links)-1, t.max)
	}

	listed := 0
	for i, prev := t.links[0].next, int32(0); i != 0; prev, i = i, t.links[i].next {
		if t.links[i].prev != prev {
			tb.Fatalf("slot %d: prev = %d, want %d", i, t.links[i].prev, prev)
		}
		if listed++; listed > n {
			tb.Fatal("recency list has a cycle or more slots than pins")
		}
	}
	if listed != n {
		tb.Fatalf("%d pins listed, %d held", listed, n)
	}

	indexed := 0
	mask := len(t.index) - 1
	for p, v := range t.index {
		if v == 0 {
			continue
		}
		indexed++
		i := slotOf(v)
		if i < 1 || int(i) > n {
			tb.Fatalf("index position %d holds slot %d of %d", p, i, n)
		}
		if h := maphash.Bytes(t.seed, t.id(i)); uint32(h>>32) != uint32(v>>32) {
			tb.Fatalf("slot %d (%q): indexed under a tag not its hash's", i, t.id(i))
		}
		for q := t.homeOf(v); q != p; q = (q + 1) & mask {
			if t.index[q] == 0 {
				tb.Fatalf("slot %d: empty index position %d between its home and %d", i, q, p)
			}
		}
		if j := t.lookup(string(t.id(i)), maphash.Bytes(t.seed, t.id(i))); j != i {
			tb.Fatalf("slot %d (%q): lookup finds slot %d", i, t.id(i), j)
		}
	}
	if indexed != n || n > len(t.index)/4*3 {
		tb.Fatalf("%d slots indexed, %d pins, index size %d", indexed, n, len(t.index))
	}

	long, garbage := 0, 0
	for r := 0; r < len(t.arena); {
		owner := int32(binary.LittleEndian.Uint32(t.arena[r:]))
		size := int(binary.LittleEndian.Uint32(t.arena[r+4:]))
		if owner == 0 {
			garbage += recordHeader + size
		} else if e := t.entries[owner]; int(owner) > n || e.idLen <= inlineID || e.recordOffset() != r || int(e.idLen) != size {
			tb.Fatalf("arena record at %d: owner %d does not point back", r, owner)
		} else {
			long++
		}
		r += recordHeader + size
	}
	for i := 1; i <= n; i++ {
		if t.entries[i].idLen > inlineID {
			long--
		}
	}
	if long != 0 || garbage != t.arenaGarbage {
		tb.Fatalf("arena: %d long ids without a record, %d garbage bytes, %d counted", -long, garbage, t.arenaGarbage)
	}

	serverPins := make([]int, len(t.servers))
	for i := 1; i <= n; i++ {
		serverPins[t.entries[i].server]++
	}
	free := 0
	for k, s := range t.servers {
		if s.pins != serverPins[k] {
			tb.Fatalf("server %d (%q): %d pins counted, %d held", k, s.id, s.pins, serverPins[k])
		}
		if s.pins == 0 {
			free++
		} else if num, ok := t.serverNum[s.id]; !ok || num != uint32(k) {
			tb.Fatalf("server %d (%q) is interned as %d, %v", k, s.id, num, ok)
		}
	}
	if free != len(t.freeServers) || len(t.serverNum)+free != len(t.servers) {
		tb.Fatalf("%d servers, %d interned, %d free, %d listed free", len(t.servers), len(t.serverNum), free, len(t.freeServers))
	}
}

func TestTable(t *testing.T) {
	tests := []struct {
		name string
		max  int
		ops  string   // "pin ID SERVER", "get ID", "peek ID" or "max N", separated by ";"
		want []string // pins afterwards, most recently used first
	}{
		{"insert order", 3, "pin a s1; pin b s2; pin c s1", []string{"c=s1", "b=s2", "a=s1"}},
		{"full drops the oldest", 3, "pin a s1; pin b s2; pin c s1; pin d s2", []string{"d=s2", "c=s1", "b=s2"}},
		{"get refreshes", 3, "pin a s1; pin b s2; pin c s1; get a; pin d s2", []string{"d=s2", "a=s1", "c=s1"}},
		{"peek does not refresh", 3, "pin a s1; pin b s2; pin c s1; peek a; pin d s2", []string{"d=s2", "c=s1", "b=s2"}},
		{"a miss changes nothing", 3, "pin a s1; pin b s2; get x; peek y; pin c s1; pin d s2", []string{"d=s2", "c=s1", "b=s2"}},
		{"re-pin refreshes and replaces", 3, "pin a s1; pin b s2; pin c s1; pin a s3; pin d s2", []string{"d=s2", "a=s3", "c=s1"}},
		{"re-pin when full drops nothing", 2, "pin a s1; pin b s2; pin a s2", []string{"a=s2", "b=s2"}},
		{"max 1", 1, "pin a s1; pin b s2; get a; pin c s3", []string{"c=s3"}},
		{"shrink drops the oldest", 4, "pin a s1; pin b s2; pin c s1; pin d s2; get a; max 2", []string{"a=s1", "d=s2"}},
		{"shrink then fill", 3, "pin a s1; pin b s2; pin c s1; max 1; pin d s2", []string{"d=s2"}},
		{"grow", 2, "pin a s1; pin b s2; max 3; pin c s1", []string{"c=s1", "b=s2", "a=s1"}},
		{"freed slots are reused", 3, "pin a s1; pin b s1; pin c s1; max 1; max 3; pin d s1; pin e s1; pin f s1", []string{"f=s1", "e=s1", "d=s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := NewTable(tt.max)
			for op := range strings.SplitSeq(tt.ops, ";") {
				f := strings.Fields(op)
				switch f[0] {
				case "pin":
					tbl.Pin(f[1], f[2])
				case "get":
					tbl.Get(f[1])
				case "peek":
					tbl.Peek(f[1])
				case "max":
					n, err := strconv.Atoi(f[1])
					if err != nil {
						t.Fatal(err)
					}
					tbl.SetMax(n)
				}
				checkTable(t, tbl)
			}
			if got := pins(tbl); !slices.Equal(got, tt.want) {
				t.Errorf("pins = %v, want %v", got, tt.want)
			}
			if got := tbl.Len(); got != len(tt.want) {
				t.Errorf("Len = %d, want %d", got, len(tt.want))
			}
		})
	}
}

func TestTableGetPeek(t *testing.T) {
	tbl := NewTable(10)
	tbl.Pin("a", "s1")
	tests := []struct {
		id     string
		server string
		ok     bool
	}{{"a", "s1", true}, {"b", "", false}, {"", "", false}}
	for _, tt := range tests {
		if s, ok := tbl.Get(tt.id); s != tt.server || ok != tt.ok {
			t.Errorf("Get(%q) = %q, %v, want %q, %v", tt.id, s, ok, tt.server, tt.ok)
		}
		if s, ok := tbl.Peek(tt.id); s != tt.server || ok != tt.ok {
			t.Errorf("Peek(%q) = %q, %v, want %q, %v", tt.id, s, ok, tt.server, tt.ok)
		}
	}
}

// TestTablePinCopiesID pins an id that aliases a buffer, as the proxy's
// parsers produce, then reuses the buffer.
func TestTablePinCopiesID(t *testing.T) {
	buf := []byte("abc")
	tbl := NewTable(10)
	tbl.Pin(unsafe.String(&buf[0], len(buf)), "s1")
	copy(buf, "xyz")
	if _, ok := tbl.Get("abc"); !ok {
		t.Error(`"abc" is not pinned after its buffer was reused`)
	}
	if _, ok := tbl.Get("xyz"); ok {
		t.Error(`"xyz" is pinned: the table kept the caller's buffer`)
	}
}

// TestTableShrinkCompacts checks that shrinking gives the slab back.
func TestTableShrinkCompacts(t *testing.T) {
	tbl := NewTable(1000)
	long := strings.Repeat("x", 100)
	for i := range 1000 {
		tbl.Pin(fmt.Sprint(i, long), fmt.Sprint("s", i))
	}
	tbl.SetMax(10)
	checkTable(t, tbl)
	if n := len(tbl.entries); n != 11 || cap(tbl.entries) > 16 || cap(tbl.links) > 16 {
		t.Errorf("slabs have %d slots, capacity %d and %d, after shrinking to 10, want 11", n, cap(tbl.entries), cap(tbl.links))
	}
	if n := len(tbl.index); n > 16 {
		t.Errorf("index has %d positions after shrinking to 10", n)
	}
	if n := cap(tbl.arena); n > 2*10*(recordHeader+103) {
		t.Errorf("arena holds %d bytes after shrinking to 10 ids of 103 bytes", n)
	}
	if n := len(tbl.serverNum); n != 10 {
		t.Errorf("%d server ids interned for 10 pins", n)
	}
	if got, want := pins(tbl)[0], "999"+long+"=s999"; got != want {
		t.Errorf("most recent pin = %s, want %s", got, want)
	}
}

func TestTableBadMaxPanics(t *testing.T) {
	for _, f := range []func(){
		func() { NewTable(0) },
		func() { NewTable(1).SetMax(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic for a max below 1")
				}
			}()
			f()
		}()
	}
}

func TestTableAllocs(t *testing.T) {
	tbl := NewTable(10)
	tbl.Pin("a", "s1")
	for name, f := range map[string]func(){
		"Get hit":  func() { tbl.Get("a") },
		"Get miss": func() { tbl.Get("b") },
		"Peek":     func() { tbl.Peek("a") },
		"re-Pin":   func() { tbl.Pin("a", "s2") },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

// TestTablePinNewAllocs checks that once a full table's memory has grown,
// pinning new ids, short and long, evicts and inserts without allocating.
func TestTablePinNewAllocs(t *testing.T) {
	const max = 100
	ids := make([]string, 3*max)
	for i := range ids {
		ids[i] = fmt.Sprint("id-", i, strings.Repeat("x", i%3*inlineID))
	}
	servers := []string{"s1", "s2", "s3"}
	tbl := NewTable(max)
	i := 0
	pinNew := func() {
		tbl.Pin(ids[i%len(ids)], servers[i%len(servers)])
		i++
	}
	for range 10 * len(ids) {
		pinNew()
	}
	if n := testing.AllocsPerRun(10*len(ids), pinNew); n != 0 {
		t.Errorf("Pin of a new id allocates %v times", n)
	}
	checkTable(t, tbl)
}

// TestTableStaysSmall checks that a table's memory follows the pins it
// holds, not its max.
func TestTableStaysSmall(t *testing.T) {
	tbl := NewTable(1_000_000)
	for i := range 10 {
		tbl.Pin(fmt.Sprint(i, strings.Repeat("x", 40)), "s1")
	}
	checkTable(t, tbl)
	if len(tbl.index) > 16 || cap(tbl.entries) > 16 || cap(tbl.links) > 16 || cap(tbl.arena) > 1024 {
		t.Errorf("10 pins take %d index positions, %d and %d slots, %d arena bytes",
			len(tbl.index), cap(tbl.entries), cap(tbl.links), cap(tbl.arena))
	}
}

// TestTablePointerFree checks that the per-pin slabs hold no pointers, so
// the garbage collector never scans them.
func TestTablePointerFree(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[entry](), reflect.TypeFor[link]()} {
		if hasPointers(typ) {
			t.Errorf("%v holds pointers", typ)
		}
	}
}

func hasPointers(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.Array:
		return hasPointers(typ.Elem())
	case reflect.Struct:
		for f := range typ.Fields() {
			if hasPointers(f.Type) {
				return true
			}
		}
		return false
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
}

// modelIDs are the ids the model tests pin: empty, short, exactly
// inlineID bytes, one more, and long, in pairs that differ only in their
// last byte.
var modelIDs = func() []string {
	ids := []string{""}
	for _, n := range []int{1, 2, 8, inlineID - 1, inlineID, inlineID + 1, 31, 64, 300} {
		for _, last := range "ab" {
			ids = append(ids, strings.Repeat("x", n-1)+string(last))
		}
	}
	return ids
}()

var modelServers = []string{"s1", "s2", "server-3", strings.Repeat("s", 40)}

// model is a trivially correct table: its pins, most recently used first.
type model struct {
	max  int
	pins []modelPin
}

type modelPin struct{ id, server string }

// take removes id's pin and reports it.
func (m *model) take(id string) (modelPin, bool) {
	for i, p := range m.pins {
		if p.id == id {
			m.pins = slices.Delete(m.pins, i, i+1)
			return p, true
		}
	}
	return modelPin{}, false
}

func (m *model) get(id string) (string, bool) {
	p, ok := m.take(id)
	if ok {
		m.pins = slices.Insert(m.pins, 0, p)
	}
	return p.server, ok
}

func (m *model) peek(id string) (string, bool) {
	for _, p := range m.pins {
		if p.id == id {
			return p.server, true
		}
	}
	return "", false
}

func (m *model) pin(id, server string) {
	if _, ok := m.take(id); !ok && len(m.pins) == m.max {
		m.pins = m.pins[:m.max-1]
	}
	m.pins = slices.Insert(m.pins, 0, modelPin{id, server})
}

func (m *model) setMax(max int) {
	m.max = max
	m.pins = m.pins[:min(len(m.pins), max)]
}

func (m *model) list() []string {
	s := make([]string, len(m.pins))
	for i, p := range m.pins {
		s[i] = p.id + "=" + p.server
	}
	return s
}

// runModel decodes ops into table operations, applies each to a table and
// to the model, and checks every result, the table's invariants and the
// recency order after each. ops[0] picks the first max; then each pair
// of bytes is an operation and its argument.
func runModel(t *testing.T, ops []byte) {
	if len(ops) == 0 {
		return
	}
	m := &model{max: 1 + int(ops[0]%8)}
	tbl := NewTable(m.max)
	for k := 1; k+1 < len(ops); k += 2 {
		op, arg := ops[k], int(ops[k+1])
		id := modelIDs[arg%len(modelIDs)]
		var step string
		switch op % 6 {
		case 0, 1:
			server := modelServers[int(op/6)%len(modelServers)]
			step = fmt.Sprintf("Pin(%q, %q)", id, server)
			tbl.Pin(id, server)
			m.pin(id, server)
		case 2:
			step = fmt.Sprintf("Get(%q)", id)
			s, ok := tbl.Get(id)
			if ws, wok := m.get(id); s != ws || ok != wok {
				t.Fatalf("op %d: %s = %q, %v, want %q, %v", k/2, step, s, ok, ws, wok)
			}
		case 3:
			step = fmt.Sprintf("Peek(%q)", id)
			s, ok := tbl.Peek(id)
			if ws, wok := m.peek(id); s != ws || ok != wok {
				t.Fatalf("op %d: %s = %q, %v, want %q, %v", k/2, step, s, ok, ws, wok)
			}
		case 4:
			max := 1 + arg%10
			step = fmt.Sprintf("SetMax(%d)", max)
			tbl.SetMax(max)
			m.setMax(max)
		case 5:
			step = "Len()"
			if n := tbl.Len(); n != len(m.pins) {
				t.Fatalf("op %d: Len() = %d, want %d", k/2, n, len(m.pins))
			}
			for _, server := range modelServers {
				want := 0
				for _, p := range m.pins {
					if p.server == server {
						want++
					}
				}
				if n := tbl.Pins(server); n != want {
					t.Fatalf("op %d: Pins(%q) = %d, want %d", k/2, server, n, want)
				}
			}
		}
		checkTable(t, tbl)
		if got, want := pins(tbl), m.list(); !slices.Equal(got, want) {
			t.Fatalf("op %d: after %s pins = %q, want %q", k/2, step, got, want)
		}
	}
}

func TestTableModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		ops := make([]byte, 1+2*r.IntN(500))
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		runModel(t, ops)
	}
}

func FuzzTable(f *testing.F) {
	f.Add([]byte{3, 0, 1, 6, 2, 12, 3, 2, 1, 5, 0, 4, 1, 0, 7})
	f.Add([]byte{7, 0, 10, 0, 11, 0, 12, 1, 13, 4, 2, 0, 14, 0, 15, 0, 16, 2, 12})
	f.Fuzz(runModel)
}

// TestTableConcurrent mixes every operation from many goroutines, for the
// race detector, then checks the table's invariants.
func TestTableConcurrent(t *testing.T) {
	tbl := NewTable(64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for range 5000 {
				id := fmt.Sprint(r.IntN(200))
				switch r.IntN(10) {
				case 0:
					tbl.Peek(id)
				case 1:
					tbl.Len()
				case 2:
					if r.IntN(50) == 0 {
						tbl.SetMax(1 + r.IntN(100))
					}
				case 3, 4, 5:
					tbl.Get(id)
				default:
					tbl.Pin(id, "s1")
				}
			}
		})
	}
	wg.Wait()
	checkTable(t, tbl)
}

// BenchmarkTableGetHit gets pinned ids in turn, from a table small enough
// to stay in the CPU cache and from one of 100,000 pins, where memory
// latency dominates.
func BenchmarkTableGetHit(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tbl := NewTable(n)
			ids := benchIDs(n)
			for _, id := range ids {
				tbl.Pin(id, "s1")
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tbl.Get(ids[i])
				if i++; i == len(ids) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkTableGetRandom gets 100,000 pinned ids in a random order, so
// that neither an id's entry nor its neighbours in the recency list are
// likely to be cached, as on a proxy serving many sessions.
func BenchmarkTableGetRandom(b *testing.B) {
	ids := benchIDs(100000)
	tbl := NewTable(len(ids))
	for _, id := range ids {
		tbl.Pin(id, "s1")
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(ids))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tbl.Get(ids[order[i]])
		if i++; i == len(order) {
			i = 0
		}
	}
}

// BenchmarkTablePin pins 100,000 distinct ids in turn: into a table that
// holds them all (after the first round, every Pin re-pins), and into one
// that holds half (every Pin inserts and evicts).
func BenchmarkTablePin(b *testing.B) {
	ids := benchIDs(100000)
	for _, bb := range []struct {
		name string
		max  int
	}{{"repin", 100000}, {"evict", 50000}} {
		b.Run(bb.name, func(b *testing.B) {
			tbl := NewTable(bb.max)
			for _, id := range ids {
				tbl.Pin(id, "s1")
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tbl.Pin(ids[i], "s2")
				if i++; i == len(ids) {
					i = 0
				}
			}
		})
	}
}

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("lb-%d", i+1)
	}
	return ids
}
