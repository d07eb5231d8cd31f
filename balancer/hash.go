package balancer

import "math"

// FNV-1a 64-bit parameters.
const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
)

func fnvAddByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func fnvAddString(h uint64, s string) uint64 {
	for i := range len(s) {
		h = fnvAddByte(h, s[i])
	}
	return h
}

// mix is the splitmix64 finalizer. FNV-1a alone leaves the high bits of
// hashes of similar strings correlated; mixing spreads every input bit over
// the whole word, which the comparison and the weighted score rely on.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// hashPick returns the rendezvous winner for key among the servers that are
// up. It reads no mutable state, so it takes no lock.
func (p *Pool) hashPick(h Health, key string) (index int, ok bool) {
	best := -1
	var bestHash uint64
	var bestScore float64
	for i, s := range p.servers {
		if !h.Up(s.Index) {
			continue
		}
		hv := mix(fnvAddString(p.seeds[i], key))
		if !p.weighted {
			if best < 0 || hv > bestHash {
				best, bestHash = i, hv
			}
			continue
		}
		u := (float64(hv>>11) + 0.5) / (1 << 53)
		if score := -float64(s.Weight) / ln(u); best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return 0, false
	}
	return p.servers[best].Index, true
}

// ln returns the natural logarithm of x for 0 < x <= 1.
//
// It is the algorithm of Go's math.Log (from FreeBSD's e_log.c), restricted
// to that domain. math.Log is not used because its last bit differs between
// platforms: it is assembly on amd64 and s390x, and elsewhere the compiler
// may fuse a multiply and an add into one instruction. A last-bit difference
// can decide which server wins. Here every product is rounded by an explicit
// float64 conversion, which the Go specification says prevents fusion, so
// the result is exactly the same everywhere.
func ln(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01 // 3fe62e42 fee00000
		ln2Lo = 1.90821492927058770002e-10 // 3dea39ef 35793c76
		l1    = 6.666666666666735130e-01   // 3fe55555 55555593
		l2    = 3.999999999940941908e-01   // 3fd99999 9997fa04
		l3    = 2.857142874366239149e-01   // 3fd24924 94229359
		l4    = 2.222219843214978396e-01   // 3fcc71c5 1d8e78af
		l5    = 1.818357216161805012e-01   // 3fc74664 96cb03de
		l6    = 1.531383769920937332e-01   // 3fc39a09 d078c69f
		l7    = 1.479819860511658591e-01   // 3fc2f112 df3e5244
	)
	// Reduce x to f1 * 2^k with sqrt(2)/2 <= f1 < sqrt(2); exact.
	f1, ki := math.Frexp(x)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)

	s := f / (2 + f)
	s2 := float64(s * s)
	s4 := float64(s2 * s2)
	t1 := float64(s2 * (l1 + float64(s4*(l3+float64(s4*(l5+float64(s4*l7)))))))
	t2 := float64(s4 * (l2 + float64(s4*(l4+float64(s4*l6)))))
	r := t1 + t2
	hfsq := float64(0.5 * float64(f*f))
	return float64(k*ln2Hi) - ((hfsq - (float64(s*(hfsq+r)) + float64(k*ln2Lo))) - f)
}
