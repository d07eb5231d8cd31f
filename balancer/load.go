package balancer

import "time"

// Options tune a [Pool]. They are taken as given: the configuration has
// applied its defaults already.
//
// The fields a pick of any policy tests come first: they share the
// [Pool]'s first cache line.
type Options struct {
	// Measured says that requests are measured (the proxy): the health a
	// pick is given is a [Load] whose in-flight counts and latencies are
	// real, and every pick claims its server.
	Measured bool
	// BalanceFactor bounds a hash pool's loads, in percent of the average
	// (125 for 1.25); 0 leaves hashing unbounded. At least 100.
	BalanceFactor int
	// SlowStart is the window over which a server that came back ramps up
	// to its full share; 0 for none. Measured pools only: it needs time.
	SlowStart time.Duration
	// Choices is how many distinct servers least_request draws (at least
	// 2; fewer is read as 2). peak_ewma always draws two.
	Choices int
	// ActiveRequestBias is the exponent of least_request's weighting when
	// the weights differ: a server's weight counts as
	// weight / (active+1)^bias. 0 ignores the load (weighted random).
	ActiveRequestBias float64
	// Decay and DefaultRTT are peak_ewma's: the time constant of the
	// latency estimate, and the estimate of a server not yet sampled.
	Decay, DefaultRTT time.Duration
	// Seed starts the pool's random source; 0 for a random start. Only the
	// tests fix it.
	Seed uint64
}

// maxChoices bounds least_request's choices, so that the candidates of a
// pick live in a fixed array on the stack.
const maxChoices = 10

func (o Options) withDefaults() Options {
	o.Choices = min(max(o.Choices, 2), maxChoices)
	return o
}

// Load is what a pool reads of its servers' live state, by engine index.
// The engine's server state implements it; a pool asserts it from the
// [Health] it is given.
type Load interface {
	Health
	// Active returns a server's load: its requests in flight in a measured
	// pool; otherwise what the engine counts in their place (the node: the
	// sessions pinned to the server).
	Active(index int) int
	// Claim counts one more request in flight on a server when limit is 0
	// or its count is below limit, atomically, and reports whether it did.
	Claim(index, limit int) bool
	// Latency returns the server's response-time estimate in nanoseconds,
	// read with the given decay and default (see [EWMA.Value]).
	Latency(index int, decay, def time.Duration) float64
	// Ramp returns, for a server in slow start, how far it is through the
	// window since it came back, from 0 to 1; 1 when it is not ramping.
	Ramp(index int, window time.Duration) float64
}

// rampGate admits each ramping server to a pick with a probability equal
// to its ramp, so that a server in slow start takes a share of requests
// that grows linearly from nothing to its full share. A nil gate admits
// every server.
type rampGate struct {
	l      Load
	window time.Duration
	g      rng
}

func (r *rampGate) admit(index int) bool {
	if r == nil {
		return true
	}
	f := r.l.Ramp(index, r.window)
	return f >= 1 || r.g.float() < f
}

// Options returns the pool's options.
func (p *Pool) Options() Options { return p.opts }

// Policy returns the pool's policy.
func (p *Pool) Policy() Policy { return p.policy }
