package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"l7lb/config"
	"l7lb/engine"
)

// fake is a Control over an engine, with a configuration of servers s1..s3
// and a token.
type fake struct {
	eng      *engine.Engine
	stats    any
	token    string
	remote   bool // the admin address is not loopback
	applied  []string
	logs     []string
	file     *config.File
	problems *config.Located
}

func newFake(eng *engine.Engine, stats any) *fake {
	return &fake{eng: eng, stats: stats, file: &config.File{
		Config:       config.Config{Sticky: config.Sticky{Mode: config.ModeInsert, Secrets: []string{"s3cret"}}},
		Servers:      []config.Server{{ID: "s1", URL: "http://127.0.0.1:1"}, {ID: "s2", URL: "http://127.0.0.1:2"}, {ID: "s3", URL: "http://127.0.0.1:3"}},
		DrainTimeout: config.DefaultDrainTimeout,
		Admin:        "127.0.0.1:9",
		AdminToken:   "tok",
	}}
}

func (f *fake) Engine() *engine.Engine { return f.eng }
func (f *fake) ProxyStats() any        { return f.stats }
func (f *fake) Running() (*config.File, config.Revision) {
	return f.file, config.Revision{N: 7, Hash: "0123456789abcdef"}
}
func (f *fake) Reloads() (uint64, uint64) { return 7, 2 }
func (f *fake) Token() (string, bool)     { return f.token, f.remote }
func (f *fake) Apply(data []byte, dry bool) (*Outcome, error) {
	if f.problems != nil {
		return nil, f.problems
	}
	f.applied = append(f.applied, string(data))
	return &Outcome{Revision: config.Revision{N: 8, Hash: "fedcba9876543210"}, DryRun: dry}, nil
}
func (f *fake) Reload() (*Outcome, error) { return f.Apply(nil, false) }
func (f *fake) Logf(format string, args ...any) {
	f.logs = append(f.logs, format)
}

func do(h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestWritesNeedTheToken checks every write without the token (401, or
// 403 when none is configured) and reads (free on loopback, 401 when the
// admin address is not loopback).
func TestWritesNeedTheToken(t *testing.T) {
	f := newFake(newEngine(t), nil)
	f.token = "tok"
	h := Handler(f)
	writes := [][2]string{{"PUT", "/config"}, {"PUT", "/config?dry_run=1"}, {"POST", "/reload"}, {"POST", "/servers/s1/drain"}, {"POST", "/servers/s1/disable"}, {"POST", "/servers/s1/enable"}}
	for _, w := range writes {
		if rec := do(h, w[0], w[1], "", "listen: x"); rec.Code != 401 || !strings.Contains(rec.Body.String(), `"error"`) || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s without a token: %d %s", w[0], w[1], rec.Code, rec.Body)
		}
		if rec := do(h, w[0], w[1], "wrong", "listen: x"); rec.Code != 401 {
			t.Errorf("%s %s with a wrong token: %d", w[0], w[1], rec.Code)
		}
	}
	if len(f.applied) != 0 {
		t.Errorf("applied without a token: %q", f.applied)
	}
	if st, _ := f.eng.State("s1"); st != engine.StateUp {
		t.Errorf("s1 is %s after refused writes", st)
	}
	if rec := do(h, "GET", "/config", "", ""); rec.Code != 200 {
		t.Errorf("GET /config on loopback without a token: %d", rec.Code)
	}
	if rec := do(h, "PUT", "/config", "tok", "listen: x"); rec.Code != 200 || len(f.applied) != 1 {
		t.Errorf("PUT /config with the token: %d %s", rec.Code, rec.Body)
	}
	f.remote = true
	for _, path := range []string{"/config", "/stats", "/servers", "/explain?url=/"} {
		if rec := do(h, "GET", path, "", ""); rec.Code != 401 {
			t.Errorf("GET %s off loopback without a token: %d", path, rec.Code)
		}
		if rec := do(h, "GET", path, "tok", ""); rec.Code != 200 {
			t.Errorf("GET %s off loopback with the token: %d %s", path, rec.Code, rec.Body)
		}
	}
	f.token, f.remote = "", false
	if rec := do(h, "POST", "/reload", "", ""); rec.Code != 403 {
		t.Errorf("POST /reload with no token configured: %d", rec.Code)
	}
}

func TestServerStateEndpoints(t *testing.T) {
	f := newFake(newEngine(t), nil)
	f.token = "tok"
	h := Handler(f)
	for _, c := range []struct{ action, state string }{{"drain", "draining"}, {"disable", "disabled"}, {"enable", "up"}} {
		rec := do(h, "POST", "/servers/s1/"+c.action, "tok", "")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"state": "`+c.state+`"`) {
			t.Errorf("%s: %d %s", c.action, rec.Code, rec.Body)
		}
		if st, _ := f.eng.State("s1"); st != c.state {
			t.Errorf("after %s s1 is %s", c.action, st)
		}
	}
	if rec := do(h, "POST", "/servers/nope/drain", "tok", ""); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"field": "id"`) {
		t.Errorf("unknown server: %d %s", rec.Code, rec.Body)
	}
	rec := do(h, "GET", "/servers", "", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"id": "s2"`) || !strings.Contains(rec.Body.String(), `"state": "disabled"`) {
		t.Errorf("GET /servers: %d %s", rec.Code, rec.Body)
	}
	if len(f.logs) < 4 {
		t.Errorf("writes not logged: %q", f.logs)
	}
}

func TestConfigErrorsAndRedaction(t *testing.T) {
	f := newFake(newEngine(t), nil)
	f.token = "tok"
	h := Handler(f)
	f.problems = &config.Located{Name: "x", Problems: []config.Problem{{Field: "routes[0].servers[0]", Line: 4, Msg: "unknown server s9"}, {Field: "listen", Line: 9, Msg: "missing"}}}
	rec := do(h, "PUT", "/config", "tok", "whatever")
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), `"field": "routes[0].servers[0]"`) || !strings.Contains(rec.Body.String(), `"line": 4`) ||
		!strings.Contains(rec.Body.String(), `"error": "unknown server s9"`) || !strings.Contains(rec.Body.String(), `"line": 9`) {
		t.Errorf("PUT /config of a bad document: %d %s", rec.Code, rec.Body)
	}
	rec = do(h, "GET", "/config", "", "")
	if strings.Contains(rec.Body.String(), "s3cret") || strings.Contains(rec.Body.String(), ": tok\n") || rec.Header().Get("L7LB-Redacted") == "" {
		t.Errorf("GET /config without the token shows a secret:\n%s", rec.Body)
	}
	rec = do(h, "GET", "/config", "tok", "")
	if !strings.Contains(rec.Body.String(), "s3cret") || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Errorf("GET /config with the token: %s\n%s", rec.Header(), rec.Body)
	}
	req := httptest.NewRequest("GET", "/config", nil)
	req.Header.Set("Accept", "application/json")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Type") != "application/json" || !strings.HasPrefix(rec.Body.String(), "{") {
		t.Errorf("GET /config as JSON: %s %s", rec.Header(), rec.Body)
	}
}

func TestExplainBody(t *testing.T) {
	h := Handler(newFake(newMeasured(t), nil))
	rec := do(h, "POST", "/explain", "", `{"method": "GET", "path": "/x", "headers": {"Host": "a"}}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"route": "lr"`) || !strings.Contains(rec.Body.String(), `"path": "/x"`) {
		t.Errorf("POST /explain: %d %s", rec.Code, rec.Body)
	}
	rec = do(h, "POST", "/explain", "", `{"method": 7, "path": "/x"}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field": "method"`) {
		t.Errorf("POST /explain with a bad field: %d %s", rec.Code, rec.Body)
	}
}
