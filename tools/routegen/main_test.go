package main

import "testing"

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
