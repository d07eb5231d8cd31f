package metrics

import (
	"sort"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"l7lb/engine"
)

// The states of l7lb_upstream_state, one series each per server (the enum
// pattern: 1 for the state it is in, 0 for the others).
var serverStates = []string{"up", "draining", "down", "disabled", "ejected"}

// stateOf returns the one state of a server: the engine's (disabled or
// draining by the operator, down by the health checks: /stats's state),
// or ejected when outlier detection has ejected a server that is
// otherwise up.
func stateOf(st engine.ServerStats) string {
	if st.State == engine.StateUp && st.Ejected {
		return "ejected"
	}
	return st.State
}

var (
	descState = prometheus.NewDesc("l7lb_upstream_state",
		"A server's state: 1 for the one it is in (up, draining, down, disabled, ejected), 0 for the others.", []string{labelServer, "state"}, nil)
	descActive = prometheus.NewDesc("l7lb_upstream_active_requests",
		"Requests in flight to a server, from the routing decision to the end of the response (an upgraded connection until it closes).", []string{labelServer}, nil)
	descEWMA = prometheus.NewDesc("l7lb_upstream_latency_ewma_seconds",
		"Peak EWMA of a server's time to response head, as peak_ewma balances by it (absent before a sample).", []string{labelServer}, nil)
	descEjections = prometheus.NewDesc("l7lb_upstream_ejections_total",
		"Ejections of a server by outlier detection, by rule (consecutive_5xx, success_rate).", []string{labelServer, "reason"}, nil)
	descPanics = prometheus.NewDesc("l7lb_upstream_panic_picks_total",
		"Servers picked in panic: for a pool whose servers the health checks all held down (health.panic).", nil, nil)
	descSessions = prometheus.NewDesc("l7lb_sticky_sessions",
		"Session pins held by the table sticky modes (auto, always).", nil, nil)

	descClientConns = prometheus.NewDesc("l7lb_client_connections",
		"Client connections open.", nil, nil)
	descAccepted = prometheus.NewDesc("l7lb_client_connections_accepted_total",
		"Client connections accepted and served.", nil, nil)
	descRejected = prometheus.NewDesc("l7lb_client_connections_rejected_total",
		"Client connections closed at once because limits.max_client_conns were open.", nil, nil)
	descErrors = prometheus.NewDesc("l7lb_proxy_errors_total",
		"Failures, by kind: bad_request, header_too_large, read_timeout, client_abort, no_route, no_server, connect, server_broken, bad_response, server_timeout.", []string{"kind"}, nil)
	descConns = prometheus.NewDesc("l7lb_upstream_connections",
		"Connections open to a server, pooled idle ones included.", []string{labelServer}, nil)
	descIdle = prometheus.NewDesc("l7lb_upstream_idle_connections",
		"Idle connections pooled for reuse, by server.", []string{labelServer}, nil)
	descConnectFailures = prometheus.NewDesc("l7lb_upstream_connect_failures_total",
		"Connection attempts to a server that failed (refused, unreachable, timed out).", []string{labelServer}, nil)
	descTimeouts = prometheus.NewDesc("l7lb_upstream_timeouts_total",
		"Requests whose server sent no response head within timeouts.response_header (answered 504).", []string{labelServer}, nil)
)

// stateCollector reads the servers' and connections' live state at scrape
// time from the counters the engine and the proxy keep anyway, so that the
// request path pays nothing for them and a change of configuration needs
// no bookkeeping here.
type stateCollector struct{ src atomic.Pointer[Sources] }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descActive, descEWMA, descEjections, descPanics, descSessions,
		descClientConns, descAccepted, descRejected, descErrors, descConns, descIdle, descConnectFailures, descTimeouts} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src.Load()
	if src == nil {
		return
	}
	if src.Engine != nil {
		collectEngine(ch, src.Engine())
	}
	if src.Proxy != nil {
		collectProxy(ch, src.Proxy())
	}
}

func collectEngine(ch chan<- prometheus.Metric, s engine.Stats) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, name := range sortedKeys(s.Servers) {
		st := s.Servers[name]
		state := stateOf(st)
		for _, x := range serverStates {
			v := 0.0
			if x == state {
				v = 1
			}
			gauge(descState, v, name, x)
		}
		gauge(descActive, float64(st.InFlight), name)
		if st.EWMA > 0 {
			gauge(descEWMA, st.EWMA/1000, name)
		}
		for _, reason := range sortedKeys(st.Ejections) {
			ch <- prometheus.MustNewConstMetric(descEjections, prometheus.CounterValue, float64(st.Ejections[reason]), name, reason)
		}
	}
	ch <- prometheus.MustNewConstMetric(descPanics, prometheus.CounterValue, float64(s.Panics))
	gauge(descSessions, float64(s.Sessions))
}

func collectProxy(ch chan<- prometheus.Metric, s ProxyStats) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	metric(descClientConns, prometheus.GaugeValue, float64(s.ClientConns))
	metric(descAccepted, prometheus.CounterValue, float64(s.AcceptedConns))
	metric(descRejected, prometheus.CounterValue, float64(s.RejectedConns))
	for _, kind := range sortedKeys(s.Errors) {
		metric(descErrors, prometheus.CounterValue, float64(s.Errors[kind]), kind)
	}
	for _, name := range sortedKeys(s.Servers) {
		sc := s.Servers[name]
		metric(descConns, prometheus.GaugeValue, float64(sc.Open), name)
		metric(descIdle, prometheus.GaugeValue, float64(sc.Idle), name)
		metric(descConnectFailures, prometheus.CounterValue, float64(sc.ConnectFailures), name)
		metric(descTimeouts, prometheus.CounterValue, float64(sc.Timeouts), name)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
