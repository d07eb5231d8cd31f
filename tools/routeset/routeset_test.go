package routeset

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMix checks the generated mix: one route of each kind among the
// first four, the proportions, the regex routes asked for, and
// every route named once.
func TestMix(t *testing.T) {
	rs := Generate(4, 0)
	for i, want := range []int{KindSegment, KindExactHost, KindWildHost, KindExactPath} {
		if rs.Routes[i].Kind != want {
			t.Errorf("route %d: kind %d, want %d", i, rs.Routes[i].Kind, want)
		}
	}
	rs = Generate(1000, 10)
	count := map[int]int{}
	for _, r := range rs.Routes {
		count[r.Kind]++
	}
	if count[KindRegex] != 10 || count[KindSegment] < 390 || count[KindExactHost] < 190 || count[KindWildHost] < 190 || count[KindExactPath] < 190 {
		t.Errorf("kinds %v: want 10 regex, ~40%% segment prefixes, ~20%% each of the others", count)
	}
	var doc struct {
		Routes []struct{ Name string }
	}
	if err := json.Unmarshal(rs.AppendJSON(nil, false), &doc); err != nil {
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

// TestRequestsSpread checks that the requests visit every route.
func TestRequestsSpread(t *testing.T) {
	rs := Generate(997, 5)
	seen := map[int]bool{}
	for _, q := range rs.Requests(997) {
		seen[q.Route] = true
		if !strings.HasPrefix(q.Target, "/") {
			t.Fatalf("request %+v", q)
		}
	}
	if len(seen) != 997 {
		t.Errorf("%d routes of 997 reached", len(seen))
	}
}
