package admin

import (
	"fmt"
	"net/http"

	"l7lb/engine"
)

// serverState is the live state of one server as /stats shows it.
type serverState struct {
	State     string            `json:"state"` // up, draining, disabled, down
	InFlight  int64             `json:"in_flight"`
	EWMAms    float64           `json:"ewma_ms"` // 0 before a sample
	Ejected   bool              `json:"ejected"`
	Ejections map[string]uint64 `json:"ejections"` // by rule: consecutive_5xx, success_rate
	SlowStart float64           `json:"slow_start"`
}

func serverStates(s engine.Stats) map[string]serverState {
	out := make(map[string]serverState, len(s.Servers))
	for name, st := range s.Servers {
		out[name] = serverState{State: st.State, InFlight: st.InFlight, EWMAms: st.EWMA, Ejected: st.Ejected, Ejections: st.Ejections, SlowStart: st.SlowStart}
	}
	return out
}

// writeServerMetrics writes the servers' live state: requests in flight,
// latency estimates, ejections.
func writeServerMetrics(w http.ResponseWriter, s engine.Stats) {
	names := sortedKeys(s.Servers)
	fmt.Fprintln(w, "# HELP l7lb_server_in_flight Requests in flight to a server.")
	fmt.Fprintln(w, "# TYPE l7lb_server_in_flight gauge")
	for _, name := range names {
		fmt.Fprintf(w, "l7lb_server_in_flight{server=%q} %d\n", name, s.Servers[name].InFlight)
	}
	fmt.Fprintln(w, "# HELP l7lb_server_latency_ewma_seconds Peak EWMA of a server's time to response head (absent before a sample).")
	fmt.Fprintln(w, "# TYPE l7lb_server_latency_ewma_seconds gauge")
	for _, name := range names {
		if v := s.Servers[name].EWMA; v > 0 {
			fmt.Fprintf(w, "l7lb_server_latency_ewma_seconds{server=%q} %g\n", name, v/1000)
		}
	}
	fmt.Fprintln(w, "# HELP l7lb_server_ejected Whether outlier detection has ejected a server.")
	fmt.Fprintln(w, "# TYPE l7lb_server_ejected gauge")
	for _, name := range names {
		ejected := 0
		if s.Servers[name].Ejected {
			ejected = 1
		}
		fmt.Fprintf(w, "l7lb_server_ejected{server=%q} %d\n", name, ejected)
	}
	fmt.Fprintln(w, "# HELP l7lb_outlier_ejections_total Ejections by outlier detection, by server and rule.")
	fmt.Fprintln(w, "# TYPE l7lb_outlier_ejections_total counter")
	for _, name := range names {
		e := s.Servers[name].Ejections
		for _, reason := range sortedKeys(e) {
			fmt.Fprintf(w, "l7lb_outlier_ejections_total{server=%q,reason=%q} %d\n", name, reason, e[reason])
		}
	}
}
