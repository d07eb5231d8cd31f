// Package balancer keeps the server pools of l7lb's routes and chooses a
// server from a pool.
//
// A [Pool] holds an ordered list of servers, a [Policy] and the state that
// policy needs. Five policies exist:
//
//   - [RoundRobin]: a counter starts at 0; a pick takes the first server that is
//     up at or after the counter's position, wrapping around, and sets the
//     counter just past it.
//   - [WeightedRoundRobin]: nginx's smooth weighted round robin. For each pick,
//     every server that is up adds its weight to its current weight, the
//     server with the highest current weight wins (ties go to the earlier
//     server) and the winner's current weight is lowered by the sum of the
//     weights of the servers that are up. Servers that are down take no part.
//   - [Hash]: rendezvous (highest random weight) hashing over the servers that
//     are up. Every node with the same configuration picks the same server for
//     a key, and taking a server away moves only the keys that server had.
//     Without a key the pool falls back to round robin. With a balance
//     factor (bounded loads), a server already at its share of the load
//     passes the key on to the next server in rendezvous order.
//   - [LeastRequest] and [PeakEWMA]: load-aware choices by power of two
//     choices over what a [Load] reports; see leastrequest.go.
//
// # The hash
//
// The score of a server named s for a key k is computed from
//
//	h = mix(FNV-1a-64(s + "\x00" + k))
//
// where mix is the splitmix64 finalizer:
//
//	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
//	z = (z ^ z>>27) * 0x94d049bb133111eb
//	z = z ^ z>>31
//
// When all servers of the pool have the same weight, the server with the
// highest h wins. Otherwise the score is -w / ln(u), where w is the server's
// weight and u = (float64(h>>11) + 0.5) / 2^53 lies in (0, 1], and the
// highest score wins. In both cases ties go to the earlier server.
//
// The result is the same on every platform and in every run: FNV-1a and
// splitmix64 are defined on bytes and 64-bit integers, the hash has no
// random seed, and the logarithm is computed by this package with every
// floating-point operation rounded as IEEE 754 prescribes (no fused
// multiply-add, no assembly that differs between architectures).
//
// # Concurrency
//
// A Pool is safe for concurrent use. Round robin takes no lock: its
// counter is one atomic word, advanced by compare-and-swap, so that every
// pick is one step of the sequential rotation described above. Smooth
// weighted round robin state is guarded by a mutex; hashing with a key
// touches no state and takes no lock, and the load-aware policies read
// per-server atomics and draw from a lock-free random source. Neither [Pool.Pick] nor [Pool.Peek] allocates (except a
// bounded hash pick over more than 64 servers, for its scores).
package balancer

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Policy says how a [Pool] chooses among its servers.
type Policy uint8

// The policies a [Pool] can use.
const (
	RoundRobin Policy = iota
	WeightedRoundRobin
	Hash
	LeastRequest
	PeakEWMA
)

// String returns the policy's name in the configuration: round_robin,
// weighted_round_robin, hash, least_request or peak_ewma.
func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "round_robin"
	case WeightedRoundRobin:
		return "weighted_round_robin"
	case Hash:
		return "hash"
	case LeastRequest:
		return "least_request"
	case PeakEWMA:
		return "peak_ewma"
	}
	return fmt.Sprintf("Policy(%d)", p)
}

// Server is a member of a [Pool].
type Server struct {
	// Index is the engine's index of the server; it is what [Health] is
	// asked about and what [Pool.Pick] returns.
	Index int
	// Name is the server id. The hash is computed on it, so that every
	// node with the same configuration picks alike.
	Name string
	// Weight is at least 1.
	Weight int
}

// Health tells whether a server, by its engine index, is up.
//
// A Pool may call Up while it holds its lock, so Up must not call back
// into the Pool.
type Health interface {
	Up(index int) bool
}

// A Shape is the read-only part of a pool: its servers, in order, with
// what is derived from them alone. Pools of the same servers share one: a
// configuration of many routes has far fewer distinct server lists.
type Shape struct {
	servers []Server
	// seeds[i] is the FNV-1a state after hashing servers[i].Name and the
	// separating NUL byte, so that a hash pick only has to feed the key.
	seeds []uint64
	// weighted is set when the servers do not all have the same weight,
	// which switches the hash from comparing h to comparing -w/ln(u).
	weighted bool
}

// NewShape returns the shape of a pool of the given servers, in order.
// The slice is copied. It panics when a weight is below 1, since that is
// caught by configuration validation.
func NewShape(servers []Server) *Shape {
	sh := &Shape{servers: slices.Clone(servers), seeds: make([]uint64, len(servers))}
	for i, s := range servers {
		if s.Weight < 1 {
			panic(fmt.Sprintf("balancer: server %q has weight %d, want at least 1", s.Name, s.Weight))
		}
		if s.Weight != servers[0].Weight {
			sh.weighted = true
		}
		sh.seeds[i] = fnvAddByte(fnvAddString(fnvOffset, s.Name), 0)
	}
	return sh
}

// Pool is a list of servers with a selection policy and its state.
//
// What a pick reads of the pool itself (policy, shape, round robin
// counter, random source and the options it tests first) comes first and
// fits in one cache line, so that with many routes a pick misses once on
// its pool (TestPoolLayout).
type Pool struct {
	policy Policy
	*Shape

	// next is the round robin counter: the position to try first. It is
	// only ever stored by a compare-and-swap from the value a pick scanned
	// from (see rrPick).
	next atomic.Int64
	rand Rand
	opts Options

	mu sync.Mutex
	// current holds the smooth weighted round robin current weights.
	current []int
}

// NewPool returns a pool of the given servers, in order, using policy with
// its default options. The slice is copied. It panics when a weight is
// below 1 or the policy is unknown, since both are caught by
// configuration validation.
func NewPool(policy Policy, servers []Server) *Pool {
	return NewPoolOptions(policy, servers, Options{})
}

// NewPoolOptions is [NewPool] with options; zero options take their
// defaults.
func NewPoolOptions(policy Policy, servers []Server, o Options) *Pool {
	return NewShapedPool(policy, NewShape(servers), o)
}

// NewShapedPool is [NewPoolOptions] over a shape, which the pool only
// reads: many pools may share it.
func NewShapedPool(policy Policy, sh *Shape, o Options) *Pool {
	if policy > PeakEWMA {
		panic("balancer: unknown policy " + policy.String())
	}
	p := &Pool{policy: policy, opts: o.withDefaults(), Shape: sh}
	p.rand.seed(o.Seed)
	switch policy {
	case WeightedRoundRobin, LeastRequest, PeakEWMA:
		// The load-aware policies rotate by smooth weighted round robin
		// where no load is measured.
		p.current = make([]int, len(sh.servers))
	}
	return p
}

// Servers returns the pool's servers in order. The slice is shared with the
// pool and must not be modified.
func (p *Pool) Servers() []Server { return p.servers }

// Contains reports whether the server with the given engine index is a
// member of the pool.
func (p *Pool) Contains(index int) bool {
	for _, s := range p.servers {
		if s.Index == index {
			return true
		}
	}
	return false
}

// Pick chooses a server that is up and advances the pool's state. key is
// the hash key of a [Hash] pool; an empty key means the key is absent and
// the pool picks by round robin instead. Other policies ignore key. ok is
// false when no server of the pool is up; the state is then unchanged.
//
// In a measured pool ([Options].Measured, the proxy) h must be a [Load],
// and Pick counts the request on the server it returns ([Load.Claim]): the
// caller must end it there. Without measures, least_request and peak_ewma
// rotate by smooth weighted round robin, and bounded hashing counts what
// [Load.Active] reports when h is a Load.
func (p *Pool) Pick(h Health, key string) (index int, ok bool) {
	return p.choose(h, key, false)
}

// Peek returns the server [Pool.Pick] would choose with the same arguments
// and health, without changing any state or counting anything. Where the
// choice is random, Peek draws what the next Pick will draw.
func (p *Pool) Peek(h Health, key string) (index int, ok bool) {
	return p.choose(h, key, true)
}

func (p *Pool) choose(h Health, key string, peek bool) (int, bool) {
	var l Load
	if p.opts.Measured {
		l, _ = h.(Load)
	}
	if p.policy == Hash && key != "" {
		if p.opts.BalanceFactor > 0 {
			if lh, ok := h.(Load); ok {
				return p.boundedPick(lh, key, l != nil && !peek)
			}
		}
		index, ok := p.hashPick(h, key)
		return claimed(l, peek, index, ok)
	}
	if l == nil {
		return p.rotate(h, nil, peek)
	}
	if p.policy == LeastRequest || p.policy == PeakEWMA {
		r := p.draws(peek)
		index, ok := p.loadPick(l, &r)
		return claimed(l, peek, index, ok)
	}
	var gate *rampGate
	if p.opts.SlowStart > 0 {
		gate = &rampGate{l: l, window: p.opts.SlowStart, g: p.draws(peek)}
	}
	index, ok := p.rotate(h, gate, peek)
	if !ok && gate != nil {
		// Every server that is up is ramping and turned away: slow start
		// never leaves a pool without a server.
		index, ok = p.rotate(h, nil, peek)
	}
	return claimed(l, peek, index, ok)
}

// claimed counts a measured pick's request on the server chosen, and
// passes the choice on.
func claimed(l Load, peek bool, index int, ok bool) (int, bool) {
	if ok && l != nil && !peek {
		l.Claim(index, 0)
	}
	return index, ok
}

// draws returns the random sequence of a pick: the next one, or for a
// peek the one the next pick will take.
func (p *Pool) draws(peek bool) rng {
	if peek {
		return p.rand.look()
	}
	return p.rand.take()
}

// rotate is a round robin pick, or a smooth weighted round robin one for
// the policies that rotate so.
func (p *Pool) rotate(h Health, gate *rampGate, peek bool) (int, bool) {
	if p.policy == RoundRobin || p.policy == Hash {
		return p.rrPick(h, gate, peek)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if peek {
		i := p.wrrPeek(h, gate)
		if i < 0 {
			return 0, false
		}
		return p.servers[i].Index, true
	}
	return p.wrrPick(h, gate)
}

// rrPick is a round robin pick without a lock: it scans from the counter
// it loaded and moves the counter just past its choice only if no other
// pick moved it meanwhile, else scans again from the new position. So
// concurrent picks take the servers in exactly the order one pick after
// another would, and a single-threaded caller (the node) sees the same
// sequence as with a lock. Before, a mutex guarded the counter: about a
// third of a pick's time uncontended, and the cost of contention on every
// proxied request beyond one core.
func (p *Pool) rrPick(h Health, gate *rampGate, peek bool) (int, bool) {
	for {
		next := p.next.Load()
		i := p.rrScan(h, gate, int(next))
		if i < 0 {
			return 0, false
		}
		if peek || p.next.CompareAndSwap(next, int64((i+1)%len(p.servers))) {
			return p.servers[i].Index, true
		}
	}
}

// rrScan returns the position of the first server that is up at or after
// position next, wrapping around, or -1 when none is up. A ramping server
// turned away by gate counts as down.
func (p *Pool) rrScan(h Health, gate *rampGate, next int) int {
	n := len(p.servers)
	for k := range n {
		i := next + k
		if i >= n {
			i -= n
		}
		if h.Up(p.servers[i].Index) && gate.admit(p.servers[i].Index) {
			return i
		}
	}
	return -1
}

// wrrPick is one step of nginx's ngx_http_upstream_get_peer. It asks each
// server's health once and updates the current weights in the same pass,
// so that a server changing state meanwhile cannot unbalance the sums. A
// ramping server turned away by gate sits this pick out. p.mu must be held.
func (p *Pool) wrrPick(h Health, gate *rampGate) (index int, ok bool) {
	best, total := -1, 0
	for i, s := range p.servers {
		if !h.Up(s.Index) || !gate.admit(s.Index) {
			continue
		}
		p.current[i] += s.Weight
		total += s.Weight
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	p.current[best] -= total
	return p.servers[best].Index, true
}

// wrrPeek returns the position wrrPick would choose, or -1, computing the
// raised current weights without storing them. p.mu must be held.
func (p *Pool) wrrPeek(h Health, gate *rampGate) int {
	best, bestWeight := -1, 0
	for i, s := range p.servers {
		if !h.Up(s.Index) || !gate.admit(s.Index) {
			continue
		}
		if w := p.current[i] + s.Weight; best < 0 || w > bestWeight {
			best, bestWeight = i, w
		}
	}
	return best
}

// SameShape reports whether p and q have the same policy, options and
// servers (names, order and weights), so that q's state fits p. Engine
// indexes are not compared: the state is positional.
func (p *Pool) SameShape(q *Pool) bool {
	po, qo := p.opts, q.opts
	po.Seed, qo.Seed = 0, 0
	return p.policy == q.policy && po == qo && (p.Shape == q.Shape || slices.EqualFunc(p.servers, q.servers, func(a, b Server) bool {
		return a.Name == b.Name && a.Weight == b.Weight
	}))
}

// TakeState copies q's round robin counter and current weights into p,
// which must have the same shape (see [Pool.SameShape]). A re-applied
// configuration uses it so that pools whose servers did not change keep
// their position.
func (p *Pool) TakeState(q *Pool) {
	if p == q {
		return
	}
	if !p.SameShape(q) {
		panic("balancer: TakeState from a pool of another shape")
	}
	// The locks are taken one after the other, never both at once, so that
	// two pools taking state from each other cannot deadlock.
	q.mu.Lock()
	current := slices.Clone(q.current)
	q.mu.Unlock()

	p.next.Store(q.next.Load())
	p.mu.Lock()
	copy(p.current, current)
	p.mu.Unlock()
}
