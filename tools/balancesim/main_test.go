package main

import (
	"strings"
	"testing"
	"time"

	"l7lb/balancer"
)

// TestShape checks the outcome the simulation exists to show, on a
// shorter run: least_request beats round robin at the tail, peak_ewma
// beats both and sends the slow and the stalling server the least. The
// simulation runs on simulated time, so the result is the same on every
// machine for a seed; the test runs three seeds.
func TestShape(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		p := DefaultParams()
		p.Duration, p.Seed = 60*time.Second, seed
		rr := Simulate(p, "round_robin", balancer.RoundRobin)
		lr := Simulate(p, "least_request", balancer.LeastRequest)
		pe := Simulate(p, "peak_ewma", balancer.PeakEWMA)
		if rr.Requests != lr.Requests || lr.Requests != pe.Requests {
			t.Fatalf("seed %d: request counts differ: %d %d %d", seed, rr.Requests, lr.Requests, pe.Requests)
		}
		if !(pe.P99 < lr.P99 && lr.P99 < rr.P99) {
			t.Errorf("seed %d: p99 round_robin %v, least_request %v, peak_ewma %v: want decreasing", seed, rr.P99, lr.P99, pe.P99)
		}
		if !(pe.SlowShare < lr.SlowShare && lr.SlowShare < rr.SlowShare) || pe.SlowShare > 0.05 {
			t.Errorf("seed %d: slow server's share %.3f, %.3f, %.3f: want decreasing, peak_ewma under 5%%", seed, rr.SlowShare, lr.SlowShare, pe.SlowShare)
		}
		if pe.StallShare > 0.06 {
			t.Errorf("seed %d: peak_ewma gave the stalling server %.3f", seed, pe.StallShare)
		}
		var b strings.Builder
		WriteTable(&b, p, []Result{rr, lr, pe})
		if strings.Count(b.String(), "\n| ") != 4 {
			t.Errorf("table:\n%s", b.String())
		}
	}
}
