package router

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// refShadowed is Shadowed done pairwise: each route against every earlier
// one.
func refShadowed(specs []Spec) []Shadow {
	var out []Shadow
	for b := range specs {
		for a := range b {
			if covers(&specs[a], &specs[b]) {
				out = append(out, Shadow{Index: b, By: a})
				break
			}
		}
	}
	return out
}

func TestShadowed(t *testing.T) {
	specs := []Spec{
		{Path: "/api/*", Methods: []string{"GET", "POST"}},
		{Path: "/api/*", Methods: []string{"GET"}}, // by 0
		{Path: "/other"}, // -
		{Hosts: []string{"A.example.com", "b.example.com"}, Path: "/x"},                           // -
		{Hosts: []string{"b.EXAMPLE.com"}, Path: "/x"},                                            // by 3
		{Hosts: []string{"c.example.com"}, Path: "/x"},                                            // -
		{Path: "/h", Headers: []Header{{"X-A", "1"}, {"X-B", "2"}}},                               // -
		{Path: "/h", Headers: []Header{{"x-b", "2"}, {"x-a", "1"}}},                               // by 6
		{Path: "/h", Headers: []Header{{"x-b", "2"}, {"x-a", "2"}}},                               // -
		{Hosts: []string{"\u212Aa.example.com"}, Path: "/k"},                                      // - (Kelvin sign)
		{Hosts: []string{"ka.example.com"}, Path: "/k"},                                           // by 9: EqualFold folds K
		{Path: "/api/*", Methods: []string{"GET"}},                                                // by 0, the first
		{Hosts: []string{"b.example.com"}, Path: "/x", Headers: []Header{{"X-A", "1"}}},           // -
		{Hosts: []string{"a.example.com"}, Path: "/x", Methods: []string{"GET"}},                  // -
		{Hosts: []string{"c.example.com", "a.example.com"}, Path: "/x", Methods: []string{"GET"}}, // -
		{Hosts: []string{"a.example.com"}, Path: "/x", Methods: []string{"GET"}},                  // by 13
	}
	want := []Shadow{{1, 0}, {4, 3}, {7, 6}, {10, 9}, {11, 0}, {15, 13}}
	if got := Shadowed(specs); !slices.Equal(got, want) {
		t.Errorf("Shadowed = %v, want %v", got, want)
	}
	if got := refShadowed(specs); !slices.Equal(got, want) {
		t.Errorf("the reference says %v, want %v", got, want)
	}
}

// TestShadowedDifferential compares Shadowed with the pairwise reference
// on random tables drawn from a small vocabulary, so that many routes
// cover others.
func TestShadowedDifferential(t *testing.T) {
	hosts := []string{"a.example.com", "A.example.com", "b.example.com", "*.example.com", "\u212A.example.com", "k.example.com"}
	methods := [][]string{nil, {"GET"}, {"POST", "GET"}, {"GET", "POST", "PUT"}}
	hdrs := [][]Header{nil, {{"X-A", "1"}}, {{"x-a", "1"}}, {{"X-A", "2"}}, {{"X-A", "1"}, {"X-B", "2"}}, {{"x-b", "2"}, {"x-a", "1"}}, {{"X-A", "1"}, {"X-A", "1"}}}
	paths := []string{"", "/*", "/a", "/a/*", "~^/a$"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{2, 10, 100, 2000} {
		for range 20 {
			specs := make([]Spec, n)
			for i := range specs {
				s := &specs[i]
				for range rng.IntN(4) {
					s.Hosts = append(s.Hosts, hosts[rng.IntN(len(hosts))])
				}
				s.Path = paths[rng.IntN(len(paths))]
				s.Methods = methods[rng.IntN(len(methods))]
				s.Headers = hdrs[rng.IntN(len(hdrs))]
			}
			if got, want := Shadowed(specs), refShadowed(specs); !slices.Equal(got, want) {
				t.Fatalf("%d specs: Shadowed = %v, want %v", n, got, want)
			}
		}
	}
}

// TestShadowedScales checks that 100,000 routes with distinct hosts on
// one path (virtual hosting) and 100,000 with distinct header values are
// checked in about linear time: pairwise, either would take minutes.
func TestShadowedScales(t *testing.T) {
	if testing.Short() {
		t.Skip("a large table")
	}
	const n = 100000
	byHost, byHeader := make([]Spec, n), make([]Spec, n)
	for i := range n {
		id := strconv.Itoa(i)
		byHost[i] = Spec{Hosts: []string{"h" + id + ".example.com"}, Path: "/*"}
		byHeader[i] = Spec{Path: "/api/*", Headers: []Header{{"X-Tenant", id}}}
	}
	byHost[n-1] = byHost[7]
	start := time.Now()
	got := Shadowed(byHost)
	if want := []Shadow{{n - 1, 7}}; !slices.Equal(got, want) {
		t.Errorf("by host: %v, want %v", got, want)
	}
	if got := Shadowed(byHeader); len(got) != 0 {
		t.Errorf("by header: %v, want none", got)
	}
	// Not a speed assertion: a bound a hundred times the expected time,
	// far below what the pairwise way takes (n² = 10¹⁰ comparisons).
	if d := time.Since(start); d > time.Minute {
		t.Errorf("Shadowed of 2×%d routes took %v", n, d)
	}
}
