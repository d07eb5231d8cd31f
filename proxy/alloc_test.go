package proxy

import (
	"io"
	"testing"

	"l7lb/config"
)

// TestZeroAllocs checks that a proxied keep-alive request allocates
// nothing in steady state, with and without the access log and sticky
// cookies. The count is of the whole process: the client and the backend
// of the benchmarks allocate nothing either.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	backend, stop := benchBackend(t)
	defer stop()
	for _, tt := range []struct {
		name, mode, req string
		log             io.Writer
	}{
		{"plain", config.ModeOff, benchRequest, nil},
		{"insert cookie and access log", config.ModeInsert, benchRequest, io.Discard},
		{"table cookies", config.ModeAuto, benchRequest, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, shutdown := startBenchProxy(t, backend, tt.mode, tt.log)
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
