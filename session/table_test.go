package session

import (
	"fmt"
	"math/rand/v2"
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
	for i := t.entries[0].next; i != 0; i = t.entries[i].next {
		s = append(s, t.entries[i].id+"="+t.entries[i].server)
	}
	return s
}

// checkTable verifies the table's internal invariants.
func checkTable(tb testing.TB, t *Table) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries
	n := 0
	for i, prev := e[0].next, int32(0); i != 0; prev, i = i, e[i].next {
		if e[i].prev != prev {
			tb.Fatalf("slot %d: prev = %d, want %d", i, e[i].prev, prev)
		}
		if j, ok := t.index[e[i].id]; !ok || j != i {
			tb.Fatalf("slot %d (%q): index has %d, %v", i, e[i].id, j, ok)
		}
		if n++; n > len(e) {
			tb.Fatal("recency list has a cycle")
		}
	}
	free := 0
	for i := t.free; i != 0; i = e[i].next {
		free++
	}
	if n != len(t.index) || n > t.max || n+free != len(e)-1 {
		tb.Fatalf("%d pins listed, %d indexed, %d free slots, %d slots, max %d", n, len(t.index), free, len(e)-1, t.max)
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
	for i := range 1000 {
		tbl.Pin(fmt.Sprint(i), "s1")
	}
	tbl.SetMax(10)
	checkTable(t, tbl)
	if n := len(tbl.entries); n != 11 {
		t.Errorf("slab has %d slots after shrinking to 10, want 11", n)
	}
	if got, want := pins(tbl)[0], "999=s1"; got != want {
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
