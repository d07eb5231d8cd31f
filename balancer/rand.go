package balancer

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"sync/atomic"
)

// wyrand's constants (Wang Yi's wyhash family): the state advances by
// wyInc, and each output is the folded 128-bit product of the state with
// itself xor wyMix.
const (
	wyInc = 0xa0761d6478bd642f
	wyMix = 0xe7037ed1a0b428db
)

// Rand is the random source of one pool: a counter stepped atomically, so
// that concurrent picks draw without a lock and never share a draw. Each
// pick takes one step and expands it, mixed, into a short private
// sequence ([rng]) for the draws it needs.
type Rand struct{ state atomic.Uint64 }

// seeds gives pools without a seed distinct random starting points.
var seeds Rand

func init() {
	var b [8]byte
	rand.Read(b[:])
	seeds.state.Store(binary.LittleEndian.Uint64(b[:]))
}

// seed starts r at seed, or at a random point when seed is 0. A fixed
// seed makes a pool's choices reproducible, which the unit tests rely on.
func (r *Rand) seed(seed uint64) {
	if seed == 0 {
		g := seeds.take()
		seed = g.next()
	}
	r.state.Store(seed)
}

// take returns the private sequence of the next draw, advancing the source.
func (r *Rand) take() rng { return rng{wymix(r.state.Add(wyInc))} }

// look returns the sequence take would return, without advancing: a Peek
// then draws exactly what the next Pick will.
func (r *Rand) look() rng { return rng{wymix(r.state.Load() + wyInc)} }

// rng is a private wyrand sequence, used by one pick.
type rng struct{ s uint64 }

func wymix(s uint64) uint64 {
	hi, lo := bits.Mul64(s, s^wyMix)
	return hi ^ lo
}

func (g *rng) next() uint64 {
	g.s += wyInc
	return wymix(g.s)
}

// intn returns a number in [0, n), n > 0 (Lemire's multiply-shift; the
// bias, below n/2^64, does not matter here).
func (g *rng) intn(n int) int {
	hi, _ := bits.Mul64(g.next(), uint64(n))
	return int(hi)
}

// float returns a number in [0, 1).
func (g *rng) float() float64 { return float64(g.next()>>11) / (1 << 53) }
