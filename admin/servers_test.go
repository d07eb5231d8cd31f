package admin

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"l7lb/config"
	"l7lb/engine"
)

// newMeasured returns a measured engine over s1..s3 (least_request on /,
// outliers ejecting at the first failure) with one request left in flight
// and s3 ejected.
func newMeasured(t *testing.T) *engine.Engine {
	t.Helper()
	e := engine.New(nil)
	e.Measure()
	e.Init("lb", []string{"s1", "s2", "s3"})
	lr := config.DefaultLeastRequest()
	o := config.DefaultOutliers()
	o.Consecutive5xx = 1
	sticky := config.DefaultSticky()
	sticky.Mode = config.ModeOff
	cfg := &config.Config{Sticky: sticky, Outliers: &o, Routes: []config.Route{
		{Name: "lr", Path: "/*", Servers: []string{"s1", "s2", "s3"}, Balance: config.LeastRequest, LeastRequest: &lr},
	}}
	if err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for ejected := false; !ejected; {
		var d engine.Decision
		e.Route(&engine.Request{Method: "GET", Target: "/"}, &d)
		if d.Server == "s3" {
			e.Responded(&d, 503)
			ejected = true
		} else {
			e.Responded(&d, 200)
		}
		e.Done(&d)
	}
	var open engine.Decision
	e.Route(&engine.Request{Method: "GET", Target: "/"}, &open) // left in flight
	return e
}

func TestServerStates(t *testing.T) {
	h := Handler(newFake(newMeasured(t), nil))
	_, _, body := get(t, h, "/stats")
	var stats struct {
		Servers map[string]serverState `json:"servers"`
	}
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	s := stats.Servers
	if !s["s3"].Ejected || s["s3"].Ejections["consecutive_5xx"] != 1 || s["s1"].Ejected || s["s1"].InFlight+s["s2"].InFlight != 1 {
		t.Errorf("/stats servers: %+v", s)
	}
	_, _, metrics := get(t, h, "/metrics")
	for _, want := range []string{
		`l7lb_server_ejected{server="s3"} 1`,
		`l7lb_server_ejected{server="s1"} 0`,
		`l7lb_outlier_ejections_total{server="s3",reason="consecutive_5xx"} 1`,
		`l7lb_server_in_flight{server="s3"} 0`,
		`l7lb_server_latency_ewma_seconds{server="s3"} `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
}

func TestExplainEndpoint(t *testing.T) {
	h := Handler(newFake(newMeasured(t), nil))
	q := url.Values{"url": {"/x?y=1"}, "header": {"Host: a.example.com"}}
	code, ctype, body := get(t, h, "/explain?"+q.Encode())
	if code != 200 || ctype != "application/json" {
		t.Fatalf("/explain: %d %s %s", code, ctype, body)
	}
	var out struct {
		Status   int
		Route    string
		RoutedTo string `json:"routed_to"`
		Path     string
		Load     map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	// s3 is ejected; one of s1 and s2 has a request in flight: the other wins.
	busy := "s1"
	if out.Load["s2"]["in_flight"] == 1.0 {
		busy = "s2"
	}
	if out.Status != 200 || out.Route != "lr" || out.Path != "/x?y=1" || out.RoutedTo == busy || out.RoutedTo == "s3" ||
		out.Load["s3"]["ejected"] != true || out.Load[busy]["in_flight"] != 1.0 {
		t.Errorf("/explain: %s", body)
	}
	for _, bad := range []string{"/explain", "/explain?url=/&header=nocolon"} {
		if code, _, _ := get(t, h, bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}
