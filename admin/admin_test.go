package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"l7lb/buildinfo"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/metrics"
)

// newEngine returns an engine over s1 and s2 that has routed one request
// to s1 and answered one 404, with s2 disabled (the node's server_down).
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e := engine.New(nil)
	e.Init("lb", []string{"s1", "s2"})
	cfg := &config.Config{Routes: []config.Route{{Name: "a", Path: "/a/*", Servers: []string{"s1"}, Balance: config.RoundRobin}},
		DefaultServers: []string{}, Sticky: config.DefaultSticky()}
	if err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	var d engine.Decision
	e.Route(&engine.Request{Method: "GET", Target: "/a/x"}, &d)
	e.Route(&engine.Request{Method: "GET", Target: "/b"}, &d)
	if err := e.SetDown("s2", true); err != nil {
		t.Fatal(err)
	}
	return e
}

func get(t *testing.T, h http.Handler, path string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(body)
}

func TestEndpoints(t *testing.T) {
	e := newEngine(t)
	h := Handler(newFake(e, map[string]int{"client_conns": 3}), metricsOf(e))

	if code, _, body := get(t, h, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}

	code, ctype, body := get(t, h, "/stats")
	if code != 200 || ctype != "application/json" {
		t.Fatalf("/stats: %d %s", code, ctype)
	}
	var stats struct {
		Routed   map[string]uint64 `json:"routed"`
		Statuses map[string]uint64 `json:"statuses"`
		Sessions int               `json:"sessions"`
		Down     map[string]bool   `json:"down"`
		Proxy    map[string]int    `json:"proxy"`
		Version  string            `json:"version"`
	}
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatalf("/stats is not JSON: %v\n%s", err, body)
	}
	if stats.Routed["s1"] != 1 || stats.Routed["s2"] != 0 || stats.Statuses["200"] != 1 || stats.Statuses["404"] != 1 ||
		!stats.Down["s2"] || stats.Down["s1"] || stats.Proxy["client_conns"] != 3 {
		t.Errorf("/stats: %+v", stats)
	}
	if b := buildinfo.Get(); stats.Version != b.String() || !strings.Contains(stats.Version, "go="+b.GoVersion) {
		t.Errorf("/stats version %q, want %q", stats.Version, b.String())
	}

	code, _, body = get(t, h, "/metrics")
	b := buildinfo.Get()
	for _, want := range []string{
		fmt.Sprintf(`l7lb_build_info{goversion="%s",modified="%t",race="%t",revision="%s",runtime="%s",version="%s"} 1`,
			b.GoVersion, b.Modified, b.Race, b.RevisionOrUnknown(), b.Runtime, b.Version),
		`l7lb_upstream_state{server="s1",state="up"} 1`,
		`l7lb_upstream_state{server="s2",state="up"} 0`,
		`l7lb_upstream_state{server="s2",state="disabled"} 1`,
		`l7lb_sticky_sessions 0`,
	} {
		if code != 200 || !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}

	if code, _, _ := get(t, h, "/nothing"); code != 404 {
		t.Errorf("/nothing: %d", code)
	}
}

// metricsOf returns the /metrics handler over e's live state.
func metricsOf(e *engine.Engine) http.Handler {
	m := metrics.New()
	m.Watch(metrics.Sources{Engine: e.Stats})
	return m.Handler()
}
