package metrics

import (
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/observe"
)

// series returns the value of the series of family name whose labels are
// exactly labels (a counter's value, a gauge's, a histogram's count), and
// whether it exists.
func series(t *testing.T, m *Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range s.GetLabel() {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue next
				}
			}
			return value(s), true
		}
	}
	return 0, false
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}

func req(route, server, status int, method string) *observe.Exchange {
	return &observe.Exchange{Route: route, Server: server, Status: status, Method: method, Duration: time.Millisecond,
		Received: 10, Sent: 20, Connect: -1, Upstream: -1}
}

func requests(route, server, method, status string) map[string]string {
	return map[string]string{labelRoute: route, labelServer: server, labelMethod: method, labelStatus: status}
}

func TestTableCounts(t *testing.T) {
	m := New()
	tb := m.Table([]string{"a", "b", "default"}, []string{"s1", "s2"}, 10)
	tb.Observe(req(0, 0, 200, "GET"))
	tb.Observe(req(0, 0, 200, "GET"))
	tb.Observe(req(0, 0, 502, "GET"))
	tb.Observe(req(1, 1, 504, "DELETE"))
	tb.Observe(req(-1, -1, 404, "get")) // no route; methods are case-sensitive
	tb.Observe(req(2, 1, 0, "GET"))     // nothing answered: bytes only
	x := req(0, 1, 200, "PUT")
	x.Retries, x.Sticky, x.Connect, x.Upstream = 2, engine.StickyRepinned, 3*time.Millisecond, 5*time.Millisecond
	tb.Observe(x)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"l7lb_http_server_requests_total", requests("a", "s1", "GET", "200"), 2},
		{"l7lb_http_server_requests_total", requests("a", "s1", "GET", "502"), 1},
		{"l7lb_http_server_requests_total", requests("b", "s2", "DELETE", "504"), 1},
		{"l7lb_http_server_requests_total", requests("", "", "_OTHER", "404"), 1},
		{"l7lb_http_server_requests_total", requests("a", "s2", "PUT", "200"), 1},
		{"l7lb_http_server_request_duration_seconds", map[string]string{labelRoute: "a"}, 4},
		{"l7lb_http_server_request_duration_seconds", map[string]string{labelRoute: "default"}, 0},
		{"l7lb_http_server_received_bytes_total", map[string]string{labelRoute: "default"}, 10},
		{"l7lb_http_server_sent_bytes_total", map[string]string{labelRoute: "a"}, 80},
		{"l7lb_upstream_retries_total", map[string]string{labelRoute: "a"}, 2},
		{"l7lb_sticky_outcomes_total", map[string]string{labelRoute: "a", "outcome": "repinned"}, 1},
		{"l7lb_upstream_connect_duration_seconds", map[string]string{labelServer: "s2"}, 1},
		{"l7lb_upstream_connect_duration_seconds", map[string]string{labelServer: "s1"}, 0},
		{"l7lb_upstream_response_header_duration_seconds", map[string]string{labelServer: "s2"}, 1},
	} {
		if got, ok := series(t, m, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Children made on first use only: no sticky series for a route
	// that had no sticky outcome, no request series for status 0.
	if _, ok := series(t, m, "l7lb_sticky_outcomes_total", map[string]string{labelRoute: "b", "outcome": "hit"}); ok {
		t.Error("a sticky series exists that no request made")
	}
	if _, ok := series(t, m, "l7lb_http_server_requests_total", requests("default", "s2", "GET", "0")); ok {
		t.Error("a request with no response was counted")
	}
}

// TestTableDeletesRemoved: a new table deletes the series of routes and
// servers that are gone and keeps counting the others; a request finishing
// on the old table does not bring a deleted series back.
func TestTableDeletesRemoved(t *testing.T) {
	m := New()
	old := m.Table([]string{"a", "b"}, []string{"s1", "s2"}, 10)
	old.Observe(req(0, 0, 200, "GET"))
	old.Observe(req(1, 1, 200, "GET"))
	x := req(1, 1, 200, "GET")
	x.Connect = time.Millisecond
	old.Observe(x)

	tb := m.Table([]string{"a", "c"}, []string{"s1", "s3"}, 10)
	tb.Observe(req(0, 0, 200, "GET"))
	if got, _ := series(t, m, "l7lb_http_server_requests_total", requests("a", "s1", "GET", "200")); got != 2 {
		t.Errorf("a/s1 = %v, want 2: kept across tables", got)
	}
	for _, gone := range []struct {
		name   string
		labels map[string]string
	}{
		{"l7lb_http_server_requests_total", requests("b", "s2", "GET", "200")},
		{"l7lb_http_server_request_duration_seconds", map[string]string{labelRoute: "b"}},
		{"l7lb_http_server_sent_bytes_total", map[string]string{labelRoute: "b"}},
		{"l7lb_upstream_connect_duration_seconds", map[string]string{labelServer: "s2"}},
	} {
		if _, ok := series(t, m, gone.name, gone.labels); ok {
			t.Errorf("%s%v still exported", gone.name, gone.labels)
		}
	}
	old.Observe(req(1, 1, 503, "GET")) // in flight across the change
	if _, ok := series(t, m, "l7lb_http_server_requests_total", requests("b", "s2", "GET", "503")); ok {
		t.Error("a retired table made a series of a removed route")
	}
	if _, ok := series(t, m, "l7lb_http_server_request_duration_seconds", map[string]string{labelRoute: "c"}); !ok {
		t.Error("no duration series for the new route")
	}
}

// TestTableMaxRoutes: a configuration with more named routes than
// maxRoutes counts them all under OtherRoute, the default route and "no
// route" still apart; reloading across the limit deletes the series of
// the labels the new table no longer has.
func TestTableMaxRoutes(t *testing.T) {
	m := New()
	tb := m.Table([]string{"a", "b", "c", "default"}, []string{"s1"}, 2)
	tb.Observe(req(0, 0, 200, "GET"))
	tb.Observe(req(2, 0, 200, "GET"))
	tb.Observe(req(3, 0, 200, "GET"))   // the default route
	tb.Observe(req(4, 0, 200, "GET"))   // out of range: none
	tb.Observe(req(-1, -1, 404, "GET")) // no route
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{requests(OtherRoute, "s1", "GET", "200"), 2},
		{requests("default", "s1", "GET", "200"), 1},
		{requests("", "s1", "GET", "200"), 1},
		{requests("", "", "GET", "404"), 1},
	} {
		if got, ok := series(t, m, "l7lb_http_server_requests_total", c.labels); !ok || got != c.want {
			t.Errorf("requests%v = %v (present %v), want %v", c.labels, got, ok, c.want)
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, ok := series(t, m, "l7lb_http_server_request_duration_seconds", map[string]string{labelRoute: name}); ok {
			t.Errorf("route %s has a duration series of its own", name)
		}
	}
	if got, _ := series(t, m, "l7lb_http_server_request_duration_seconds", map[string]string{labelRoute: OtherRoute}); got != 2 {
		t.Errorf("duration{route=%s} counts %v, want 2", OtherRoute, got)
	}

	// Without a default route, and at the limit: every route its own.
	small := m.Table([]string{"a", "b"}, []string{"s1"}, 2)
	small.Observe(req(1, 0, 200, "GET"))
	if got, _ := series(t, m, "l7lb_http_server_requests_total", requests("b", "s1", "GET", "200")); got != 1 {
		t.Errorf("b/s1 = %v, want 1", got)
	}
	for _, gone := range []string{OtherRoute, "default"} {
		if _, ok := series(t, m, "l7lb_http_server_requests_total", requests(gone, "s1", "GET", "200")); ok {
			t.Errorf("route %q still exported after the reload", gone)
		}
	}
	// Over the limit without a default route.
	big := m.Table([]string{"a", "b", "c"}, []string{"s1"}, 0)
	big.Observe(req(2, 0, 200, "GET"))
	if got, _ := series(t, m, "l7lb_http_server_requests_total", requests(OtherRoute, "s1", "GET", "200")); got != 1 {
		t.Errorf("%s/s1 = %v, want 1", OtherRoute, got)
	}
	if _, ok := series(t, m, "l7lb_http_server_requests_total", requests("b", "s1", "GET", "200")); ok {
		t.Error("route b still exported after the reload")
	}
}

// TestTableStatuses: a cell counts any number of status codes, its array
// and then its map, and indexes out of range count as none.
func TestTableStatuses(t *testing.T) {
	m := New()
	tb := m.Table([]string{"a"}, []string{"s1"}, 10)
	for code := 200; code < 215; code++ {
		for range code - 199 {
			tb.Observe(req(0, 0, code, "GET"))
		}
	}
	for code := 200; code < 215; code++ {
		if got, _ := series(t, m, "l7lb_http_server_requests_total", requests("a", "s1", "GET", strconv.Itoa(code))); got != float64(code-199) {
			t.Errorf("status %d: %v, want %d", code, got, code-199)
		}
	}
	tb.Observe(req(5, 7, 200, "GET"))
	tb.Observe(req(0, 0, 600, "GET"))
	if got, _ := series(t, m, "l7lb_http_server_requests_total", requests("", "", "GET", "200")); got != 1 {
		t.Errorf("out-of-range indexes: %v, want 1 under no route and no server", got)
	}
}

// TestTableConcurrent: requests counted at once from many goroutines, in
// cells being filled, are all counted (run with -race).
func TestTableConcurrent(t *testing.T) {
	m := New()
	tb := m.Table([]string{"a"}, []string{"s1"}, 10)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				tb.Observe(req(0, 0, 200+(g+i)%12, "GET"))
			}
		})
	}
	wg.Wait()
	total := 0.0
	for code := 200; code < 212; code++ {
		v, _ := series(t, m, "l7lb_http_server_requests_total", requests("a", "s1", "GET", strconv.Itoa(code)))
		total += v
	}
	if total != 8*500 {
		t.Errorf("%v requests counted, want %d", total, 8*500)
	}
}

func TestObserveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := New()
	tb := m.Table([]string{"a"}, []string{"s1"}, 10)
	x := req(0, 0, 200, "GET")
	x.Sticky, x.Retries, x.Connect, x.Upstream = engine.StickyHit, 1, time.Millisecond, time.Millisecond
	tb.Observe(x)
	if n := testing.AllocsPerRun(1000, func() { tb.Observe(x) }); n != 0 {
		t.Errorf("%v allocations per observed request", n)
	}
	var nilTable *Table
	nilTable.Observe(x) // counts nothing, does not panic
}

func TestConfigApplied(t *testing.T) {
	m := New()
	at := time.Unix(1700000000, 0)
	m.ConfigApplied(config.Revision{N: 1, Hash: "aaaa"}, at)
	m.ConfigRejected()
	m.ConfigApplied(config.Revision{N: 2, Hash: "bbbb"}, at.Add(time.Minute))
	if v, ok := series(t, m, "l7lb_config_revision", map[string]string{"hash": "bbbb"}); !ok || v != 2 {
		t.Errorf("revision: %v %v, want 2 under hash bbbb", v, ok)
	}
	if _, ok := series(t, m, "l7lb_config_revision", map[string]string{"hash": "aaaa"}); ok {
		t.Error("the previous revision's series is still exported")
	}
	if v, _ := series(t, m, "l7lb_config_reloads_total", map[string]string{"result": "accepted"}); v != 2 {
		t.Errorf("accepted: %v, want 2", v)
	}
	if v, _ := series(t, m, "l7lb_config_reloads_total", map[string]string{"result": "rejected"}); v != 1 {
		t.Errorf("rejected: %v, want 1", v)
	}
	if v, _ := series(t, m, "l7lb_config_last_reload_success_timestamp_seconds", map[string]string{}); v != 1700000060 {
		t.Errorf("last reload: %v", v)
	}
}

// TestState: servers' states and connections come from the sources at
// each scrape, one state per server.
func TestState(t *testing.T) {
	stats := engine.Stats{
		Down:     map[string]bool{"s2": true},
		Sessions: 4,
		Servers: map[string]engine.ServerStats{
			"s1": {State: engine.StateUp, InFlight: 3, EWMA: 12},
			"s2": {State: engine.StateDown},
			"s3": {State: engine.StateUp, Ejected: true, Ejections: map[string]uint64{"consecutive_5xx": 2}},
			"s4": {State: engine.StateDraining, Ejected: true},
			"s5": {State: engine.StateDisabled},
		},
	}
	m := New()
	if _, ok := series(t, m, "l7lb_upstream_state", map[string]string{labelServer: "s1", "state": "up"}); ok {
		t.Error("server states before Watch")
	}
	m.Watch(Sources{Engine: func() engine.Stats { return stats }, Proxy: func() ProxyStats {
		return ProxyStats{ClientConns: 7, AcceptedConns: 9, Errors: map[string]uint64{"connect": 2},
			Servers: map[string]ServerConns{"s1": {Open: 3, Idle: 1, ConnectFailures: 2, Timeouts: 1}}}
	}})
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"l7lb_upstream_state", map[string]string{labelServer: "s1", "state": "up"}, 1},
		{"l7lb_upstream_state", map[string]string{labelServer: "s1", "state": "down"}, 0},
		{"l7lb_upstream_state", map[string]string{labelServer: "s2", "state": "down"}, 1},
		{"l7lb_upstream_state", map[string]string{labelServer: "s2", "state": "up"}, 0},
		{"l7lb_upstream_state", map[string]string{labelServer: "s3", "state": "ejected"}, 1},
		{"l7lb_upstream_state", map[string]string{labelServer: "s3", "state": "up"}, 0},
		{"l7lb_upstream_state", map[string]string{labelServer: "s4", "state": "draining"}, 1},
		{"l7lb_upstream_state", map[string]string{labelServer: "s4", "state": "ejected"}, 0},
		{"l7lb_upstream_state", map[string]string{labelServer: "s5", "state": "disabled"}, 1},
		{"l7lb_upstream_active_requests", map[string]string{labelServer: "s1"}, 3},
		{"l7lb_upstream_latency_ewma_seconds", map[string]string{labelServer: "s1"}, 0.012},
		{"l7lb_upstream_ejections_total", map[string]string{labelServer: "s3", "reason": "consecutive_5xx"}, 2},
		{"l7lb_sticky_sessions", map[string]string{}, 4},
		{"l7lb_client_connections", map[string]string{}, 7},
		{"l7lb_client_connections_accepted_total", map[string]string{}, 9},
		{"l7lb_proxy_errors_total", map[string]string{"kind": "connect"}, 2},
		{"l7lb_upstream_connections", map[string]string{labelServer: "s1"}, 3},
		{"l7lb_upstream_idle_connections", map[string]string{labelServer: "s1"}, 1},
		{"l7lb_upstream_connect_failures_total", map[string]string{labelServer: "s1"}, 2},
		{"l7lb_upstream_timeouts_total", map[string]string{labelServer: "s1"}, 1},
	} {
		if got, ok := series(t, m, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := series(t, m, "l7lb_upstream_latency_ewma_seconds", map[string]string{labelServer: "s2"}); ok {
		t.Error("an EWMA for a server with no sample")
	}
}
