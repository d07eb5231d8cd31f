// Package metrics is the proxy's Prometheus instrumentation: the families
// operators scrape from the admin listener's /metrics, registered in a
// registry of their own with the standard process_* and go_* collectors.
//
// Requests are counted through a Table, built once per configuration,
// whose label children are resolved ahead (or once, on first use), so that
// counting a request takes atomic adds and no allocation. The live state of
// servers and connections is read at scrape time from the engine's and the
// proxy's own counters, which they keep anyway.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"l7lb/buildinfo"
	"l7lb/config"
	"l7lb/engine"
)

// Label names. The HTTP ones are OpenTelemetry's attribute names
// (http.request.method, http.response.status_code) in Prometheus form.
const (
	labelRoute  = "route"
	labelServer = "server"
	labelMethod = "http_request_method"
	labelStatus = "http_response_status_code"
)

// Bucket bounds, in seconds. Request durations follow OpenTelemetry's
// advice for http.server.request.duration, with three finer bounds below 5
// ms, where a proxy in front of fast servers spends most requests.
var (
	durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60}
	connectBuckets  = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// Sources are the counters read at scrape time (Watch). Either may be nil.
type Sources struct {
	Engine func() engine.Stats
	Proxy  func() ProxyStats
}

// ProxyStats is what the proxy counts of its connections, as of a scrape.
type ProxyStats struct {
	ClientConns   int    // client connections open
	AcceptedConns uint64 // client connections served since start
	RejectedConns uint64 // closed at once at limits.max_client_conns
	// Errors counts failures by kind (the proxy's /stats names).
	Errors  map[string]uint64
	Servers map[string]ServerConns
}

// ServerConns is what the proxy counts of one server.
type ServerConns struct {
	Open, Idle      int    // connections open (idle ones included), pooled idle
	ConnectFailures uint64 // connection attempts that failed
	Timeouts        uint64 // response heads not received within timeouts.response_header
}

// Metrics is the proxy's registry and families. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests         *prometheus.CounterVec   // route, server, method, status
	duration         *prometheus.HistogramVec // route
	received, sent   *prometheus.CounterVec   // route
	retries          *prometheus.CounterVec   // route
	sticky           *prometheus.CounterVec   // route, outcome
	connect, waiting *prometheus.HistogramVec // server

	revision   *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge

	state *stateCollector

	mu      sync.Mutex // serializes Table and ConfigApplied
	current *Table     // the newest table; nil before the first
	hash    string     // the label of l7lb_config_revision now
}

// New returns the metrics of one proxy process. The live state of its
// servers and connections is exported once Watch says where to read it.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), state: &stateCollector{}}
	m.reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	f := promauto{m.reg}
	m.requests = f.counters("l7lb_http_server_requests_total",
		"Requests answered, by route, server, method and the status code sent to the client (the proxy's own 4xx and 5xx included). route and server are empty when none was chosen.",
		labelRoute, labelServer, labelMethod, labelStatus)
	m.duration = f.histograms("l7lb_http_server_request_duration_seconds",
		"Time from a request's first byte to the end of its response, by route.", durationBuckets, labelRoute)
	m.received = f.counters("l7lb_http_server_received_bytes_total",
		"Bytes read from clients, heads included, by route.", labelRoute)
	m.sent = f.counters("l7lb_http_server_sent_bytes_total",
		"Bytes written to clients, heads included, by route.", labelRoute)
	m.retries = f.counters("l7lb_upstream_retries_total",
		"Requests sent again, to another server or on a new connection, after an attempt failed, by route.", labelRoute)
	m.sticky = f.counters("l7lb_sticky_outcomes_total",
		"What stickiness did for a request, by route and outcome (the access log's sticky field).", labelRoute, "outcome")
	m.connect = f.histograms("l7lb_upstream_connect_duration_seconds",
		"Time to connect to a server, for requests that needed a new connection, by server.", connectBuckets, labelServer)
	m.waiting = f.histograms("l7lb_upstream_response_header_duration_seconds",
		"Time from a request sent to a server to its response head, by server.", durationBuckets, labelServer)

	m.revision = f.gauges("l7lb_config_revision",
		"The configuration in use: its revision number in this process; hash identifies its content.", "hash")
	m.reloads = f.counters("l7lb_config_reloads_total",
		"Configurations loaded, by result: accepted or rejected.", "result")
	m.reloads.WithLabelValues("accepted")
	m.reloads.WithLabelValues("rejected")
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{Name: "l7lb_config_last_reload_success_timestamp_seconds",
		Help: "When the configuration in use was applied, in seconds since the Unix epoch."})
	m.reg.MustRegister(m.lastReload)

	b := buildinfo.Get()
	build := f.gauges("l7lb_build_info",
		"The running build: version, VCS revision, whether the tree was modified, Go version, race detector, runtime patches.",
		"version", "revision", "modified", "goversion", "race", "runtime")
	build.WithLabelValues(b.Version, b.RevisionOrUnknown(), strconv.FormatBool(b.Modified), b.GoVersion, strconv.FormatBool(b.Race), b.Runtime).Set(1)

	m.reg.MustRegister(m.state)
	return m
}

// Watch makes each scrape read the live state from src: the process that
// runs the engine and the proxy calls it once they exist, which may be
// after New (the metrics are handed to the proxy as it is made).
func (m *Metrics) Watch(src Sources) { m.state.src.Store(&src) }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Gatherer returns the registry, for tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// ConfigApplied records that the configuration rev is in use since at.
func (m *Metrics) ConfigApplied(rev config.Revision, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hash != "" && m.hash != rev.Hash {
		m.revision.DeleteLabelValues(m.hash)
	}
	m.hash = rev.Hash
	m.revision.WithLabelValues(rev.Hash).Set(float64(rev.N))
	m.reloads.WithLabelValues("accepted").Inc()
	m.lastReload.Set(float64(at.UnixNano()) / 1e9)
}

// ConfigRejected records a configuration that was refused; the one in
// use stays.
func (m *Metrics) ConfigRejected() { m.reloads.WithLabelValues("rejected").Inc() }

// promauto makes and registers families.
type promauto struct{ reg *prometheus.Registry }

func (f promauto) counters(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f promauto) gauges(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f promauto) histograms(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(v)
	return v
}
