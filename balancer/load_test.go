package balancer

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// fakeLoad is a Load over engine indexes 10, 11, ... (those of servers()).
type fakeLoad struct {
	down    map[int]bool
	active  map[int]int
	latency map[int]float64 // ns; absent: the default
	ramp    map[int]float64 // absent: 1
	claims  map[int]int
}

func newFakeLoad() *fakeLoad {
	return &fakeLoad{down: map[int]bool{}, active: map[int]int{}, latency: map[int]float64{}, ramp: map[int]float64{}, claims: map[int]int{}}
}

func (f *fakeLoad) Up(i int) bool    { return !f.down[i] }
func (f *fakeLoad) Active(i int) int { return f.active[i] }
func (f *fakeLoad) Claim(i, limit int) bool {
	if limit > 0 && f.active[i] >= limit {
		return false
	}
	f.active[i]++
	f.claims[i]++
	return true
}
func (f *fakeLoad) Latency(i int, _, def time.Duration) float64 {
	if l, ok := f.latency[i]; ok {
		return l
	}
	return float64(def)
}
func (f *fakeLoad) Ramp(i int, _ time.Duration) float64 {
	if r, ok := f.ramp[i]; ok {
		return r
	}
	return 1
}

func measured(o Options) Options {
	o.Measured = true
	if o.Seed == 0 {
		o.Seed = 42
	}
	return o
}

// TestLeastRequestTwoServers: with two servers both are always drawn, so
// the one with fewer in flight always wins, and requests that never end
// fill the two in turn.
func TestLeastRequestTwoServers(t *testing.T) {
	p := NewPoolOptions(LeastRequest, servers(1, 1), measured(Options{}))
	l := newFakeLoad()
	for n := range 100 {
		if _, ok := p.Pick(l, ""); !ok {
			t.Fatal("no pick")
		}
		if d := l.active[10] - l.active[11]; d < -1 || d > 1 {
			t.Fatalf("after %d picks in flight s1=%d s2=%d", n+1, l.active[10], l.active[11])
		}
	}
	// A busy server loses every time.
	l.active[10] = 5
	l.active[11] = 0
	for range 5 {
		if got := name(p.Pick(l, "")); got != "s2" {
			t.Fatalf("picked %s with s1 busier", got)
		}
	}
}

// TestLeastRequestChoices: drawing as many servers as there are finds the
// least loaded; drawing two of many finds one of the two least loaded
// only statistically, but never the busiest of all.
func TestLeastRequestChoices(t *testing.T) {
	all := NewPoolOptions(LeastRequest, servers(1, 1, 1, 1, 1), measured(Options{Choices: 5}))
	two := NewPoolOptions(LeastRequest, servers(1, 1, 1, 1, 1), measured(Options{Choices: 2}))
	l := newFakeLoad()
	l.active = map[int]int{10: 4, 11: 3, 12: 0, 13: 2, 14: 9}
	counts := map[int]int{}
	for range 1000 {
		i, _ := all.Peek(l, "")
		if i != 12 {
			t.Fatalf("choices 5 picked s%d, want the least loaded s3", i-9)
		}
		j, _ := two.Peek(l, "")
		counts[j]++
		two.rand.take()
	}
	if counts[14] != 0 {
		t.Errorf("choices 2 picked the busiest server %d times", counts[14])
	}
	// s3 wins whenever it is drawn: with probability 1 − C(4,2)/C(5,2) = 0.4.
	if c := counts[12]; c < 330 || c > 470 {
		t.Errorf("the least loaded server won %d of 1000 draws, want about 400", c)
	}
}

// TestDistinctDraws: the two candidates are always distinct servers that
// are up, whatever is down.
func TestDistinctDraws(t *testing.T) {
	for _, downs := range [][]int{nil, {10}, {12, 13}, {10, 11, 12}} {
		p := NewPoolOptions(LeastRequest, servers(1, 1, 1, 1), measured(Options{}))
		l := newFakeLoad()
		for _, d := range downs {
			l.down[d] = true
		}
		seen := map[int]int{}
		for range 2000 {
			i, ok := p.Pick(l, "")
			if !ok || l.down[i] {
				t.Fatalf("down %v: picked %d, %v", downs, i, ok)
			}
			seen[i]++
		}
		// With every request still in flight, picks spread evenly over
		// the servers that are up.
		for i, n := range seen {
			if want := 2000 / (4 - len(downs)); n < want-2 || n > want+2 {
				t.Errorf("down %v: s%d picked %d times, want %d", downs, i-9, n, want)
			}
		}
	}
	p := NewPoolOptions(LeastRequest, servers(1, 1), measured(Options{}))
	l := newFakeLoad()
	l.down[10], l.down[11] = true, true
	if _, ok := p.Pick(l, ""); ok {
		t.Error("a pick with every server down")
	}
}

// TestWeightedLeastRequest: with weights, the share follows
// weight / (active+1)^bias.
func TestWeightedLeastRequest(t *testing.T) {
	tests := []struct {
		bias   float64
		active []int
		want   []float64 // expected shares
	}{
		{1, []int{0, 0, 0}, []float64{1.0 / 6, 2.0 / 6, 3.0 / 6}},
		{1, []int{0, 1, 2}, []float64{1 / 3.0, 1 / 3.0, 1 / 3.0}}, // 1/1, 2/2, 3/3
		{0, []int{5, 0, 9}, []float64{1.0 / 6, 2.0 / 6, 3.0 / 6}}, // load ignored
		{2, []int{0, 1, 0}, []float64{1 / 4.5, 0.5 / 4.5, 3 / 4.5}},
	}
	for _, tt := range tests {
		p := NewPoolOptions(LeastRequest, servers(1, 2, 3), measured(Options{ActiveRequestBias: tt.bias}))
		l := newFakeLoad()
		for i, a := range tt.active {
			l.active[10+i] = a
		}
		const n = 60000
		counts := make([]int, 3)
		for range n {
			i, _ := p.Peek(l, "")
			counts[i-10]++
			p.rand.take()
		}
		for i, c := range counts {
			if got := float64(c) / n; math.Abs(got-tt.want[i]) > 0.01 {
				t.Errorf("bias %v active %v: s%d share %.3f, want %.3f", tt.bias, tt.active, i+1, got, tt.want[i])
			}
		}
	}
}

// TestPeakEWMA: the lower latency × (in flight + 1) / weight wins.
func TestPeakEWMA(t *testing.T) {
	ms := float64(time.Millisecond)
	p := NewPoolOptions(PeakEWMA, servers(1, 1), measured(Options{DefaultRTT: 30 * time.Millisecond}))
	l := newFakeLoad()
	l.latency[10], l.latency[11] = 1*ms, 10*ms
	// s1 costs 1 ms per request in flight, s2 10: s1 takes requests until
	// its cost (n+1) ms passes s2's 10 ms.
	var got []string
	for range 11 {
		got = append(got, name(p.Pick(l, "")))
	}
	want := "[s1 s1 s1 s1 s1 s1 s1 s1 s1 s1 s2]"
	if fmt.Sprint(got) != want {
		t.Errorf("picks %v, want %s", got, want)
	}
	// An unsampled server costs the default RTT.
	q := NewPoolOptions(PeakEWMA, servers(1, 1), measured(Options{DefaultRTT: 5 * time.Millisecond}))
	l2 := newFakeLoad()
	l2.latency[10] = 6 * ms
	if got := name(q.Pick(l2, "")); got != "s2" {
		t.Errorf("picked %s over the unsampled s2 (default 5ms against 6ms)", got)
	}
	// Weight divides the cost.
	w := NewPoolOptions(PeakEWMA, servers(4, 1), measured(Options{}))
	l3 := newFakeLoad()
	l3.latency[10], l3.latency[11] = 3*ms, 1*ms
	if got := name(w.Pick(l3, "")); got != "s1" {
		t.Errorf("picked %s: s1's weight 4 makes its 3ms cost 0.75", got)
	}
}

// TestUnmeasuredRotates: in the node, least_request and peak_ewma rotate
// by smooth weighted round robin and claim nothing.
func TestUnmeasuredRotates(t *testing.T) {
	for _, policy := range []Policy{LeastRequest, PeakEWMA} {
		p := NewPool(policy, servers(5, 1, 1))
		l := newFakeLoad()
		l.active[10] = 100
		var got []string
		for range 7 {
			got = append(got, name(p.Pick(l, "")))
		}
		if want := "[s1 s1 s2 s1 s3 s1 s1]"; fmt.Sprint(got) != want {
			t.Errorf("%v: %v, want %s", policy, got, want)
		}
		if len(l.claims) != 0 {
			t.Errorf("%v: claims %v in an unmeasured pool", policy, l.claims)
		}
	}
}

// TestMeasuredPicksClaim: in a measured pool every policy claims the
// server it picks, and Peek claims nothing.
func TestMeasuredPicksClaim(t *testing.T) {
	for _, policy := range []Policy{RoundRobin, WeightedRoundRobin, Hash, LeastRequest, PeakEWMA} {
		p := NewPoolOptions(policy, servers(1, 1, 1), measured(Options{BalanceFactor: 150}))
		l := newFakeLoad()
		for _, key := range []string{"", "k"} {
			if _, ok := p.Peek(l, key); !ok || len(l.claims) != 0 {
				t.Fatalf("%v: Peek claimed %v", policy, l.claims)
			}
			i, _ := p.Pick(l, key)
			if l.claims[i] != 1 {
				t.Fatalf("%v key %q: picked s%d, claims %v", policy, key, i-9, l.claims)
			}
			clear(l.claims)
			clear(l.active)
		}
	}
}

// TestPeekPredictsPick: where the choice is random, Peek draws what the
// next Pick draws.
func TestPeekPredictsPick(t *testing.T) {
	p := NewPoolOptions(LeastRequest, servers(1, 1, 1, 1, 1, 1), measured(Options{}))
	l := newFakeLoad()
	for range 200 {
		l.active = map[int]int{} // equal loads: the draw alone decides
		peek, _ := p.Peek(l, "")
		pick, _ := p.Pick(l, "")
		if peek != pick {
			t.Fatalf("Peek %d, Pick %d", peek, pick)
		}
	}
}

// TestBoundedHash follows the bounded-load rule step by step: a hot key's
// requests stay in flight and spill in rendezvous order.
func TestBoundedHash(t *testing.T) {
	const key = "hot"
	plain := NewPool(Hash, servers(1, 1, 1))
	order := rendezvousOrder(plain, key)
	p := NewPoolOptions(Hash, servers(1, 1, 1), measured(Options{BalanceFactor: 125}))
	l := newFakeLoad()
	for n := range 30 {
		total := l.active[10] + l.active[11] + l.active[12]
		bound := (125*(total+1) + 299) / 300 // ceil(1.25 (T+1) / 3)
		want := -1
		for _, i := range order {
			if l.active[i] < bound {
				want = i
				break
			}
		}
		got, _ := p.Pick(l, key)
		if got != want {
			t.Fatalf("pick %d: s%d, want s%d (loads %v, bound %d)", n, got-9, want-9, l.active, bound)
		}
		if l.active[got] > bound {
			t.Fatalf("pick %d: s%d at %d, past its bound %d", n, got-9, l.active[got], bound)
		}
	}
	// Without load the key keeps its server, and a down server is skipped.
	q := NewPoolOptions(Hash, servers(1, 1, 1), Options{BalanceFactor: 125})
	l = newFakeLoad()
	if got, _ := q.Pick(l, key); got != order[0] {
		t.Errorf("no load: s%d, want s%d", got-9, order[0]-9)
	}
	l.down[order[0]] = true
	if got, _ := q.Pick(l, key); got != order[1] {
		t.Errorf("first down: s%d, want s%d", got-9, order[1]-9)
	}
}

// TestBoundedHashWeights: a heavier server's bound is its share.
func TestBoundedHashWeights(t *testing.T) {
	p := NewPoolOptions(Hash, servers(1, 3), Options{BalanceFactor: 100})
	l := newFakeLoad()
	l.active[10], l.active[11] = 2, 5
	// T = 7: bounds ceil(8×1/4) = 2 and ceil(8×3/4) = 6.
	if b := p.Bounds(l); fmt.Sprint(b) != "[2 6]" {
		t.Errorf("bounds %v, want [2 6]", b)
	}
	if got, _ := p.Pick(l, "any"); got != 11 {
		t.Errorf("picked s%d: s1 is at its bound, s2 below", got-9)
	}
}

// TestBoundedHashConcurrent: concurrent measured picks never push a
// server past the bound of the moment.
func TestBoundedHashConcurrent(t *testing.T) {
	p := NewPoolOptions(Hash, servers(1, 1, 1, 1), Options{BalanceFactor: 125, Measured: true})
	var mu sync.Mutex
	l := &lockedLoad{fakeLoad: newFakeLoad(), mu: &mu}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				p.Pick(l, "hot")
			}
		})
	}
	wg.Wait()
	// 160 requests in flight: no server above ceil(1.25 × 160 / 4) = 50.
	for i, n := range l.active {
		if n > 50 {
			t.Errorf("s%d holds %d, past 50", i-9, n)
		}
	}
}

type lockedLoad struct {
	*fakeLoad
	mu *sync.Mutex
}

func (l *lockedLoad) Active(i int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fakeLoad.Active(i)
}

func (l *lockedLoad) Claim(i, limit int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fakeLoad.Claim(i, limit)
}

// rendezvousOrder returns the pool's servers (engine indexes) by
// descending hash score for key.
func rendezvousOrder(p *Pool, key string) []int {
	h := allUp
	var order []int
	skip := map[int]bool{}
	for range p.servers {
		i, _ := p.hashPick(health(func(i int) bool { return h(i) && !skip[i] }), key)
		order = append(order, i)
		skip[i] = true
	}
	return order
}

// TestSlowStartGate: a server at ramp 0 gets nothing, at ramp 1 its full
// share, in between about its ramp times its share; a pool whose servers
// all ramp still answers.
func TestSlowStartGate(t *testing.T) {
	for _, policy := range []Policy{RoundRobin, WeightedRoundRobin, LeastRequest, PeakEWMA} {
		for _, ramp := range []float64{0, 0.5, 1} {
			p := NewPoolOptions(policy, servers(1, 1, 1), measured(Options{SlowStart: time.Second, DefaultRTT: time.Millisecond}))
			l := newFakeLoad()
			l.ramp[12] = ramp
			const n = 30000
			got := 0
			for range n {
				i, _ := p.Pick(l, "")
				clear(l.active) // every request done at once
				if i == 12 {
					got++
				}
			}
			share := float64(got) / n
			switch {
			case ramp == 0 && got != 0:
				t.Errorf("%v ramp 0: %d picks", policy, got)
			case ramp == 1 && math.Abs(share-1.0/3) > 0.02:
				t.Errorf("%v ramp 1: share %.3f, want 1/3", policy, share)
			case ramp == 0.5 && (share < 0.12 || share > 0.22):
				t.Errorf("%v ramp 0.5: share %.3f, want about half of 1/3", policy, share)
			}
		}
		p := NewPoolOptions(policy, servers(1, 1), measured(Options{SlowStart: time.Second}))
		l := newFakeLoad()
		l.ramp[10], l.ramp[11] = 0, 0
		if _, ok := p.Pick(l, ""); !ok {
			t.Errorf("%v: no pick when every server ramps", policy)
		}
	}
}

func TestEWMA(t *testing.T) {
	const ms = int64(time.Millisecond)
	tau := 10 * time.Second
	var e EWMA
	if v := e.Value(0, tau, 30*time.Millisecond); v != float64(30*ms) {
		t.Errorf("unsampled: %v, want the default", v)
	}
	start := int64(time.Hour) // any point on the clock
	e.Observe(10*ms, start, tau)
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*1e-3 }
	if v := e.Value(start, tau, 0); !near(v, float64(10*ms)) {
		t.Errorf("first sample: %v", v)
	}
	// Decay toward zero: after τ, e^-1 of it.
	if v := e.Value(start+int64(tau), tau, 0); !near(v, float64(10*ms)/math.E) {
		t.Errorf("after τ: %v, want %v", v, float64(10*ms)/math.E)
	}
	// A spike replaces the estimate at once.
	e.Observe(200*ms, start+int64(time.Second), tau)
	if v := e.Value(start+int64(time.Second), tau, 0); !near(v, float64(200*ms)) {
		t.Errorf("after a spike: %v", v)
	}
	// A calm sample blends in by the time since the last: 1 s later,
	// v = 200 e^-0.1 + 10 (1 − e^-0.1).
	now := start + 2*int64(time.Second)
	e.Observe(10*ms, now, tau)
	d := math.Exp(-0.1)
	if v, want := e.Value(now, tau, 0), float64(200*ms)*d+float64(10*ms)*(1-d); !near(v, want) {
		t.Errorf("blended: %v, want %v", v, want)
	}
	// Steady samples converge on their value.
	for k := range 2000 {
		now += int64(50 * time.Millisecond)
		e.Observe(20*ms, now, tau)
		_ = k
	}
	if v := e.Value(now, tau, 0); !near(v, float64(20*ms)) {
		t.Errorf("steady 20ms: %v", v)
	}
}

func TestEWMAConcurrent(t *testing.T) {
	var e EWMA
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 1000 {
				e.Observe(int64(1000*(g+1)), int64(k)*int64(time.Millisecond), time.Second)
				e.Value(int64(k)*int64(time.Millisecond), time.Second, 0)
			}
		})
	}
	wg.Wait()
	if v := e.Value(int64(time.Second), time.Second, 0); v <= 0 || v > 4000 {
		t.Errorf("estimate %v outside the samples' range", v)
	}
}

func TestRandDeterministic(t *testing.T) {
	var a, b, c Rand
	a.seed(7)
	b.seed(7)
	c.seed(7)
	for range 100 {
		ga, gb := a.take(), b.take()
		if ga.next() != gb.next() {
			t.Fatal("two sources with one seed differ")
		}
	}
	g := c.take()
	counts := make([]int, 5)
	for range 50000 {
		counts[g.intn(5)]++
	}
	for i, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("intn(5) gave %d %d times of 50000", i, c)
		}
	}
}

func BenchmarkPickLoad(b *testing.B) {
	for _, bb := range []struct {
		name    string
		policy  Policy
		weights []int
		opts    Options
		key     string
	}{
		{"LeastRequest", LeastRequest, []int{1, 1, 1, 1, 1, 1, 1, 1}, Options{}, ""},
		{"LeastRequestWeighted", LeastRequest, []int{1, 2, 3, 4, 1, 2, 3, 4}, Options{ActiveRequestBias: 1}, ""},
		{"PeakEWMA", PeakEWMA, []int{1, 1, 1, 1, 1, 1, 1, 1}, Options{DefaultRTT: time.Millisecond}, ""},
		{"HashBounded", Hash, []int{1, 1, 1, 1, 1, 1, 1, 1}, Options{BalanceFactor: 125}, "0123456789abcdef"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			p := NewPoolOptions(bb.policy, servers(bb.weights...), measured(bb.opts))
			l := newFakeLoad()
			b.ReportAllocs()
			for b.Loop() {
				i, _ := p.Pick(l, bb.key)
				l.active[i]--
			}
		})
	}
}
