package balancer

import "math"

// The load-aware policies, in a measured pool:
//
//   - LeastRequest, all weights equal: power of two choices (Mitzenmacher;
//     Envoy's least request). Draw Choices distinct servers at random among
//     those that are up and send to the one with the fewest requests in
//     flight; a tie goes to the server drawn first.
//   - LeastRequest, weights that differ: Envoy's rule, where a server
//     counts with the weight weight / (active+1)^bias. Envoy feeds those
//     weights to its EDF scheduler; here one server is drawn at random in
//     proportion to them, which gives the same expected shares without a
//     scheduler shared by every pick.
//   - PeakEWMA: power of two choices on cost = latency × (active+1) /
//     weight, latency being the server's peak EWMA (see [EWMA]); the lower
//     cost wins, a tie goes to the server drawn first.
//
// Slow start: a ramping candidate of a two-choice draw takes part in the
// comparison with a probability equal to its ramp (when every candidate is
// turned away, the comparison is among them all); in the weighted draw its
// weight is multiplied by its ramp.

// loadPick chooses by LeastRequest or PeakEWMA from what l reports. It
// does not claim.
func (p *Pool) loadPick(l Load, g *rng) (int, bool) {
	up := 0
	for _, s := range p.servers {
		if l.Up(s.Index) {
			up++
		}
	}
	if up == 0 {
		return 0, false
	}
	if p.policy == LeastRequest && p.weighted {
		if i, ok := p.weightedLeast(l, g); ok {
			return i, true
		}
	}
	k := 2
	if p.policy == LeastRequest {
		k = p.opts.Choices
	}
	k = min(k, up)

	// Draw k distinct ranks among the servers that are up, then find the
	// servers of those ranks.
	var ranks, sorted, pos [maxChoices]int
	for t := range k {
		r := g.intn(up - t)
		j := 0
		for ; j < t && sorted[j] <= r; j++ {
			r++ // skip the ranks drawn already, smallest first
		}
		copy(sorted[j+1:t+1], sorted[j:t])
		sorted[j] = r
		ranks[t] = r
		pos[t] = -1
	}
	rank := 0
	for i, s := range p.servers {
		if !l.Up(s.Index) {
			continue
		}
		for t := range k {
			if ranks[t] == rank {
				pos[t] = i
			}
		}
		rank++
	}

	var gate *rampGate
	if p.opts.SlowStart > 0 {
		gate = &rampGate{l: l, window: p.opts.SlowStart, g: *g}
	}
	// best among the admitted candidates; any among all of them.
	best, any := -1, -1
	var bestCost, anyCost float64
	for t := range k {
		i := pos[t]
		if i < 0 {
			continue // its server went down between the two passes
		}
		c := p.cost(l, i)
		if any < 0 || c < anyCost {
			any, anyCost = i, c
		}
		if (best < 0 || c < bestCost) && gate.admit(p.servers[i].Index) {
			best, bestCost = i, c
		}
	}
	if best < 0 {
		best = any
	}
	if best < 0 {
		return 0, false
	}
	return p.servers[best].Index, true
}

// cost is what a two-choice comparison minimizes for the server at
// position i.
func (p *Pool) cost(l Load, i int) float64 {
	s := p.servers[i]
	active := float64(l.Active(s.Index))
	if p.policy == LeastRequest {
		return active
	}
	lat := l.Latency(s.Index, p.opts.Decay, p.opts.DefaultRTT)
	return lat * (active + 1) / float64(s.Weight)
}

// weightedLeast draws one server that is up in proportion to
// weight × ramp / (active+1)^bias. It reports false when every weight came
// out as zero.
func (p *Pool) weightedLeast(l Load, g *rng) (int, bool) {
	bias := p.opts.ActiveRequestBias
	weight := func(s Server) float64 {
		w := float64(s.Weight)
		if p.opts.SlowStart > 0 {
			w *= l.Ramp(s.Index, p.opts.SlowStart)
		}
		switch a := float64(l.Active(s.Index)) + 1; bias {
		case 0:
		case 1:
			w /= a
		default:
			w /= math.Pow(a, bias)
		}
		return w
	}
	total := 0.0
	for _, s := range p.servers {
		if l.Up(s.Index) {
			total += weight(s)
		}
	}
	if !(total > 0) {
		return 0, false
	}
	x := g.float() * total
	last := -1
	for _, s := range p.servers {
		if !l.Up(s.Index) {
			continue
		}
		last = s.Index
		if x -= weight(s); x < 0 {
			return s.Index, true
		}
	}
	// Rounding, or a server that went down meanwhile.
	return last, last >= 0
}
