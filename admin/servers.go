package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"l7lb/engine"
	"l7lb/httpmsg"
)

// serverState is the live state of one server as /stats shows it.
type serverState struct {
	InFlight  int64             `json:"in_flight"`
	EWMAms    float64           `json:"ewma_ms"` // 0 before a sample
	Ejected   bool              `json:"ejected"`
	Ejections map[string]uint64 `json:"ejections"` // by rule: consecutive_5xx, success_rate
	SlowStart float64           `json:"slow_start"`
}

func serverStates(s engine.Stats) map[string]serverState {
	out := make(map[string]serverState, len(s.Servers))
	for name, st := range s.Servers {
		out[name] = serverState{InFlight: st.InFlight, EWMAms: st.EWMA, Ejected: st.Ejected, Ejections: st.Ejections, SlowStart: st.SlowStart}
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

// explainHandler serves /explain: where a request would go now, with the
// live inputs of the choice, changing nothing. The request is given by
// the query: url (origin-form or absolute, required), method (GET by
// default) and header, repeatable, as "Name: value".
func explainHandler(e *engine.Engine) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		target := q.Get("url")
		method := q.Get("method")
		if method == "" {
			method = "GET"
		}
		if target == "" {
			http.Error(w, "url: missing (the request's target, /path?query or http://host/path)", http.StatusBadRequest)
			return
		}
		var fields []httpmsg.Field
		for _, h := range q["header"] {
			name, value, ok := strings.Cut(h, ":")
			if !ok || !httpmsg.ValidToken(strings.TrimSpace(name)) {
				http.Error(w, fmt.Sprintf("header: want 'Name: value', got %q", h), http.StatusBadRequest)
				return
			}
			fields = append(fields, httpmsg.Field{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
		}
		view := &httpmsg.Headers{Fields: fields}
		req := engine.Request{Method: method, Target: target, Headers: view}
		req.Host, _ = view.Header("Host")
		var d engine.Decision
		e.Explain(&req, &d)
		out := d.Explanation()
		if d.Status == 200 && !d.HasRewrite {
			out["path"] = d.Upstream
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	}
}
