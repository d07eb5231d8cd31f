package engine

import (
	"testing"

	"l7lb/config"
	"l7lb/tools/routeset"
)

// scaleEngine returns an engine over n routes of issue 13's generated
// configuration (tools/routeset), and requests spread over them.
func scaleEngine(t testing.TB, n int) (*Engine, []Request) {
	t.Helper()
	rs := routeset.Generate(n, min(10, n/100))
	f, _, err := config.Read("routes.json", rs.AppendJSON(nil, true), true)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(f.Servers))
	for i, s := range f.Servers {
		ids[i] = s.ID
	}
	e := New(nil)
	if _, err := e.Replace(Update{NodeID: "lb", Servers: ids, Config: &f.Config}); err != nil {
		t.Fatal(err)
	}
	gen := rs.Requests(4000)
	reqs := make([]Request, 0, len(gen)+6)
	for _, q := range gen {
		reqs = append(reqs, Request{Method: "GET", Target: q.Target, Host: q.Host})
	}
	// What a Prefetcher passes over: not normal, absolute-form, a host
	// to normalize, no path, a bad target.
	return e, append(reqs,
		Request{Method: "GET", Target: "/s1/../s2/x"},
		Request{Method: "GET", Target: "http://h3.example.com/api/x"},
		Request{Method: "GET", Target: "/api/x", Host: "H3.example.com:80"},
		Request{Method: "GET"},
		Request{Method: "GET", Target: "x"},
		Request{Method: "GET", Target: "https://"},
	)
}

// TestPrefetcher: decisions are the same with a Prefetcher working ahead
// of them as without, and adding a request allocates nothing.
func TestPrefetcher(t *testing.T) {
	const n = 2 * prefetchRoutes
	plain, reqs := scaleEngine(t, n)
	ahead, _ := scaleEngine(t, n)
	p := ahead.NewPrefetcher()
	var want, got Decision
	for i := range reqs {
		if i+PrefetchDepth < len(reqs) {
			p.Add(&reqs[i+PrefetchDepth])
		}
		plain.Route(&reqs[i], &want)
		ahead.Route(&reqs[i], &got)
		if got.Status != want.Status || got.Route != want.Route || got.Server != want.Server || got.Error != want.Error {
			t.Fatalf("request %+v: %d %q %q %q with a Prefetcher, want %d %q %q %q", reqs[i],
				got.Status, got.Route, got.Server, got.Error, want.Status, want.Route, want.Server, want.Error)
		}
	}
	for i := range reqs {
		if a := testing.AllocsPerRun(10, func() { p.Add(&reqs[i]) }); a != 0 {
			t.Errorf("request %+v: %v allocations per Add", reqs[i], a)
		}
	}
}
