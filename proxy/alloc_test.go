package proxy

import (
	"io"
	"testing"

	"l7lb/config"
)

// TestZeroAllocs checks that a proxied keep-alive request allocates
// nothing in steady state, with metrics, with and without the access log
// (in each format) and sticky cookies. The count is of the whole process:
// the client and the backend of the benchmarks allocate nothing either.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	backend, stop := benchBackend(t)
	defer stop()
	for _, tt := range []struct {
		name, mode, req string
		log             io.Writer
		format          string
	}{
		{"plain", config.ModeOff, benchRequest, nil, ""},
		{"insert cookie and text access log", config.ModeInsert, benchRequest, io.Discard, config.FormatText},
		{"json access log", config.ModeOff, benchRequest, io.Discard, config.FormatJSON},
		{"common access log", config.ModeOff, benchRequest, io.Discard, config.FormatCommon},
		{"table cookies", config.ModeAuto, benchRequest, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, shutdown := startBenchProxy(t, backend, benchSetup{mode: tt.mode, log: tt.log, format: tt.format})
			defer shutdown()
			rc := dialRaw(t, addr, tt.req)
			defer rc.c.Close()
			for range 100 {
				if err := rc.roundTrip(); err != nil {
					t.Fatal(err)
				}
			}
			if n := testing.AllocsPerRun(500, func() { rc.roundTrip() }); n > 0.05 {
				t.Errorf("%.2f allocations per request", n)
			}
		})
	}
}
