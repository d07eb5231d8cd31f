package balancer

// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// arXiv:1608.01350; HAProxy's hash-balance-factor), over rendezvous order.
//
// Let L(s) be a server's load ([Load.Active]), T the sum of L over the
// pool's servers that are up, W the sum of their weights and f the balance
// factor in percent. A server s may take the request while
//
//	L(s) < B(s) = ceil(f × (T+1) × weight(s) / (100 × W))
//
// that is, while taking it leaves it at or below f/100 times its share of
// the load counting this request. The request goes to the first server in
// rendezvous order (highest score first, ties to the earlier server) that
// may take it. Since the loads sum to T < T+1 ≤ the sum of the bounds, some
// server always may: a pick fails only when no server is up.
//
// Integer arithmetic throughout, so that 1.1 × 10 is 11, not 12. In a
// measured pool the test and the claim are one atomic step ([Load.Claim]
// with the bound as its limit), so concurrent picks cannot push a server
// past its bound; the bound itself follows T as it moves.

// maxBoundedStack is the largest pool whose rendezvous scores a bounded
// pick keeps on the stack; larger pools allocate them.
const maxBoundedStack = 64

type scored struct {
	hash  uint64
	score float64
	done  bool // tried, or not up
}

// boundedPick chooses the first server in rendezvous order for key whose
// load is below its bound, claiming it when claim is set.
func (p *Pool) boundedPick(l Load, key string, claim bool) (int, bool) {
	var stack [maxBoundedStack]scored
	var order []scored
	if len(p.servers) <= maxBoundedStack {
		order = stack[:len(p.servers)]
	} else {
		order = make([]scored, len(p.servers))
	}
	var total, weights uint64
	up := 0
	for i, s := range p.servers {
		if !l.Up(s.Index) {
			order[i] = scored{done: true}
			continue
		}
		up++
		total += uint64(l.Active(s.Index))
		weights += uint64(s.Weight)
		hv := mix(fnvAddString(p.seeds[i], key))
		order[i] = scored{hash: hv}
		if p.weighted {
			u := (float64(hv>>11) + 0.5) / (1 << 53)
			order[i].score = -float64(s.Weight) / ln(u)
		}
	}
	first := -1
	for range up {
		best := -1
		for i := range order {
			o := &order[i]
			if o.done {
				continue
			}
			if best < 0 || p.weighted && o.score > order[best].score || !p.weighted && o.hash > order[best].hash {
				best = i
			}
		}
		order[best].done = true
		if first < 0 {
			first = best
		}
		s := p.servers[best]
		bound := p.bound(total, uint64(s.Weight), weights)
		if claim {
			if l.Claim(s.Index, bound) {
				return s.Index, true
			}
		} else if l.Active(s.Index) < bound {
			return s.Index, true
		}
	}
	if first >= 0 {
		// Only when every claim lost a race with concurrent picks, whose
		// requests raised the bounds as well: the rendezvous winner.
		if claim {
			l.Claim(p.servers[first].Index, 0)
		}
		return p.servers[first].Index, true
	}
	return 0, false
}

// bound returns B(s) for a server of weight w.
func (p *Pool) bound(total, w, weights uint64) int {
	num := uint64(p.opts.BalanceFactor) * (total + 1) * w
	den := 100 * weights
	return int((num + den - 1) / den)
}

// Bounds returns, for explain, the bound of each server of the pool (by
// position) under l's current loads, or nil when the pool is not bounded.
// Servers that are down get 0.
func (p *Pool) Bounds(l Load) []int {
	if p.policy != Hash || p.opts.BalanceFactor == 0 {
		return nil
	}
	var total, weights uint64
	for _, s := range p.servers {
		if l.Up(s.Index) {
			total += uint64(l.Active(s.Index))
			weights += uint64(s.Weight)
		}
	}
	out := make([]int, len(p.servers))
	for i, s := range p.servers {
		if l.Up(s.Index) {
			out[i] = p.bound(total, uint64(s.Weight), weights)
		}
	}
	return out
}
