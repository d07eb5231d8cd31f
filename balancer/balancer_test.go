package balancer

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// health adapts a function to the Health interface.
type health func(index int) bool

func (f health) Up(index int) bool { return f(index) }

var allUp = health(func(int) bool { return true })

// down returns a Health in which exactly the given indexes are down.
func down(indexes ...int) health {
	return func(i int) bool { return !slices.Contains(indexes, i) }
}

// servers returns servers named s1, s2, ... with engine indexes 10, 11, ...
// (distinct from the positions, so that mixing the two up shows) and the
// given weights.
func servers(weights ...int) []Server {
	s := make([]Server, len(weights))
	for i, w := range weights {
		s[i] = Server{Index: 10 + i, Name: fmt.Sprintf("s%d", i+1), Weight: w}
	}
	return s
}

// name maps an engine index of servers() back to its name.
func name(index int, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("s%d", index-9)
}

// step is one Pick under a given health.
type step struct {
	h    Health
	want string // server name, or "-" for none up
}

func runSteps(t *testing.T, p *Pool, key string, steps []step) {
	t.Helper()
	for i, st := range steps {
		peek := name(p.Peek(st.h, key))
		got := name(p.Pick(st.h, key))
		if got != st.want || peek != got {
			t.Fatalf("pick %d: Pick = %s, Peek = %s, want %s", i, got, peek, st.want)
		}
	}
}

func repeat(h Health, names ...string) []step {
	s := make([]step, len(names))
	for i, n := range names {
		s[i] = step{h, n}
	}
	return s
}

func TestRoundRobin(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"all up", repeat(allUp, "s1", "s2", "s3", "s1", "s2", "s3", "s1")},
		{"skips a down server", repeat(down(11), "s1", "s3", "s1", "s3")},
		{"only one up", repeat(down(10, 12), "s2", "s2")},
		{"none up", repeat(down(10, 11, 12), "-", "-")},
		{
			// With the counter at 1 and s2 down, s3 is taken and the counter
			// wraps to 0, so s1 comes next once s2 is back.
			"down at the counter wraps",
			[]step{{allUp, "s1"}, {down(11), "s3"}, {allUp, "s1"}, {allUp, "s2"}},
		},
		{
			// A pick with nothing up leaves the counter where it was.
			"none up keeps the counter",
			[]step{{allUp, "s1"}, {down(10, 11, 12), "-"}, {allUp, "s2"}},
		},
		{
			"comes back",
			[]step{{down(10), "s2"}, {down(10), "s3"}, {allUp, "s1"}, {allUp, "s2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewPool(RoundRobin, servers(1, 1, 1)), "", tt.steps)
		})
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		steps   []step
	}{
		{
			// The sequence from nginx's ngx_http_upstream_get_peer comment,
			// twice: the current weights are back at zero after a cycle.
			"nginx 5 1 1",
			[]int{5, 1, 1},
			repeat(allUp, "s1", "s1", "s2", "s1", "s3", "s1", "s1", "s1", "s1", "s2", "s1", "s3", "s1", "s1"),
		},
		{"equal weights are round robin", []int{1, 1, 1}, repeat(allUp, "s1", "s2", "s3", "s1", "s2", "s3")},
		{"2 1", []int{2, 1}, repeat(allUp, "s1", "s2", "s1", "s1", "s2", "s1")},
		{
			// s1 down: s2 and s3 share 1:1 and s1's current weight stays 0.
			"down server takes no part",
			[]int{5, 1, 1},
			repeat(down(10), "s2", "s3", "s2", "s3"),
		},
		{"none up", []int{5, 1, 1}, repeat(down(10, 11, 12), "-", "-")},
		{
			// After a pick with nothing up the sequence resumes unchanged.
			"none up keeps the state",
			[]int{5, 1, 1},
			[]step{{allUp, "s1"}, {allUp, "s1"}, {down(10, 11, 12), "-"}, {allUp, "s2"}, {allUp, "s1"}, {allUp, "s3"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewPool(WeightedRoundRobin, servers(tt.weights...)), "", tt.steps)
		})
	}
}

func TestWeightedRoundRobinShares(t *testing.T) {
	weights := []int{7, 3, 1, 4}
	total := 0
	for _, w := range weights {
		total += w
	}
	p := NewPool(WeightedRoundRobin, servers(weights...))
	counts := map[int]int{}
	for range 10 * total {
		i, _ := p.Pick(allUp, "")
		counts[i]++
	}
	for i, w := range weights {
		if counts[10+i] != 10*w {
			t.Errorf("s%d picked %d times in 10 cycles, want %d", i+1, counts[10+i], 10*w)
		}
	}
}

func TestHashWithoutKeyIsRoundRobin(t *testing.T) {
	p := NewPool(Hash, servers(1, 1, 1))
	runSteps(t, p, "", []step{{allUp, "s1"}, {allUp, "s2"}, {down(12), "s1"}, {allUp, "s2"}})
}

// TestPeekChangesNothing interleaves Peeks between Picks: the sequence of
// Picks must be the one obtained without them.
func TestPeekChangesNothing(t *testing.T) {
	healths := []Health{allUp, down(10), down(11), allUp, down(10, 12), down(10, 11, 12), allUp}
	for _, policy := range []Policy{RoundRobin, WeightedRoundRobin, Hash} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			plain := NewPool(policy, servers(3, 1, 2))
			peeked := NewPool(policy, servers(3, 1, 2))
			for i := range 50 {
				h := healths[i%len(healths)]
				for range 3 {
					peeked.Peek(h, "")
					peeked.Peek(h, "k")
				}
				want, wantOK := plain.Pick(h, "")
				got, gotOK := peeked.Pick(h, "")
				if got != want || gotOK != wantOK {
					t.Fatalf("pick %d: %d %v after peeks, %d %v without", i, got, gotOK, want, wantOK)
				}
			}
		})
	}
}

func TestContains(t *testing.T) {
	p := NewPool(RoundRobin, servers(1, 1))
	for _, tt := range []struct {
		index int
		want  bool
	}{{10, true}, {11, true}, {0, false}, {1, false}, {12, false}, {-1, false}} {
		if got := p.Contains(tt.index); got != tt.want {
			t.Errorf("Contains(%d) = %v, want %v", tt.index, got, tt.want)
		}
	}
}

func TestEmptyPool(t *testing.T) {
	for _, policy := range []Policy{RoundRobin, WeightedRoundRobin, Hash} {
		p := NewPool(policy, nil)
		for _, key := range []string{"", "k"} {
			if i, ok := p.Pick(allUp, key); ok {
				t.Errorf("%v: Pick(%q) on an empty pool = %d, true", policy, key, i)
			}
			if i, ok := p.Peek(allUp, key); ok {
				t.Errorf("%v: Peek(%q) on an empty pool = %d, true", policy, key, i)
			}
		}
	}
}

func TestNewPoolCopiesServers(t *testing.T) {
	s := servers(1, 1)
	p := NewPool(RoundRobin, s)
	s[0].Name = "changed"
	if got := p.Servers()[0].Name; got != "s1" {
		t.Errorf("Servers()[0].Name = %q after changing the caller's slice, want s1", got)
	}
}

func TestNewPoolPanics(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		servers []Server
	}{
		{"zero weight", RoundRobin, servers(1, 0)},
		{"negative weight", Hash, servers(-1)},
		{"unknown policy", PeakEWMA + 1, servers(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewPool did not panic")
				}
			}()
			NewPool(tt.policy, tt.servers)
		})
	}
}

func TestSameShape(t *testing.T) {
	base := NewPool(WeightedRoundRobin, servers(2, 1))
	reindexed := servers(2, 1)
	reindexed[0].Index, reindexed[1].Index = 0, 1
	renamed := servers(2, 1)
	renamed[1].Name = "s9"
	tests := []struct {
		name string
		q    *Pool
		want bool
	}{
		{"same", NewPool(WeightedRoundRobin, servers(2, 1)), true},
		{"other engine indexes", NewPool(WeightedRoundRobin, reindexed), true},
		{"other policy", NewPool(RoundRobin, servers(2, 1)), false},
		{"other weights", NewPool(WeightedRoundRobin, servers(1, 2)), false},
		{"other name", NewPool(WeightedRoundRobin, renamed), false},
		{"other order", NewPool(WeightedRoundRobin, []Server{servers(2, 1)[1], servers(2, 1)[0]}), false},
		{"more servers", NewPool(WeightedRoundRobin, servers(2, 1, 1)), false},
	}
	for _, tt := range tests {
		if got := base.SameShape(tt.q); got != tt.want {
			t.Errorf("%s: SameShape = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTakeState(t *testing.T) {
	for _, tt := range []struct {
		policy  Policy
		weights []int
	}{
		{RoundRobin, []int{1, 1, 1}},
		{WeightedRoundRobin, []int{5, 1, 1}},
		{Hash, []int{1, 1, 1}},
	} {
		t.Run(fmt.Sprint(tt.policy), func(t *testing.T) {
			old := NewPool(tt.policy, servers(tt.weights...))
			for range 4 {
				old.Pick(allUp, "")
			}
			fresh := NewPool(tt.policy, servers(tt.weights...))
			fresh.TakeState(old)
			fresh.TakeState(fresh) // a no-op, and must not deadlock
			for i := range 10 {
				want, _ := old.Pick(allUp, "")
				got, _ := fresh.Pick(allUp, "")
				if got != want {
					t.Fatalf("pick %d after TakeState: %s, want %s", i, name(got, true), name(want, true))
				}
			}
		})
	}
}

func TestTakeStateOtherShapePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("TakeState from a pool of another shape did not panic")
		}
	}()
	NewPool(RoundRobin, servers(1)).TakeState(NewPool(RoundRobin, servers(1, 1)))
}

func TestPickAllocs(t *testing.T) {
	for _, tt := range []struct {
		policy  Policy
		weights []int
		key     string
	}{
		{RoundRobin, []int{1, 1, 1}, ""},
		{WeightedRoundRobin, []int{5, 1, 1}, ""},
		{Hash, []int{1, 1, 1}, "session-1234"},
		{Hash, []int{1, 2, 3}, "session-1234"},
		{Hash, []int{1, 1, 1}, ""},
	} {
		p := NewPool(tt.policy, servers(tt.weights...))
		if n := testing.AllocsPerRun(100, func() { p.Pick(allUp, tt.key) }); n != 0 {
			t.Errorf("%v weights %v: Pick allocates %v times", tt.policy, tt.weights, n)
		}
		if n := testing.AllocsPerRun(100, func() { p.Peek(allUp, tt.key) }); n != 0 {
			t.Errorf("%v weights %v: Peek allocates %v times", tt.policy, tt.weights, n)
		}
	}
}

// TestConcurrentPick runs Picks, Peeks and a TakeState from many goroutines
// (for the race detector) and checks that no round robin step was lost.
func TestConcurrentPick(t *testing.T) {
	const goroutines, picks = 8, 3000
	for _, tt := range []struct {
		policy  Policy
		weights []int
	}{
		{RoundRobin, []int{1, 1, 1}},
		{WeightedRoundRobin, []int{3, 2, 1}},
	} {
		p := NewPool(tt.policy, servers(tt.weights...))
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				local := map[int]int{}
				for range picks {
					i, _ := p.Pick(allUp, "")
					local[i]++
					p.Peek(allUp, "")
				}
				mu.Lock()
				for i, n := range local {
					counts[i] += n
				}
				mu.Unlock()
			})
		}
		wg.Go(func() { NewPool(tt.policy, servers(tt.weights...)).TakeState(p) })
		wg.Wait()
		// goroutines*picks is a whole number of cycles for both pools.
		total := 0
		for _, w := range tt.weights {
			total += w
		}
		for i, w := range tt.weights {
			if want := goroutines * picks * w / total; counts[10+i] != want {
				t.Errorf("%v: s%d picked %d times, want %d", tt.policy, i+1, counts[10+i], want)
			}
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, bb := range []struct {
		name    string
		policy  Policy
		weights []int
		key     string
	}{
		{"RoundRobin", RoundRobin, []int{1, 1, 1}, ""},
		{"WeightedRoundRobin", WeightedRoundRobin, []int{5, 1, 1}, ""},
		{"Hash", Hash, []int{1, 1, 1}, "0123456789abcdef"},
		{"HashWeighted", Hash, []int{1, 2, 3}, "0123456789abcdef"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			p := NewPool(bb.policy, servers(bb.weights...))
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(allUp, bb.key)
			}
		})
	}
}

// TestConcurrentRoundRobinSkipsDown: concurrent picks over a pool with a
// server down still take the servers that are up in strict turn, as one
// pick after another would: a counter advanced blindly (an atomic add)
// would hand the down server's turns to the next one and pick it twice as
// often.
func TestConcurrentRoundRobinSkipsDown(t *testing.T) {
	const goroutines, picks = 8, 3000
	p := NewPool(RoundRobin, servers(1, 1, 1))
	counts := make([]atomic.Int64, 13)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range picks {
				i, ok := p.Pick(down(11), "")
				if !ok {
					t.Error("no server picked")
					return
				}
				counts[i].Add(1)
			}
		})
	}
	wg.Wait()
	if a, b, c := counts[10].Load(), counts[11].Load(), counts[12].Load(); a != goroutines*picks/2 || b != 0 || c != a {
		t.Errorf("s1 %d, s2 (down) %d, s3 %d picks; want %d, 0, %d", a, b, c, goroutines*picks/2, goroutines*picks/2)
	}
}

// BenchmarkPickMeasured is a round robin pick as the proxy makes it: a
// measured pool, the request claimed on the server and then ended.
func BenchmarkPickMeasured(b *testing.B) {
	p := NewPoolOptions(RoundRobin, servers(1, 1), measured(Options{}))
	l := newFakeLoad()
	b.ReportAllocs()
	for b.Loop() {
		i, _ := p.Pick(l, "")
		l.active[i]--
	}
}

func BenchmarkPickParallel(b *testing.B) {
	p := NewPool(RoundRobin, servers(1, 1, 1))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Pick(allUp, "")
		}
	})
}
