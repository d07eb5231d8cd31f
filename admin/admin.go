// Package admin serves the proxy's admin listener: liveness, statistics as
// JSON with the build's version, metrics (package metrics) and explain.
package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"l7lb/buildinfo"
	"l7lb/engine"
)

// Handler serves /healthz, /stats, /metrics and /explain over e's counters
// and the proxy's, which proxyStats returns as a JSON-encodable value;
// metrics serves /metrics.
func Handler(e *engine.Engine, proxyStats func() any, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		s := e.Stats()
		statuses := make(map[string]uint64, len(s.Statuses))
		for code, n := range s.Statuses {
			statuses[strconv.Itoa(code)] = n
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{
			"routed":   s.Routed,
			"statuses": statuses,
			"sessions": s.Sessions,
			"down":     s.Down,
			"servers":  serverStates(s),
			"proxy":    proxyStats(),
			"version":  buildinfo.Get().String(),
		})
	})
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /explain", explainHandler(e))
	return mux
}
