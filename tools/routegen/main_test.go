package main

import (
	"strings"
	"testing"
)

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

// TestSummary checks the medians and the count of rounds at 0.7 or more,
// per face and size, in the order first measured.
func TestSummary(t *testing.T) {
	var s summary
	for _, r := range []float64{0.6, 0.75, 0.9} {
		s.add(measurement{Face: "node", Routes: 4, PerSec: 1e6, Compile: 20}, 1)
		s.add(measurement{Face: "node", Routes: 100000, Regex: 10, PerSec: r * 1e6, Compile: 500}, r)
	}
	var b strings.Builder
	s.print(&b)
	want := []string{
		"node          4      0        20.0      1000000    1.00  1.00–1.00       3/3",
		"node     100000     10       500.0       750000    0.75  0.60–0.90       2/3",
	}
	got := strings.Split(strings.TrimSpace(b.String()), "\n")[2:]
	if len(got) != len(want) {
		t.Fatalf("summary:\n%s", b.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}
