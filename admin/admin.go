// Package admin serves the proxy's admin listener: liveness, statistics as
// JSON and metrics in the Prometheus text format, each with the build's
// version.
package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"l7lb/buildinfo"
	"l7lb/engine"
)

// Handler serves /healthz, /stats, /metrics and /explain over e's counters
// and the proxy's, which proxyStats returns as a JSON-encodable value.
func Handler(e *engine.Engine, proxyStats func() any) http.Handler {
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
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeBuildInfo(w, buildinfo.Get())
		writeMetrics(w, e.Stats())
	})
	mux.HandleFunc("GET /explain", explainHandler(e))
	return mux
}

// writeBuildInfo writes the build as a constant gauge, the Prometheus
// convention for facts that are labels rather than numbers.
func writeBuildInfo(w http.ResponseWriter, b buildinfo.Info) {
	fmt.Fprintln(w, "# HELP l7lb_build_info The running build: version, VCS revision, Go version, race detector.")
	fmt.Fprintln(w, "# TYPE l7lb_build_info gauge")
	fmt.Fprintf(w, "l7lb_build_info{version=%q,revision=%q,modified=\"%t\",goversion=%q,race=\"%t\"} 1\n",
		b.Version, b.RevisionOrUnknown(), b.Modified, b.GoVersion, b.Race)
}

// writeMetrics writes the engine's counters in the Prometheus text format,
// label values in a stable order.
func writeMetrics(w http.ResponseWriter, s engine.Stats) {
	fmt.Fprintln(w, "# HELP l7lb_responses_total Responses by status.")
	fmt.Fprintln(w, "# TYPE l7lb_responses_total counter")
	codes := make([]int, 0, len(s.Statuses))
	for code := range s.Statuses {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	for _, code := range codes {
		fmt.Fprintf(w, "l7lb_responses_total{status=\"%d\"} %d\n", code, s.Statuses[code])
	}
	fmt.Fprintln(w, "# HELP l7lb_routed_total Requests routed, by server.")
	fmt.Fprintln(w, "# TYPE l7lb_routed_total counter")
	for _, name := range sortedKeys(s.Routed) {
		fmt.Fprintf(w, "l7lb_routed_total{server=%q} %d\n", name, s.Routed[name])
	}
	fmt.Fprintln(w, "# HELP l7lb_server_up Whether a server is taking requests.")
	fmt.Fprintln(w, "# TYPE l7lb_server_up gauge")
	for _, name := range sortedKeys(s.Routed) {
		up := 1
		if s.Down[name] {
			up = 0
		}
		fmt.Fprintf(w, "l7lb_server_up{server=%q} %d\n", name, up)
	}
	fmt.Fprintln(w, "# HELP l7lb_sessions Sticky session pins held.")
	fmt.Fprintln(w, "# TYPE l7lb_sessions gauge")
	fmt.Fprintf(w, "l7lb_sessions %d\n", s.Sessions)
	writeServerMetrics(w, s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
