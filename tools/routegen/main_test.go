package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMix checks the generated mix: one route of each kind among the
// first four, the proportions, the regex routes asked for, and
// every route named once.
func TestMix(t *testing.T) {
	rs := generate(4, 0)
	for i, want := range []int{kindSegment, kindExactHost, kindWildHost, kindExactPath} {
		if rs.routes[i].kind != want {
			t.Errorf("route %d: kind %d, want %d", i, rs.routes[i].kind, want)
		}
	}
	rs = generate(1000, 10)
	count := map[int]int{}
	for _, r := range rs.routes {
		count[r.kind]++
	}
	if count[kindRegex] != 10 || count[kindSegment] < 390 || count[kindExactHost] < 190 || count[kindWildHost] < 190 || count[kindExactPath] < 190 {
		t.Errorf("kinds %v: want 10 regex, ~40%% segment prefixes, ~20%% each of the others", count)
	}
	var doc struct {
		Routes []struct{ Name string }
	}
	if err := json.Unmarshal(rs.appendJSON(nil, false), &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range doc.Routes {
		if seen[r.Name] {
			t.Errorf("route name %s twice", r.Name)
		}
		seen[r.Name] = true
	}
	if len(doc.Routes) != 1000 {
		t.Errorf("%d routes in the document, want 1000", len(doc.Routes))
	}
}

// TestMeasureEngine runs a small measurement: it fails unless every
// request reaches the route it was made for.
func TestMeasureEngine(t *testing.T) {
	m, err := measureEngineOnce(500, 20, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if m.PerSec <= 0 || m.Routes != 500 || m.Regex != 20 {
		t.Errorf("measurement %+v", m)
	}
}

// TestRequestsSpread checks that the requests visit every route.
func TestRequestsSpread(t *testing.T) {
	rs := generate(997, 5)
	seen := map[int]bool{}
	for _, q := range rs.requests(997) {
		seen[q.route] = true
		if !strings.HasPrefix(q.target, "/") {
			t.Fatalf("request %+v", q)
		}
	}
	if len(seen) != 997 {
		t.Errorf("%d routes of 997 reached", len(seen))
	}
}
