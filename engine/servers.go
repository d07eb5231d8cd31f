package engine

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"l7lb/balancer"
	"l7lb/config"
)

// server is the live state of one server: what the proxy measures of the
// requests it sends there, and what balancing, outlier detection and slow
// start derive from it. The engine keeps one per server id for its whole
// life, so that a recompiled configuration goes on with the same counts
// (as the routed counters do); a compiled state reaches them by server
// index through its health. Every field is an atomic of its own: requests
// to different servers share nothing, and no lock is taken per request.
type server struct {
	inFlight atomic.Int64 // requests claimed and not yet done
	ewma     balancer.EWMA
	// upSince is when the server last came back (up again, readmitted,
	// or added by a configuration change), on the engine's clock; slow
	// start ramps from it. 0 when it is not ramping.
	upSince atomic.Int64

	// Outlier detection (outliers.go).
	ejected      atomic.Bool
	ejectedUntil atomic.Int64  // on the engine's clock
	multiplier   atomic.Int32  // ejections in a row: the next lasts base × (multiplier+1)
	fails        atomic.Int32  // consecutive failed responses
	requests     atomic.Uint64 // responses this interval, for the success-rate rule
	failures     atomic.Uint64 // failed ones among them
	ejections    [numEjectReasons]atomic.Uint64

	// Whether it takes requests (availability.go): the operator's state
	// (the node's server_down and server_up, the admin API's drain,
	// disable and enable) and the health checks' verdict, as bits of out;
	// drainUntil ends a drain, on the engine's clock.
	out        atomic.Uint32
	drainUntil atomic.Int64

	// Pads the struct past a cache line, so that two servers' counters,
	// allocated one after the other, do not share one.
	_ [64]byte
}

// health is a compiled state's view of its servers by server index: each
// server's live state, and how many are known (the configured servers
// that are not known come after them and are always down). It is the
// [balancer.Load] the pools read.
type health struct {
	e     *Engine
	known int
	live  []*server
	// names are the servers' ids, for the node's pin counts.
	names []string
}

// Up reports whether a server takes new requests: known, enabled, healthy
// and not ejected.
func (h *health) Up(i int) bool {
	return i < h.known && h.live[i].out.Load() == 0 && !h.live[i].ejected.Load()
}

// Keeps reports whether a server still serves the sessions pinned to it:
// it is up, or it drains and its drain has not timed out.
func (h *health) Keeps(i int) bool {
	if i >= h.known || h.live[i].ejected.Load() {
		return false
	}
	switch s := h.live[i]; s.out.Load() {
	case 0:
		return true
	case outDraining:
		return h.e.now() < s.drainUntil.Load()
	}
	return false
}

// Active returns the requests in flight to a server when the engine is
// measured (the proxy), and otherwise (the node) the sessions pinned to
// it: what bounded hashing counts.
func (h *health) Active(i int) int {
	if h.e.measured {
		return int(h.live[i].inFlight.Load())
	}
	return h.e.sessions.Pins(h.names[i])
}

// Claim counts a request in flight on a server, when limit is 0 or the
// count is below it.
func (h *health) Claim(i, limit int) bool {
	c := &h.live[i].inFlight
	if limit <= 0 {
		c.Add(1)
		return true
	}
	for {
		n := c.Load()
		if n >= int64(limit) {
			return false
		}
		if c.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Latency returns a server's peak EWMA in nanoseconds.
func (h *health) Latency(i int, decay, def time.Duration) float64 {
	return h.live[i].ewma.Value(h.e.now(), decay, def)
}

// Ramp returns how far a server is through its slow start of window.
func (h *health) Ramp(i int, window time.Duration) float64 {
	since := h.live[i].upSince.Load()
	if since == 0 {
		return 1
	}
	elapsed := h.e.now() - since
	if elapsed >= int64(window) {
		if elapsed >= int64(h.e.maxSlowStart.Load()) {
			h.live[i].upSince.CompareAndSwap(since, 0) // done for every route
		}
		return 1
	}
	return float64(elapsed) / float64(window)
}

var _ balancer.Load = (*health)(nil)

// The servers a retry skips count as down; the rest reads through.

func (x *excluding) Active(i int) int                    { return x.h.Active(i) }
func (x *excluding) Claim(i, limit int) bool             { return x.h.Claim(i, limit) }
func (x *excluding) Ramp(i int, w time.Duration) float64 { return x.h.Ramp(i, w) }
func (x *excluding) Latency(i int, decay, def time.Duration) float64 {
	return x.h.Latency(i, decay, def)
}

var _ balancer.Load = (*excluding)(nil)

// newHealth returns the health of st: each server's live state, made for
// an id seen for the first time, or afresh for an id in renew (its
// operator's state kept). A server that appears once the engine has
// servers was added by a configuration change and ramps up as one that
// came back. It does not change e.live: commit does.
func (e *Engine) newHealth(st *state, renew []string) *health {
	h := &health{e: e, known: len(st.servers), live: make([]*server, len(st.names)), names: st.names}
	now := e.now()
	added := len(e.live) > 0
	for i, name := range st.names {
		s := e.live[name]
		if s == nil || slices.Contains(renew, name) {
			fresh := new(server)
			if s != nil {
				fresh.out.Store(s.out.Load() &^ outUnhealthy)
				fresh.drainUntil.Store(s.drainUntil.Load())
			}
			if added {
				fresh.upSince.Store(max(now, 1))
			}
			s = fresh
		}
		h.live[i] = s
	}
	var longest time.Duration
	st.eachPool(func(rt *route) { longest = max(longest, rt.pool.Options().SlowStart) })
	e.maxSlowStart.Store(int64(longest))
	return h
}

// cameBack starts the slow start of a server that takes requests again.
func (s *server) cameBack(now int64) { s.upSince.Store(max(now, 1)) }

// now returns the engine's clock: monotonic nanoseconds since it started.
func (e *Engine) now() int64 {
	if e.clock != nil {
		return e.clock()
	}
	return int64(time.Since(e.epoch))
}

// poolOptions returns the balancer options of a route: its mode's, and
// what the engine says of measuring and slow start.
func (e *Engine) poolOptions(r *config.Route, slowStart time.Duration) balancer.Options {
	o := balancer.Options{Measured: e.measured, Seed: e.seed}
	if e.measured && (r == nil || r.Balance != config.Hash) {
		o.SlowStart = slowStart // a hash key keeps its server: no ramp
	}
	if r == nil {
		return o
	}
	if lr := r.LeastRequest; lr != nil {
		o.Choices, o.ActiveRequestBias = lr.Choices, lr.ActiveRequestBias
	}
	if pe := r.PeakEWMA; pe != nil {
		o.Decay, o.DefaultRTT = pe.Decay, pe.DefaultRTT
	}
	o.BalanceFactor = r.HashBalanceFactor
	return o
}

// Measure tells the engine that its frontend measures requests (the
// proxy): each 200 decision counts a request in flight on its server
// until [Engine.Done], [Engine.Responded] gives response times, and the
// load-aware policies, bounded hashing and slow start use them. Without it
// (the node) nothing is in flight, least_request and peak_ewma rotate by
// smooth weighted round robin, and bounded hashing counts pins.
func (e *Engine) Measure() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.measured = true
	st, err := e.compile(e.cfg, e.builtin, false, nil)
	if err != nil {
		panic("engine: measure: " + err.Error())
	}
	e.store(st)
}

// attempt is the request a Decision has in flight on a server, in a
// measured engine.
type attempt struct {
	srv   *server // nil when none
	start int64   // when it was claimed, on the engine's clock
}

// picked records that a measured pool claimed server for d.
func (e *Engine) picked(d *Decision, st *state, server int) {
	if e.measured {
		d.attempt = attempt{srv: st.health.live[server], start: e.now()}
	}
}

// begin starts the request of a 200 decision in a measured engine: the
// pool claimed its server already, unless stickiness chose it.
func (e *Engine) begin(d *Decision) {
	if !e.measured || d.attempt.srv != nil {
		return
	}
	s := d.st.health.live[d.server]
	s.inFlight.Add(1)
	d.attempt = attempt{srv: s, start: e.now()}
}

// Done ends the request of d on its server: the response was relayed, or
// the exchange failed for good. Every 200 decision of a measured engine
// must end so, once; further calls do nothing.
func (e *Engine) Done(d *Decision) {
	if s := d.attempt.srv; s != nil {
		s.inFlight.Add(-1)
		d.attempt = attempt{}
	}
}

// Responded records the response head of d's request: its time since the
// decision, for the server's latency estimate, and its status, for outlier
// detection (5xx fails).
func (e *Engine) Responded(d *Decision, status int) {
	s := d.attempt.srv
	if s == nil {
		return
	}
	now := e.now()
	s.ewma.Observe(now-d.attempt.start, now, d.decay())
	e.outcome(d, status >= 500)
}

// Failed records that d's server gave no usable response: it could not be
// reached, broke the connection, sent a malformed head or, timedOut, none
// in time. It counts as a failure for outlier detection (as a 502 or 504
// would), and a timeout as a latency sample of at least the time waited.
func (e *Engine) Failed(d *Decision, timedOut bool) {
	s := d.attempt.srv
	if s == nil {
		return
	}
	if timedOut {
		now := e.now()
		s.ewma.Observe(now-d.attempt.start, now, d.decay())
	}
	e.outcome(d, true)
}

// decay is the time constant d's samples blend with: its route's when it
// balances by peak_ewma, the default otherwise.
func (d *Decision) decay() time.Duration {
	if dec := d.rt.pool.Options().Decay; dec > 0 {
		return dec
	}
	return config.DefaultEWMADecay
}

// ServerStats is the live state of one server, for statistics.
type ServerStats struct {
	// State is whether it takes requests: StateUp, StateDraining (new
	// requests no, its sessions yes), StateDisabled (by the operator, or a
	// drain that timed out) or StateDown (by the health checks).
	State     string
	InFlight  int64   // requests in flight (measured engines)
	EWMA      float64 // peak EWMA of response time in ms; 0 before a sample
	Ejected   bool    // ejected by outlier detection now
	Ejections map[string]uint64
	// SlowStart is how far a ramping server is through the longest slow
	// start window, 0 to 1; 1 when it is not ramping.
	SlowStart float64
}

// serverStats returns the live state of the known servers of st.
func (e *Engine) serverStats(st *state) map[string]ServerStats {
	out := make(map[string]ServerStats, len(st.servers))
	now := e.now()
	for i, name := range st.servers {
		s := st.health.live[i]
		ss := ServerStats{State: s.state(now), InFlight: s.inFlight.Load(), Ejected: s.ejected.Load(), SlowStart: 1, Ejections: map[string]uint64{}}
		if s.ewma.Sampled() {
			ss.EWMA = s.ewma.Value(now, config.DefaultEWMADecay, 0) / 1e6
		}
		for r := range s.ejections {
			ss.Ejections[ejectReasonNames[r]] = s.ejections[r].Load()
		}
		if w := e.maxSlowStart.Load(); w > 0 {
			ss.SlowStart = st.health.Ramp(i, time.Duration(w))
		}
		out[name] = ss
	}
	return out
}

// roundMillis turns nanoseconds into milliseconds rounded to the
// microsecond.
func roundMillis(ns float64) float64 { return math.Round(ns/1e3) / 1e3 }

// explainLoad adds to an explanation the inputs of a load-aware choice:
// for each server of the route, what the pool read (in flight, the
// latency estimate, the node's pins, the bound of bounded hashing), and
// whether it is ejected or ramping. Nothing is added for a choice that
// used no load on a route with no server ejected or ramping.
func (d *Decision) explainLoad(out map[string]any) {
	if d.rt == nil || d.st == nil {
		return
	}
	e, h, pool := d.st.health.e, d.st.health, d.rt.pool
	o := pool.Options()
	bounds := pool.Bounds(h)
	loadAware := o.Measured && (pool.Policy() == balancer.LeastRequest || pool.Policy() == balancer.PeakEWMA)
	load := make(map[string]any, len(pool.Servers()))
	show := loadAware || bounds != nil
	now := e.now()
	for p, s := range pool.Servers() {
		entry := map[string]any{}
		if loadAware || bounds != nil && o.Measured {
			entry["in_flight"] = h.live[s.Index].inFlight.Load()
		}
		if o.Measured && pool.Policy() == balancer.PeakEWMA {
			entry["ewma_ms"] = roundMillis(h.live[s.Index].ewma.Value(now, o.Decay, o.DefaultRTT))
		}
		if bounds != nil {
			if !o.Measured {
				entry["pins"] = h.Active(s.Index)
			}
			entry["bound"] = bounds[p]
		}
		if h.live[s.Index].ejected.Load() {
			entry["ejected"] = true
			show = true
		}
		if o.SlowStart > 0 {
			if f := h.Ramp(s.Index, o.SlowStart); f < 1 {
				entry["slow_start"] = math.Round(f*1000) / 1000
				show = true
			}
		}
		load[s.Name] = entry
	}
	if show {
		out["load"] = load
	}
}
