package balancer

import (
	"math"
	"sync/atomic"
	"time"
)

// EWMA is a server's peak-sensitive exponentially weighted moving average
// of response time, as Finagle's and Linkerd's peak EWMA balancers keep it
// (Finagle's PeakEwma, tower's load::PeakEwma):
//
//   - The estimate decays toward zero with time: read at a time Δ after
//     its last sample, it is e·exp(−Δ/τ), τ the decay. A server that got
//     no traffic for a while looks cheap again and is probed.
//   - A sample r above the current (decayed) estimate v replaces it at
//     once: a latency spike counts in full immediately.
//   - A sample at or below it is blended in by the time since the last
//     sample: the estimate becomes v + r·(1 − exp(−Δ/τ)), so samples
//     arriving at a steady r bring it to r, and a calm server's estimate
//     comes down over about τ.
//   - Until its first sample a server's estimate is a default RTT that
//     does not decay.
//
// All of it is one 64-bit word updated by compare-and-swap, so that
// concurrent samples and reads take no lock: the estimate as a float32 in
// nanoseconds (a 24-bit mantissa is far finer than any network's jitter)
// above the time of the last sample in units of 2^17 ns (131 µs). That
// time wraps every 6.5 days; a server idle that long has decayed to zero
// either way, except at exact multiples of the wrap, where it reads as
// less idle than it is (no worse than the decay of a shorter absence).
// The zero word means "no sample yet".
type EWMA struct{ word atomic.Uint64 }

const ewmaTimeShift = 17

func packEWMA(estimate float64, now int64) uint64 {
	e := float32(max(estimate, 1)) // never 0, which would read as "no sample"
	return uint64(math.Float32bits(e))<<32 | uint64(uint32(now>>ewmaTimeShift))
}

// decay returns exp(−Δ/τ) for the time between the word's sample and now.
func ewmaDecay(word uint64, now int64, tau time.Duration) float64 {
	elapsed := uint32(now>>ewmaTimeShift) - uint32(word)
	if elapsed == 0 {
		return 1
	}
	return math.Exp(-float64(int64(elapsed)<<ewmaTimeShift) / float64(tau))
}

// Value returns the estimate in nanoseconds at now (nanoseconds on the
// caller's monotonic clock), decaying with tau; def when there is no
// sample yet.
func (e *EWMA) Value(now int64, tau, def time.Duration) float64 {
	w := e.word.Load()
	if w == 0 {
		return float64(def)
	}
	return float64(math.Float32frombits(uint32(w>>32))) * ewmaDecay(w, now, tau)
}

// Observe adds a sample of rtt nanoseconds taken at now.
func (e *EWMA) Observe(rtt, now int64, tau time.Duration) {
	r := float64(rtt)
	for {
		old := e.word.Load()
		next := r
		if old != 0 {
			d := ewmaDecay(old, now, tau)
			if v := float64(math.Float32frombits(uint32(old>>32))) * d; r <= v {
				next = v + r*(1-d)
			}
		}
		if e.word.CompareAndSwap(old, packEWMA(next, now)) {
			return
		}
	}
}

// Sampled reports whether the estimate has had a sample.
func (e *EWMA) Sampled() bool { return e.word.Load() != 0 }
