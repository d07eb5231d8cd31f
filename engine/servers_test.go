package engine

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"l7lb/config"
	"l7lb/httpmsg"
	"l7lb/session"
)

// fakeClock is a settable clock for a measured engine.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// newMeasured returns a measured engine, as serve has, on a fake clock
// and with a fixed random seed, applying cfg.
func newMeasured(t testing.TB, cfg *config.Config, servers ...string) (*Engine, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	clk.ns.Store(int64(time.Hour))
	e := New(func(msg string) { t.Log("engine:", msg) })
	e.clock, e.seed = clk.now, 1
	e.SetEvents(func(msg string) { t.Log("event:", msg) })
	e.SetOptions(Options{Signer: session.NewSigner([]byte("0123456789abcdef0123456789abcdef"))})
	e.Measure()
	e.Init("lb", servers)
	if cfg != nil {
		if tt, ok := t.(*testing.T); ok {
			mustApply(tt, e, cfg)
		} else if err := e.Apply(cfg); err != nil {
			t.Fatal(err)
		}
	}
	return e, clk
}

func inFlight(e *Engine) string {
	st := e.Stats()
	var parts []string
	for _, name := range e.Servers() {
		parts = append(parts, fmt.Sprintf("%s=%d", name, st.Servers[name].InFlight))
	}
	return strings.Join(parts, " ")
}

func offSticky() config.Sticky {
	s := config.DefaultSticky()
	s.Mode = config.ModeOff
	return s
}

func TestInFlight(t *testing.T) {
	e, _ := newMeasured(t, &config.Config{Sticky: config.DefaultSticky(), Routes: []config.Route{
		{Name: "r", Servers: []string{"s1", "s2", "s3"}},
	}}, "s1", "s2", "s3")
	var ds [4]Decision
	for i := range 3 {
		e.Route(&Request{Method: "GET", Target: "/"}, &ds[i])
	}
	if got := inFlight(e); got != "s1=1 s2=1 s3=1" {
		t.Fatalf("after three decisions: %s", got)
	}
	// A sticky hit (not a pool pick) counts too.
	e.Route(&Request{Method: "GET", Target: "/", SessionID: "u1"}, &ds[3]) // new pin: s1
	var hit Decision
	e.Route(&Request{Method: "GET", Target: "/", SessionID: "u1"}, &hit)
	if hit.Sticky != StickyHit || inFlight(e) != "s1=3 s2=1 s3=1" {
		t.Fatalf("sticky %v, in flight %s", hit.Sticky, inFlight(e))
	}
	e.Done(&hit)
	e.Done(&hit) // a second Done does nothing
	for i := range ds {
		e.Done(&ds[i])
	}
	if got := inFlight(e); got != "s1=0 s2=0 s3=0" {
		t.Fatalf("after Done: %s", got)
	}
	var d Decision
	e.Explain(&Request{Method: "GET", Target: "/"}, &d)
	if got := inFlight(e); got != "s1=0 s2=0 s3=0" {
		t.Fatalf("explain claimed: %s", got)
	}
	// Retry moves the request.
	e.Route(&Request{Method: "GET", Target: "/"}, &d)
	from := d.Server
	if !e.Retry(&d, []string{from}) || d.Server == from {
		t.Fatalf("retry from %s: %s", from, d.Server)
	}
	st := e.Stats().Servers
	if st[from].InFlight != 0 || st[d.Server].InFlight != 1 {
		t.Fatalf("after retry %s → %s: %s", from, d.Server, inFlight(e))
	}
	e.Done(&d)
}

// TestUnmeasuredClaimsNothing: the node's engine counts nothing in flight.
func TestUnmeasuredClaimsNothing(t *testing.T) {
	e := newEngine(t, "s1", "s2")
	mustApply(t, e, &config.Config{Routes: []config.Route{{Name: "r", Servers: []string{"s1", "s2"}, Balance: config.LeastRequest, LeastRequest: &config.LeastRequestOptions{Choices: 2, ActiveRequestBias: 1}}}})
	if got := servers(e, 4, Request{Target: "/"}); got != "s1,s2,s1,s2" {
		t.Errorf("least_request in the node: %s, want the weighted round robin rotation", got)
	}
	if got := inFlight(e); got != "s1=0 s2=0" {
		t.Errorf("in flight %s", got)
	}
}

func TestLeastRequestEngine(t *testing.T) {
	lr := config.DefaultLeastRequest()
	e, _ := newMeasured(t, &config.Config{Sticky: offSticky(), Routes: []config.Route{
		{Name: "r", Servers: []string{"s1", "s2"}, Balance: config.LeastRequest, LeastRequest: &lr},
	}}, "s1", "s2")
	ds := make([]Decision, 10)
	for i := range ds {
		e.Route(&Request{Method: "GET", Target: "/"}, &ds[i])
	}
	if got := inFlight(e); got != "s1=5 s2=5" {
		t.Fatalf("ten open requests: %s", got)
	}
	// Two requests to s1 end: the next two go to s1.
	n := 0
	for i := range ds {
		if ds[i].Server == "s1" && n < 2 {
			e.Done(&ds[i])
			n++
		}
	}
	for range 2 {
		var d Decision
		e.Route(&Request{Method: "GET", Target: "/"}, &d)
		if d.Server != "s1" {
			t.Fatalf("picked %s with s1 less loaded (%s)", d.Server, inFlight(e))
		}
	}
}

func TestPeakEWMAEngine(t *testing.T) {
	pe := config.PeakEWMAOptions{Decay: 10 * time.Second, DefaultRTT: 30 * time.Millisecond}
	e, clk := newMeasured(t, &config.Config{Sticky: offSticky(), Routes: []config.Route{
		{Name: "r", Servers: []string{"s1", "s2"}, Balance: config.PeakEWMA, PeakEWMA: &pe},
	}}, "s1", "s2")
	req := Request{Method: "GET", Target: "/"}
	var d Decision
	e.Route(&req, &d)
	fast := d.Server
	clk.advance(time.Millisecond)
	e.Responded(&d, 200)
	e.Done(&d)
	if got := e.Stats().Servers[fast].EWMA; got != 1 {
		t.Fatalf("%s's estimate after one 1ms response: %v ms", fast, got)
	}
	// fast costs 1ms per request in flight, the other its default 30ms:
	// fast takes the next 29 (cost (n+1) ms < 30 ms up to n = 28).
	ds := make([]Decision, 29)
	for i := range ds {
		e.Route(&req, &ds[i])
		if ds[i].Server != fast {
			t.Fatalf("decision %d went to %s (%s)", i, ds[i].Server, inFlight(e))
		}
	}
	// Explain shows the inputs.
	var x Decision
	e.Explain(&req, &x)
	load, _ := x.Explanation()["load"].(map[string]any)
	if f, _ := load[fast].(map[string]any); f["in_flight"] != int64(29) || f["ewma_ms"] != 1.0 {
		t.Errorf("explain load %v", load)
	}
	// A timeout raises the estimate at once.
	clk.advance(2 * time.Second)
	e.Failed(&ds[0], true)
	if got := e.Stats().Servers[fast].EWMA; got < 2000 {
		t.Errorf("estimate after a 2s timeout: %v ms", got)
	}
	for i := range ds {
		e.Done(&ds[i])
	}
}

// TestBoundedHashEngine drives a hot key through a measured engine with
// every request left in flight: each server stays within its bound, and
// a sticky session stays with its server past the bound.
func TestBoundedHashEngine(t *testing.T) {
	e, _ := newMeasured(t, &config.Config{Sticky: config.DefaultSticky(), Routes: []config.Route{
		{Name: "h", Servers: []string{"s1", "s2", "s3", "s4"}, Balance: config.Hash, HashOn: "header:x-user", HashBalanceFactor: 125},
	}}, "s1", "s2", "s3", "s4")
	req := Request{Method: "GET", Target: "/", Headers: &httpmsg.Headers{Fields: []httpmsg.Field{{Name: "x-user", Value: "hot"}}}}
	for n := 1; n <= 40; n++ {
		var d Decision
		e.Route(&req, &d)
		bound := (125*n + 399) / 400 // ceil(1.25 × n / 4), n counting this one
		if st := e.Stats().Servers[d.Server]; st.InFlight > int64(bound) {
			t.Fatalf("request %d: %s holds %d, past %d", n, d.Server, st.InFlight, bound)
		}
	}
	// A session pinned to a server stays there, bound or not.
	sreq := Request{Method: "GET", Target: "/", SessionID: "sess", Headers: req.Headers}
	var first Decision
	e.Route(&sreq, &first)
	for range 20 {
		var d Decision
		e.Route(&sreq, &d)
		if d.Server != first.Server || d.Sticky != StickyHit {
			t.Fatalf("session moved from %s to %s (%v)", first.Server, d.Server, d.Sticky)
		}
	}
}

// TestBoundedHashPins: in the node, the loads are the pins.
func TestBoundedHashPins(t *testing.T) {
	e := newEngine(t, "s1", "s2")
	mustApply(t, e, &config.Config{Routes: []config.Route{
		{Name: "h", Servers: []string{"s1", "s2"}, Balance: config.Hash, HashOn: "path", HashBalanceFactor: 100},
	}})
	plain := decide(e, Request{Target: "/k"}).Server
	// Two sessions on /k: the first pins to the key's server; T = 1 then,
	// the bound ceil(2/2) = 1 is reached, so the second goes to the other.
	a := decide(e, Request{Target: "/k", SessionID: "a"})
	b := decide(e, Request{Target: "/k", SessionID: "b"})
	if a.Server != plain || b.Server == plain {
		t.Errorf("sessions a→%s b→%s, want a on %s and b on the other", a.Server, b.Server, plain)
	}
	// Pins 1 and 1: the key's server is below ceil(3/2) = 2 again.
	if d := decide(e, Request{Target: "/k"}); d.Server != plain {
		t.Errorf("unpinned request → %s, want %s", d.Server, plain)
	}
}

func outlierConfig(o config.Outliers, routes ...config.Route) *config.Config {
	return &config.Config{Sticky: offSticky(), Routes: routes, Outliers: &o}
}

// respondUntil routes requests until one reaches server, answers it with
// status and ends it; the others are answered 200.
func respondUntil(t *testing.T, e *Engine, server string, status int) {
	t.Helper()
	for range 100 {
		var d Decision
		e.Route(&Request{Method: "GET", Target: "/"}, &d)
		if d.Status != 200 {
			t.Fatalf("status %d", d.Status)
		}
		if d.Server == server {
			e.Responded(&d, status)
			e.Done(&d)
			return
		}
		e.Responded(&d, 200)
		e.Done(&d)
	}
	t.Fatalf("%s never chosen", server)
}

func TestConsecutive5xxEjection(t *testing.T) {
	o := config.DefaultOutliers()
	o.Consecutive5xx, o.BaseEjectionTime, o.MaxEjectionTime, o.SuccessRateStdevFactor = 3, time.Second, 10*time.Second, 0
	all := []string{"s1", "s2", "s3", "s4"}
	e, clk := newMeasured(t, outlierConfig(o, config.Route{Name: "r", Servers: all}), all...)
	respondUntil(t, e, "s1", 503)
	respondUntil(t, e, "s1", 503)
	respondUntil(t, e, "s1", 200) // a success ends the run
	for range 3 {
		respondUntil(t, e, "s1", 502)
	}
	st := e.Stats().Servers["s1"]
	if !st.Ejected || st.Ejections["consecutive_5xx"] != 1 {
		t.Fatalf("s1 after 3 failures in a row: %+v", st)
	}
	for range 20 {
		if d := decide(e, Request{Target: "/"}); d.Server == "s1" {
			t.Fatal("an ejected server was chosen")
		}
		e.Done(&Decision{})
	}
	var x Decision
	e.Explain(&Request{Method: "GET", Target: "/"}, &x)
	if load, _ := x.Explanation()["load"].(map[string]any); load["s1"].(map[string]any)["ejected"] != true {
		t.Errorf("explain does not show the ejection: %v", load)
	}
	// Readmitted at the first sweep after base × 1.
	clk.advance(900 * time.Millisecond)
	e.SweepOutliers()
	if !e.Stats().Servers["s1"].Ejected {
		t.Fatal("readmitted early")
	}
	clk.advance(200 * time.Millisecond)
	e.SweepOutliers()
	if e.Stats().Servers["s1"].Ejected {
		t.Fatal("not readmitted after its time")
	}
	// Ejected again straight away: twice as long.
	for range 3 {
		respondUntil(t, e, "s1", 500)
	}
	clk.advance(1500 * time.Millisecond)
	e.SweepOutliers()
	if !e.Stats().Servers["s1"].Ejected {
		t.Fatal("the second ejection did not last 2 × base")
	}
	clk.advance(600 * time.Millisecond)
	e.SweepOutliers()
	if e.Stats().Servers["s1"].Ejected {
		t.Fatal("the second ejection lasted past 2 × base")
	}
}

func TestMaxEjectionPercent(t *testing.T) {
	o := config.DefaultOutliers()
	o.Consecutive5xx, o.SuccessRateStdevFactor = 1, 0
	all := []string{"s1", "s2", "s3", "s4", "s5"}
	e, _ := newMeasured(t, outlierConfig(o,
		config.Route{Name: "four", Path: "/*", Servers: []string{"s1", "s2", "s3", "s4"}},
		config.Route{Name: "alone", Path: "/alone", Servers: []string{"s5"}},
	), all...)
	for _, s := range []string{"s1", "s2", "s3"} {
		respondUntil(t, e, s, 503)
	}
	st := e.Stats().Servers
	if !st["s1"].Ejected || !st["s2"].Ejected || st["s3"].Ejected {
		t.Errorf("50%% of four: s1 %v s2 %v s3 %v, want the first two only", st["s1"].Ejected, st["s2"].Ejected, st["s3"].Ejected)
	}
	// s5 is the whole of its pool: never ejected at 50%.
	var d Decision
	e.Route(&Request{Method: "GET", Target: "/alone"}, &d)
	e.Responded(&d, 503)
	e.Done(&d)
	if e.Stats().Servers["s5"].Ejected {
		t.Error("the only server of a pool was ejected")
	}
}

func TestSuccessRateEjection(t *testing.T) {
	o := config.DefaultOutliers()
	o.Consecutive5xx, o.SuccessRateRequestVolume, o.SuccessRateMinimumHosts = 0, 20, 5
	all := []string{"s1", "s2", "s3", "s4", "s5"}
	e, _ := newMeasured(t, outlierConfig(o, config.Route{Name: "r", Servers: all}), all...)
	for k := range 30 {
		for _, s := range all {
			status := 200
			if s == "s5" && k%2 == 0 {
				status = 500
			}
			respondUntil(t, e, s, status)
		}
	}
	e.SweepOutliers()
	st := e.Stats().Servers
	for _, s := range all {
		if st[s].Ejected != (s == "s5") {
			t.Errorf("%s ejected: %v", s, st[s].Ejected)
		}
	}
	if st["s5"].Ejections["success_rate"] != 1 {
		t.Errorf("s5's ejections %v", st["s5"].Ejections)
	}
}

func TestSlowStart(t *testing.T) {
	cfg := &config.Config{Sticky: offSticky(), SlowStart: 10 * time.Second, Routes: []config.Route{
		{Name: "r", Servers: []string{"s1", "s2", "s3"}, SlowStart: 10 * time.Second},
	}}
	e, clk := newMeasured(t, cfg, "s1", "s2", "s3")
	share := func() float64 {
		n := 0
		for range 3000 {
			var d Decision
			e.Route(&Request{Method: "GET", Target: "/"}, &d)
			if d.Server == "s3" {
				n++
			}
			e.Done(&d)
		}
		return float64(n) / 3000
	}
	if s := share(); s < 0.3 || s > 0.37 {
		t.Fatalf("before: share %.3f", s)
	}
	e.SetDown("s3", true)
	e.SetDown("s3", false)
	if s := share(); s != 0 {
		t.Errorf("just back: share %.3f, want 0", s)
	}
	clk.advance(5 * time.Second)
	if s := share(); s < 0.12 || s > 0.24 {
		t.Errorf("half way: share %.3f, want about half of 1/3", s)
	}
	clk.advance(5 * time.Second)
	if s := share(); s < 0.3 || s > 0.37 {
		t.Errorf("after the window: share %.3f", s)
	}
}

// TestMeasuredAllocs: a measured decision, its response and its end
// allocate nothing, in every mode.
func TestMeasuredAllocs(t *testing.T) {
	lr, pe := config.DefaultLeastRequest(), config.DefaultPeakEWMA()
	o := config.DefaultOutliers()
	for _, r := range []config.Route{
		{Name: "r", Servers: []string{"s1", "s2", "s3"}, Balance: config.RoundRobin},
		{Name: "r", Servers: []string{"s1", "s2", "s3"}, Balance: config.LeastRequest, LeastRequest: &lr},
		{Name: "r", Servers: []string{"s1", "s2", "s3"}, Balance: config.LeastRequest, LeastRequest: &lr, Weights: map[string]int{"s1": 3}},
		{Name: "r", Servers: []string{"s1", "s2", "s3"}, Balance: config.PeakEWMA, PeakEWMA: &pe, SlowStart: time.Second},
		{Name: "r", Servers: []string{"s1", "s2", "s3"}, Balance: config.Hash, HashOn: "path", HashBalanceFactor: 125},
	} {
		e, clk := newMeasured(t, &config.Config{Sticky: offSticky(), Outliers: &o, Routes: []config.Route{r}}, "s1", "s2", "s3")
		req := Request{Method: "GET", Target: "/x"}
		var d Decision
		n := testing.AllocsPerRun(200, func() {
			e.Route(&req, &d)
			clk.advance(time.Millisecond)
			e.Responded(&d, 200)
			e.Done(&d)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per request", r.Balance, n)
		}
	}
}

// BenchmarkRouteMode measures one decision per balance mode over eight
// servers: in the node (unmeasured) and as the proxy makes it (measured:
// the decision, its response head and its end).
func BenchmarkRouteMode(b *testing.B) {
	lr, pe := config.DefaultLeastRequest(), config.DefaultPeakEWMA()
	all := []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"}
	for _, r := range []config.Route{
		{Name: "round_robin", Balance: config.RoundRobin},
		{Name: "weighted_round_robin", Balance: config.WeightedRoundRobin, Weights: map[string]int{"s1": 3}},
		{Name: "hash", Balance: config.Hash, HashOn: "header:x-user"},
		{Name: "hash_bounded", Balance: config.Hash, HashOn: "header:x-user", HashBalanceFactor: 125},
		{Name: "least_request", Balance: config.LeastRequest, LeastRequest: &lr},
		{Name: "peak_ewma", Balance: config.PeakEWMA, PeakEWMA: &pe},
	} {
		r.Servers, r.Path = all, config.DefaultPath
		cfg := &config.Config{Sticky: offSticky(), Routes: []config.Route{r}}
		req := Request{Method: "GET", Target: "/api/users?id=7", Headers: &httpmsg.Headers{Fields: []httpmsg.Field{{Name: "x-user", Value: "alice"}}}}
		b.Run(r.Name+"/node", func(b *testing.B) {
			e := New(nil)
			e.Init("lb", all)
			if err := e.Apply(cfg); err != nil {
				b.Fatal(err)
			}
			var d Decision
			b.ReportAllocs()
			for b.Loop() {
				e.Route(&req, &d)
			}
		})
		b.Run(r.Name+"/proxy", func(b *testing.B) {
			e := New(nil)
			e.Measure()
			e.Init("lb", all)
			if err := e.Apply(cfg); err != nil {
				b.Fatal(err)
			}
			var d Decision
			b.ReportAllocs()
			for b.Loop() {
				e.Route(&req, &d)
				e.Responded(&d, 200)
				e.Done(&d)
			}
		})
	}
}

// TestMeasuredConcurrent runs decisions, responses, retries and sweeps
// from many goroutines (for the race detector); every request counted in
// flight ends.
func TestMeasuredConcurrent(t *testing.T) {
	lr, pe := config.DefaultLeastRequest(), config.DefaultPeakEWMA()
	o := config.DefaultOutliers()
	o.Consecutive5xx, o.SuccessRateRequestVolume, o.SuccessRateMinimumHosts, o.BaseEjectionTime = 3, 5, 2, time.Millisecond
	all := []string{"s1", "s2", "s3", "s4"}
	e, clk := newMeasured(t, &config.Config{Sticky: config.DefaultSticky(), Outliers: &o, SlowStart: time.Second, Routes: []config.Route{
		{Name: "lr", Path: "/lr/*", Servers: all, Balance: config.LeastRequest, LeastRequest: &lr, SlowStart: time.Second},
		{Name: "pe", Path: "/pe/*", Servers: all, Balance: config.PeakEWMA, PeakEWMA: &pe},
		{Name: "h", Path: "/h/*", Servers: all, Balance: config.Hash, HashOn: "path", HashBalanceFactor: 125},
	}}, all...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			targets := []string{"/lr/a", "/pe/b", "/h/c", "/other"}
			var d Decision
			for k := range 500 {
				req := Request{Method: "GET", Target: targets[(g+k)%len(targets)]}
				if k%7 == 0 {
					req.SessionID = fmt.Sprint("u", k%13)
				}
				e.Route(&req, &d)
				if d.Status != 200 {
					continue
				}
				clk.advance(time.Microsecond)
				switch k % 5 {
				case 0:
					e.Failed(&d, k%2 == 0)
					e.Retry(&d, []string{d.Server})
					e.Responded(&d, 200)
				case 1:
					e.Responded(&d, 503)
				default:
					e.Responded(&d, 200)
				}
				e.Done(&d)
				if k%50 == 0 {
					e.SweepOutliers()
					e.SetDown(all[k%4], k%100 == 0)
				}
			}
		})
	}
	wg.Wait()
	for _, s := range all {
		e.SetDown(s, false)
	}
	if got := inFlight(e); got != "s1=0 s2=0 s3=0 s4=0" {
		t.Errorf("in flight after every request ended: %s", got)
	}
}
