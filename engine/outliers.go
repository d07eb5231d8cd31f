package engine

import (
	"fmt"
	"time"

	lbhealth "l7lb/health"
)

// Outlier detection (serve, `outliers:`), after Envoy's. The proxy reports
// each response (Responded, Failed); a failure is a 5xx or no usable
// response. A server is ejected, which takes it out of every pool and
// moves its sticky sessions as a down server's, when
//
//   - it fails Consecutive5xx times in a row (checked on each failure), or
//   - at a sweep (every Interval), its success rate over the interval is
//     below mean − SuccessRateStdevFactor × stdev of the rates of a pool's
//     servers, among SuccessRateMinimumHosts or more servers with
//     SuccessRateRequestVolume requests or more,
//
// unless ejecting it would leave more than MaxEjectionPercent of a pool it
// belongs to ejected. It stays out for BaseEjectionTime × the ejections in
// a row (at most MaxEjectionTime), and is readmitted at the first sweep
// after that, when its slow start begins. Each sweep that finds a server
// in service lowers its run of ejections by one.

type ejectReason uint8

const (
	ejectConsecutive ejectReason = iota
	ejectSuccessRate
	numEjectReasons
)

var ejectReasonNames = [numEjectReasons]string{"consecutive_5xx", "success_rate"}

// outcome counts a response of d's server for outlier detection.
func (e *Engine) outcome(d *Decision, failed bool) {
	o := d.st.cfg.Outliers
	if o == nil {
		return
	}
	s := d.attempt.srv
	if o.SuccessRateStdevFactor > 0 {
		s.requests.Add(1)
		if failed {
			s.failures.Add(1)
		}
	}
	if !failed {
		if s.fails.Load() != 0 {
			s.fails.Store(0)
		}
		return
	}
	if n := int(s.fails.Add(1)); o.Consecutive5xx > 0 && n >= o.Consecutive5xx && !s.ejected.Load() {
		e.eject(d.st, d.server, ejectConsecutive, fmt.Sprintf("%d failures in a row", n))
	}
}

// eject takes server i of st out of service, unless a pool it belongs to
// has its share of ejected servers already.
func (e *Engine) eject(st *state, i int, reason ejectReason, why string) {
	e.outlierMu.Lock()
	defer e.outlierMu.Unlock()
	s := st.health.live[i]
	o := st.cfg.Outliers
	if s.ejected.Load() || !st.mayEject(i, o.MaxEjectionPercent) {
		return
	}
	dur := lbhealth.EjectionTime(o.BaseEjectionTime, o.MaxEjectionTime, int(s.multiplier.Add(1)))
	s.ejectedUntil.Store(e.now() + int64(dur))
	s.fails.Store(0)
	s.ejected.Store(true)
	s.ejections[reason].Add(1)
	e.event(fmt.Sprintf("server %s ejected for %v: %s", st.names[i], dur, why))
}

// mayEject reports whether server i can be ejected without leaving any
// pool it belongs to with more than percent of its servers ejected.
func (st *state) mayEject(i int, percent int) bool {
	ok := true
	st.eachPool(func(rt *route) {
		if !ok || !rt.pool.Contains(i) {
			return
		}
		ejected := 0
		for _, s := range rt.pool.Servers() {
			if st.health.live[s.Index].ejected.Load() {
				ejected++
			}
		}
		ok = lbhealth.MayEject(len(rt.pool.Servers()), ejected, percent)
	})
	return ok
}

// eachPool calls f for each route of st with a pool, the default servers
// included.
func (st *state) eachPool(f func(*route)) {
	for i := range st.routes {
		if st.routes[i].pool != nil {
			f(&st.routes[i])
		}
	}
	if st.def != nil && st.def.pool != nil {
		f(st.def)
	}
}

// SweepOutliers readmits the ejected servers whose time is up and applies
// the success-rate rule to the interval that ends. The proxy calls it
// every outliers.interval; it does nothing without outlier detection.
func (e *Engine) SweepOutliers() {
	st := e.st.Load()
	o := st.cfg.Outliers
	if o == nil {
		return
	}
	now := e.now()
	e.outlierMu.Lock()
	for i := range st.servers {
		s := st.health.live[i]
		switch {
		case s.ejected.Load() && now >= s.ejectedUntil.Load():
			s.ejected.Store(false)
			s.cameBack(now)
			e.event("server " + st.names[i] + " readmitted after its ejection")
		case !s.ejected.Load() && s.multiplier.Load() > 0:
			s.multiplier.Add(-1)
		}
	}
	e.outlierMu.Unlock()

	if o.SuccessRateStdevFactor <= 0 {
		return
	}
	samples := make([]lbhealth.RateSample, len(st.servers))
	for i := range samples {
		s := st.health.live[i]
		req, failed := s.requests.Swap(0), s.failures.Swap(0)
		samples[i] = lbhealth.RateSample{Requests: req, Failures: min(failed, req)}
	}
	var pool []lbhealth.RateSample
	var members []int
	st.eachPool(func(rt *route) {
		pool, members = pool[:0], members[:0]
		for _, s := range rt.pool.Servers() {
			if s.Index < len(samples) && !st.health.live[s.Index].ejected.Load() {
				pool = append(pool, samples[s.Index])
				members = append(members, s.Index)
			}
		}
		outliers, threshold := lbhealth.SuccessRateOutliers(pool, o.SuccessRateMinimumHosts, uint64(o.SuccessRateRequestVolume), o.SuccessRateStdevFactor)
		for _, k := range outliers {
			r := pool[k]
			why := fmt.Sprintf("success rate %.3f over %d requests below %.3f in %s", float64(r.Requests-r.Failures)/float64(r.Requests), r.Requests, threshold, rt.name)
			e.eject(st, members[k], ejectSuccessRate, why)
		}
	})
}

// OutlierInterval returns how often SweepOutliers should run, or 0 when
// outlier detection is off.
func (e *Engine) OutlierInterval() time.Duration {
	if o := e.st.Load().cfg.Outliers; o != nil {
		return o.Interval
	}
	return 0
}

// SetEvents sets where the engine reports events worth a log line, such
// as an ejection; by default they go to the warn function.
func (e *Engine) SetEvents(f func(string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = f
}

func (e *Engine) event(msg string) {
	if e.events != nil {
		e.events(msg)
		return
	}
	e.warn(msg)
}
