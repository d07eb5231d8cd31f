// Package balancer keeps the server pools of l7lb's routes and chooses a
// server from a pool.
//
// A [Pool] holds an ordered list of servers, a [Policy] and the state that
// policy needs. Three policies exist:
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
//     Without a key the pool falls back to round robin.
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
// A Pool is safe for concurrent use. Round robin state is guarded by one
// mutex; hashing with a key touches no state and takes no lock. Neither
// [Pool.Pick] nor [Pool.Peek] allocates.
package balancer

import (
	"fmt"
	"slices"
	"sync"
)

// Policy says how a [Pool] chooses among its servers.
type Policy uint8

// The policies a [Pool] can use.
const (
	RoundRobin Policy = iota
	WeightedRoundRobin
	Hash
)

// String returns the policy's name in the configuration: round_robin,
// weighted_round_robin or hash.
func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "round_robin"
	case WeightedRoundRobin:
		return "weighted_round_robin"
	case Hash:
		return "hash"
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
// A Pool calls Up while it holds its lock, so Up must not call back into
// the Pool.
type Health interface {
	Up(index int) bool
}

// Pool is a list of servers with a selection policy and its state.
type Pool struct {
	policy  Policy
	servers []Server
	// seeds[i] is the FNV-1a state after hashing servers[i].Name and the
	// separating NUL byte, so that a hash pick only has to feed the key.
	seeds []uint64
	// weighted is set when the servers do not all have the same weight,
	// which switches the hash from comparing h to comparing -w/ln(u).
	weighted bool

	mu sync.Mutex
	// next is the round robin counter: the position to try first.
	next int
	// current holds the smooth weighted round robin current weights.
	current []int
}

// NewPool returns a pool of the given servers, in order, using policy. The
// slice is copied. It panics when a weight is below 1 or the policy is
// unknown, since both are caught by configuration validation.
func NewPool(policy Policy, servers []Server) *Pool {
	if policy > Hash {
		panic("balancer: unknown policy " + policy.String())
	}
	p := &Pool{policy: policy, servers: slices.Clone(servers)}
	for _, s := range servers {
		if s.Weight < 1 {
			panic(fmt.Sprintf("balancer: server %q has weight %d, want at least 1", s.Name, s.Weight))
		}
		if s.Weight != servers[0].Weight {
			p.weighted = true
		}
	}
	switch policy {
	case WeightedRoundRobin:
		p.current = make([]int, len(servers))
	case Hash:
		p.seeds = make([]uint64, len(servers))
		for i, s := range servers {
			p.seeds[i] = fnvAddByte(fnvAddString(fnvOffset, s.Name), 0)
		}
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
func (p *Pool) Pick(h Health, key string) (index int, ok bool) {
	if p.policy == Hash && key != "" {
		return p.hashPick(h, key)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.policy == WeightedRoundRobin {
		return p.wrrPick(h)
	}
	i := p.rrScan(h)
	if i < 0 {
		return 0, false
	}
	p.next = (i + 1) % len(p.servers)
	return p.servers[i].Index, true
}

// Peek returns the server [Pool.Pick] would choose with the same arguments
// and health, without changing any state.
func (p *Pool) Peek(h Health, key string) (index int, ok bool) {
	if p.policy == Hash && key != "" {
		return p.hashPick(h, key)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var i int
	if p.policy == WeightedRoundRobin {
		i = p.wrrPeek(h)
	} else {
		i = p.rrScan(h)
	}
	if i < 0 {
		return 0, false
	}
	return p.servers[i].Index, true
}

// rrScan returns the position of the first server that is up at or after
// the counter, wrapping around, or -1 when none is up. p.mu must be held.
func (p *Pool) rrScan(h Health) int {
	n := len(p.servers)
	for k := range n {
		i := p.next + k
		if i >= n {
			i -= n
		}
		if h.Up(p.servers[i].Index) {
			return i
		}
	}
	return -1
}

// wrrPick is one step of nginx's ngx_http_upstream_get_peer. It asks each
// server's health once and updates the current weights in the same pass,
// so that a server changing state meanwhile cannot unbalance the sums.
// p.mu must be held.
func (p *Pool) wrrPick(h Health) (index int, ok bool) {
	best, total := -1, 0
	for i, s := range p.servers {
		if !h.Up(s.Index) {
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
func (p *Pool) wrrPeek(h Health) int {
	best, bestWeight := -1, 0
	for i, s := range p.servers {
		if !h.Up(s.Index) {
			continue
		}
		if w := p.current[i] + s.Weight; best < 0 || w > bestWeight {
			best, bestWeight = i, w
		}
	}
	return best
}

// SameShape reports whether p and q have the same policy and the same
// servers (names, order and weights), so that q's state fits p. Engine
// indexes are not compared: the state is positional.
func (p *Pool) SameShape(q *Pool) bool {
	return p.policy == q.policy && slices.EqualFunc(p.servers, q.servers, func(a, b Server) bool {
		return a.Name == b.Name && a.Weight == b.Weight
	})
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
	next, current := q.next, slices.Clone(q.current)
	q.mu.Unlock()

	p.mu.Lock()
	p.next = next
	copy(p.current, current)
	p.mu.Unlock()
}
