package router

import (
	"strconv"
	"strings"
	"testing"
)

// smallSpecs is a table of 10 routes of every kind, and requests that reach
// each of them, and none.
func smallSpecs() ([]Spec, []Request) {
	specs := []Spec{
		{Hosts: []string{"shop.example.com"}, Path: "/cart/*"},
		{Hosts: []string{"shop.example.com"}, Path: "/", Methods: []string{"GET", "HEAD"}},
		{Hosts: []string{"*.example.com"}, Path: "/static/"},
		{Hosts: []string{"*.cdn.example.com"}, Path: "/img/*.png"},
		{Path: "/api/*"},
		{Path: "/api/v*/users/*", Headers: []Header{{"X-Env", "prod"}}},
		{Path: "/login"},
		{Path: "/web/*"},
		{Path: "~^/u/[0-9]+$"},
		{Path: "/health"},
	}
	h := headers{"x-env": {"prod"}, "accept": {"*/*"}}
	reqs := []Request{
		{Host: "shop.example.com", Path: "/cart/42", Method: "POST"},
		{Host: "shop.example.com", Path: "/index.html", Method: "GET"},
		{Host: "a.example.com", Path: "/static/app.js", Method: "GET"},
		{Host: "eu.cdn.example.com", Path: "/img/logo.png", Method: "GET"},
		{Host: "api.example.org", Path: "/api/v1/orders", Method: "GET"},
		{Host: "api.example.org", Path: "/api/v2/users/7", Method: "GET", Headers: h},
		{Path: "/login", Method: "POST"},
		{Path: "/web/about/team", Method: "GET"},
		{Path: "/u/12345", Method: "GET"},
		{Host: "other.net", Path: "/nothing/here", Method: "GET"},
	}
	return specs, reqs
}

// largeSpecs is a table of 1,000 routes: 100 exact hosts and 50 wildcard
// suffixes with 4 routes each, and 400 routes without hosts on 100 services,
// mostly prefixes; and requests that reach some of them, and none.
func largeSpecs() ([]Spec, []Request) {
	var specs []Spec
	for i := range 100 {
		h := []string{"svc" + strconv.Itoa(i) + ".example.com"}
		specs = append(specs,
			Spec{Hosts: h, Path: "/"},
			Spec{Hosts: h, Path: "/api/*"},
			Spec{Hosts: h, Path: "/api/v*/users/*", Methods: []string{"GET"}},
			Spec{Hosts: h, Path: "/login", Headers: []Header{{"X-Env", "prod"}}},
		)
	}
	for i := range 50 {
		h := []string{"*.t" + strconv.Itoa(i) + ".example.net"}
		specs = append(specs,
			Spec{Hosts: h, Path: "/static/"},
			Spec{Hosts: h, Path: "/api/*"},
			Spec{Hosts: h, Path: "/u/*/profile"},
			Spec{Hosts: h, Path: "/assets/*.css"},
		)
	}
	for i := range 100 {
		p := "/p" + strconv.Itoa(i)
		specs = append(specs,
			Spec{Path: p + "/*"},
			Spec{Path: p + "/items/"},
			Spec{Path: p + "/v*/x"},
			Spec{Path: p + "/exact"},
		)
	}
	h := headers{"x-env": {"prod"}}
	reqs := []Request{
		{Host: "svc7.example.com", Path: "/api/v2/users/7", Method: "GET"},
		{Host: "svc42.example.com", Path: "/login", Method: "POST", Headers: h},
		{Host: "svc99.example.com", Path: "/about", Method: "GET"},
		{Host: "a.b.t3.example.net", Path: "/u/ann/profile", Method: "GET"},
		{Host: "www.t49.example.net", Path: "/static/js/app.js", Method: "GET"},
		{Host: "www.t17.example.net", Path: "/p17/items/3", Method: "GET"},
		{Host: "api.example.org", Path: "/p63/v3/x", Method: "GET"},
		{Host: "api.example.org", Path: "/p5/items/9", Method: "GET"},
		{Path: "/p99/exact", Method: "GET"},
		{Host: "nowhere.example.org", Path: "/q/1", Method: "GET"},
	}
	return specs, reqs
}

func benchmarkMatch(b *testing.B, specs []Spec, reqs []Request) {
	tab, err := Compile(specs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tab.Match(&reqs[i%len(reqs)])
	}
}

func BenchmarkMatch10(b *testing.B) {
	specs, reqs := smallSpecs()
	benchmarkMatch(b, specs, reqs)
}

func BenchmarkMatch1000(b *testing.B) {
	specs, reqs := largeSpecs()
	benchmarkMatch(b, specs, reqs)
}

// TestBenchmarkTables checks that the benchmark requests go where they are
// meant to, so that the benchmarks measure real lookups.
func TestBenchmarkTables(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func() ([]Spec, []Request)
		want  []int
	}{
		{"small", smallSpecs, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, -1}},
		{"large", largeSpecs, []int{30, 171, 396, 414, 596, 669, 854, 621, 999, -1}},
	} {
		specs, reqs := tt.build()
		tab := mustCompile(t, specs)
		for i := range reqs {
			if got, want := tab.Match(&reqs[i]), refMatch(specs, &reqs[i]); got != want || got != tt.want[i] {
				t.Errorf("%s: request %+v: got %d, reference %d, want %d", tt.name, reqs[i], got, want, tt.want[i])
			}
		}
	}
}

// TestMatchAllocs checks that Match and Prefetch allocate nothing, whichever
// way they go.
func TestMatchAllocs(t *testing.T) {
	for _, build := range []func() ([]Spec, []Request){smallSpecs, largeSpecs} {
		specs, reqs := build()
		tab := mustCompile(t, specs)
		for i := range reqs {
			if n := testing.AllocsPerRun(100, func() { tab.Match(&reqs[i]) }); n != 0 {
				t.Errorf("request %+v: %v allocations per Match", reqs[i], n)
			}
			if n := testing.AllocsPerRun(100, func() { tab.Prefetch(reqs[i].Host, reqs[i].Path) }); n != 0 {
				t.Errorf("request %+v: %v allocations per Prefetch", reqs[i], n)
			}
		}
	}
}

// scaleSpecs is n routes of issue 13's mix (as tools/routegen makes them):
// 40% segment prefixes /sN/*, 20% exact hosts hN.example.com with /api/*,
// 20% wildcard hosts *.wN.example.net with /app/*, 20% exact paths
// /eN/status, every (n/regex)th one a regex ~^/rN/[0-9]+$ instead; and
// 65,536 requests spread over all of them (most of the routes of the
// largest table: its lookups start with cold caches, as with real traffic
// spread over that many routes), each reaching its route.
func scaleSpecs(n, regex int) ([]Spec, []Request) {
	specs := make([]Spec, n)
	kinds := [5]int{0, 1, 2, 3, 0}
	every := 0
	if regex > 0 {
		every = max(n/regex, 1)
	}
	for i := range specs {
		id := strconv.Itoa(i)
		k := kinds[i%5]
		if every > 0 && i%every == every-1 {
			k = 4
		}
		switch k {
		case 0:
			specs[i] = Spec{Path: "/s" + id + "/*"}
		case 1:
			specs[i] = Spec{Hosts: []string{"h" + id + ".example.com"}, Path: "/api/*"}
		case 2:
			specs[i] = Spec{Hosts: []string{"*.w" + id + ".example.net"}, Path: "/app/*"}
		case 3:
			specs[i] = Spec{Path: "/e" + id + "/status"}
		case 4:
			specs[i] = Spec{Path: "~^/r" + id + "/[0-9]+$"}
		}
	}
	reqs := make([]Request, 0, 1<<16)
	step := n*618/1000 + 1
	for j := range cap(reqs) {
		i := j * step % n
		id, k := strconv.Itoa(i), strconv.Itoa(j%1000)
		s := specs[i]
		var r Request
		switch {
		case strings.HasPrefix(s.Path, "~"):
			r.Path = "/r" + id + "/" + k
		case s.Path == "/api/*":
			r.Host, r.Path = "h"+id+".example.com", "/api/v1/users/"+k
		case s.Path == "/app/*":
			r.Host, r.Path = "t"+strconv.Itoa(j%50)+".w"+id+".example.net", "/app/page/"+k
		case strings.HasSuffix(s.Path, "/*"):
			r.Path = "/s" + id + "/items/" + k
		default:
			r.Path = s.Path
		}
		r.Method = "GET"
		reqs = append(reqs, r)
	}
	return specs, reqs
}

// BenchmarkMatchScale matches requests spread over all the routes of
// tables of 4 to 100,000 routes; per-request cost should not grow much.
func BenchmarkMatchScale(b *testing.B) {
	for _, n := range []int{4, 1000, 10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			specs, reqs := scaleSpecs(n, min(10, n/100))
			benchmarkMatch(b, specs, reqs)
		})
	}
}

// BenchmarkCompileScale compiles tables of 1,000 to 100,000 routes.
func BenchmarkCompileScale(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			specs, _ := scaleSpecs(n, min(10, n/100))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(specs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatchPrefetch is BenchmarkMatchScale with each request's slots
// prefetched a few requests before it is matched, as a frontend holding
// several requests does (see Table.Prefetch).
func BenchmarkMatchPrefetch(b *testing.B) {
	const ahead = 3
	for _, n := range []int{4, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			specs, reqs := scaleSpecs(n, min(10, n/100))
			tab, err := Compile(specs)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				next := &reqs[(i+ahead)%len(reqs)]
				tab.Prefetch(next.Host, next.Path)
				tab.Match(&reqs[i%len(reqs)])
			}
		})
	}
}
