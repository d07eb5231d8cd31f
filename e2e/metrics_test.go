package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"l7lb/testbin"
)

// TestMetricsCountRealStatuses: a client that got a 500 from its server,
// a 502 (server unreachable) or a 504 (no response head in time) from the
// proxy is counted under that code, not under the routing decision's 200;
// and the whole scrape passes promtool check metrics.
func TestMetricsCountRealStatuses(t *testing.T) {
	ok := newBackend(t, "ok")
	fails := newHandlerBackend(t, "fails", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	slow := newHandlerBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	dead := &backend{ID: "dead", URL: "http://" + freePort(t)}
	admin := freePort(t)
	p := startServe(t, []*backend{ok, fails, slow, dead}, fmt.Sprintf(`
admin: %q
sticky: {mode: "off"}
default_servers: [ok]
routes:
  - {name: err, path: /err, servers: [fails]}
  - {name: slow, path: /slow, servers: [slow], timeouts: {response_header: 200ms}}
  - {name: down, path: /down, servers: [dead]}
`, admin))

	c := newClient(t, false)
	for _, tt := range []struct {
		method, target string
		status         int
	}{
		{"GET", "/err", 500},
		{"GET", "/slow", 504},
		{"GET", "/down", 502},
		{"GET", "/a", 200},
		{"GET", "/b", 200},
		{"POST", "/c", 200},
		{"BREW", "/d", 200},
	} {
		if r := do(t, c, request(t, tt.method, p.Addr, "example.com", tt.target, nil)); r.Status != tt.status {
			t.Fatalf("%s %s: %d, want %d", tt.method, tt.target, r.Status, tt.status)
		}
	}

	scrape := scrapeMetrics(t, admin)
	for _, want := range []string{
		`l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="500",route="err",server="fails"} 1`,
		`l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="504",route="slow",server="slow"} 1`,
		`l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="502",route="down",server="dead"} 1`,
		`l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="200",route="default",server="ok"} 2`,
		`l7lb_http_server_requests_total{http_request_method="POST",http_response_status_code="200",route="default",server="ok"} 1`,
		`l7lb_http_server_requests_total{http_request_method="_OTHER",http_response_status_code="200",route="default",server="ok"} 1`,
		`l7lb_http_server_request_duration_seconds_count{route="err"} 1`,
		`l7lb_upstream_timeouts_total{server="slow"} 1`,
		`l7lb_upstream_connect_failures_total{server="dead"} 1`,
		`l7lb_upstream_state{server="ok",state="up"} 1`,
		`l7lb_config_reloads_total{result="accepted"} 1`,
		`l7lb_client_connections 1`,
	} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Nothing of the failed routes is counted as a success.
	if m := regexp.MustCompile(`(?m)^l7lb_http_server_requests_total\{[^}]*code="200",route="(err|slow|down)".*$`).FindString(scrape); m != "" {
		t.Errorf("a failed request counted as a 200: %s", m)
	}
	for _, family := range []string{"l7lb_build_info{", "l7lb_config_revision{hash=", "l7lb_config_last_reload_success_timestamp_seconds ",
		"process_cpu_seconds_total ", "go_goroutines "} {
		if !strings.Contains(scrape, "\n"+family) {
			t.Errorf("/metrics has no %s", family)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", scrape)
	}
	promtoolCheck(t, scrape)
}

// TestMetricsMaxRoutes: with more routes than metrics.max_routes, every
// named route counts under route="_OTHER", the default route and the
// requests no route matched still apart, and no route has a series of
// its own.
func TestMetricsMaxRoutes(t *testing.T) {
	ok := newBackend(t, "ok")
	admin := freePort(t)
	p := startServe(t, []*backend{ok}, fmt.Sprintf(`
admin: %q
sticky: {mode: "off"}
default_servers: [ok]
metrics: {max_routes: 2}
routes:
  - {name: a, path: /a, servers: [ok]}
  - {name: b, path: /b, servers: [ok]}
  - {name: c, host: c.example.com, servers: [ok]}
`, admin))
	c := newClient(t, false)
	for _, q := range []struct{ host, target string }{{"example.com", "/a"}, {"example.com", "/b"}, {"c.example.com", "/"}, {"example.com", "/other"}} {
		if r := get(t, c, p.Addr, q.host, q.target); r.Status != 200 {
			t.Fatalf("%s%s: %d", q.host, q.target, r.Status)
		}
	}
	scrape := scrapeMetrics(t, admin)
	for _, want := range []string{
		`l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="200",route="_OTHER",server="ok"} 3`,
		`l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="200",route="default",server="ok"} 1`,
		`l7lb_http_server_request_duration_seconds_count{route="_OTHER"} 3`,
	} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if m := regexp.MustCompile(`(?m)^l7lb_\w+\{[^}]*route="[abc]".*$`).FindString(scrape); m != "" {
		t.Errorf("a route over the limit has a series of its own: %s", m)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", scrape)
	}
	promtoolCheck(t, scrape)
}

// scrapeMetrics returns the admin listener's /metrics in the Prometheus
// text format.
func scrapeMetrics(t *testing.T, admin string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+admin+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}

// promtoolCheck runs promtool check metrics (Debian's prometheus package)
// on a scrape. Without promtool the check is skipped, except under
// CI=true, where it fails: CI installs it.
func promtoolCheck(t *testing.T, scrape string) {
	t.Helper()
	cmd := exec.Command(testbin.Tool(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || out.Len() > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// TestMetricsAcrossReloads: a reload (SIGHUP) that removes a route and its
// server deletes their series and keeps the counts of those it keeps; a
// rejected one is counted and changes nothing; the revision and the time
// of the last accepted reload follow. The scrape passes promtool after
// the reloads too.
func TestMetricsAcrossReloads(t *testing.T) {
	kept, removed := newBackend(t, "kept"), newBackend(t, "gone")
	admin := freePort(t)
	addr := freePort(t)
	common := fmt.Sprintf("admin: %q\nsticky: {mode: \"off\"}\ndefault_servers: []\n", admin)
	two := serversYAML(addr, []*backend{kept, removed}) + common +
		"routes:\n  - {name: stay, path: /stay, servers: [kept]}\n  - {name: leave, path: /leave, servers: [gone]}\n"
	one := serversYAML(addr, []*backend{kept}) + common +
		"routes:\n  - {name: stay, path: /stay, servers: [kept]}\n"
	cfg := writeFile(t, "serve.yaml", two)
	p, err := launch(t, cfg, serveOpts{})
	if err != nil {
		t.Fatal(err)
	}
	reload := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, before := configStats(t, admin)
		p.cmd.Process.Signal(syscall.SIGHUP)
		if !waitFor(10*time.Second, func() bool { _, n := configStats(t, admin); return n > before }) {
			t.Fatalf("reload by SIGHUP: not done; stderr:\n%s", p.stderr)
		}
	}
	value := func(scrape, series string) (string, bool) {
		for _, line := range strings.Split(scrape, "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				return v, true
			}
		}
		return "", false
	}
	const (
		stay  = `l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="200",route="stay",server="kept"}`
		leave = `l7lb_http_server_requests_total{http_request_method="GET",http_response_status_code="200",route="leave",server="gone"}`
	)
	c := newClient(t, false)
	for _, target := range []string{"/stay", "/leave"} {
		if r := get(t, c, p.Addr, "example.com", target); r.Status != 200 {
			t.Fatalf("%s: %d", target, r.Status)
		}
	}
	before := scrapeMetrics(t, admin)
	if v, ok := value(before, leave); !ok || v != "1" {
		t.Fatalf("before the reload, %s = %q %v:\n%s", leave, v, ok, before)
	}
	hash1 := regexp.MustCompile(`l7lb_config_revision\{hash="([0-9a-f]{16})"\} 1\n`).FindStringSubmatch(before)
	stamp1, _ := value(before, "l7lb_config_last_reload_success_timestamp_seconds")
	if hash1 == nil || stamp1 == "" {
		t.Fatalf("revision 1 or its time missing:\n%s", before)
	}

	reload(one)
	after := scrapeMetrics(t, admin)
	for _, gone := range []string{`route="leave"`, `server="gone"`} {
		if strings.Contains(after, gone) {
			t.Errorf("a series with %s after the reload that removed it:\n%s", gone, after)
		}
	}
	if v, ok := value(after, stay); !ok || v != "1" {
		t.Errorf("the kept route's count after the reload: %s = %q %v", stay, v, ok)
	}
	hash2 := regexp.MustCompile(`l7lb_config_revision\{hash="([0-9a-f]{16})"\} 2\n`).FindStringSubmatch(after)
	if hash2 == nil || hash2[1] == hash1[1] || strings.Contains(after, hash1[1]) {
		t.Errorf("revision 2: %v, the old hash %s still there:\n%s", hash2, hash1[1], after)
	}
	stamp2, _ := value(after, "l7lb_config_last_reload_success_timestamp_seconds")
	if stamp2 == stamp1 {
		t.Errorf("last reload time %s unchanged by an accepted reload", stamp2)
	}
	get(t, c, p.Addr, "example.com", "/stay")

	reload(strings.Replace(one, "servers: [kept]", "servers: [nobody]", 1))
	rejected := scrapeMetrics(t, admin)
	for series, want := range map[string]string{
		`l7lb_config_reloads_total{result="accepted"}`:  "2",
		`l7lb_config_reloads_total{result="rejected"}`:  "1",
		`l7lb_config_revision{hash="` + hash2[1] + `"}`: "2",
		stay: "2",
	} {
		if v, ok := value(rejected, series); !ok || v != want {
			t.Errorf("after a rejected reload, %s = %q %v, want %s", series, v, ok, want)
		}
	}
	if stamp3, _ := value(rejected, "l7lb_config_last_reload_success_timestamp_seconds"); stamp3 != stamp2 {
		t.Errorf("last reload time changed by a rejected reload: %s", stamp3)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", rejected)
	}
	promtoolCheck(t, rejected)
}
