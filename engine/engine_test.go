package engine

import (
	"strconv"
	"strings"
	"testing"

	"l7lb/config"
	"l7lb/httpmsg"
	"l7lb/tools/routeset"
)

func newEngine(t testing.TB, servers ...string) *Engine {
	t.Helper()
	e := New(func(msg string) { t.Log("warn:", msg) })
	e.Init("lb", servers)
	return e
}

func decide(e *Engine, req Request) Decision {
	if req.Method == "" {
		req.Method = "GET"
	}
	var d Decision
	e.Route(&req, &d)
	return d
}

func explain(e *Engine, req Request) Decision {
	if req.Method == "" {
		req.Method = "GET"
	}
	var d Decision
	e.Explain(&req, &d)
	return d
}

func mustApply(t *testing.T, e *Engine, cfg *config.Config) {
	t.Helper()
	if cfg.Sticky.Mode == "" {
		cfg.Sticky = config.DefaultSticky()
	}
	for i := range cfg.Routes {
		if cfg.Routes[i].Path == "" {
			cfg.Routes[i].Path = config.DefaultPath
		}
		if cfg.Routes[i].Balance == "" {
			cfg.Routes[i].Balance = config.RoundRobin
		}
	}
	if err := e.Apply(cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func servers(e *Engine, n int, req Request) string {
	var out []string
	for range n {
		d := decide(e, req)
		out = append(out, d.Server)
	}
	return strings.Join(out, ",")
}

func TestBuiltinConfig(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	tests := []struct {
		target, route, servers string
	}{
		{"/api/users", "api", "s1,s2,s1"},
		{"/web/index.html", "web", "s3,s3,s3"},
		{"/other", DefaultRoute, "s1,s2,s3"},
	}
	for _, tt := range tests {
		if got := servers(e, 3, Request{Target: tt.target}); got != tt.servers {
			t.Errorf("%s: servers %s, want %s", tt.target, got, tt.servers)
		}
		if d := decide(e, Request{Target: tt.target}); d.Route != tt.route {
			t.Errorf("%s: route %q, want %q", tt.target, d.Route, tt.route)
		}
	}
	small := newEngine(t, "s1", "s2")
	if got := servers(small, 3, Request{Target: "/api/x"}); got != "s1,s2,s1" {
		t.Errorf("two servers: %s, want the default servers in turn", got)
	}
}

func TestStatuses(t *testing.T) {
	e := New(nil)
	if d := decide(e, Request{Target: "/x"}); d.Status != 503 || d.Error != "no servers known" {
		t.Errorf("before init: %d %q", d.Status, d.Error)
	}
	e.Init("lb", nil)
	if d := decide(e, Request{Target: "/x"}); d.Status != 503 || d.Error != "no servers known" {
		t.Errorf("init without servers: %d %q", d.Status, d.Error)
	}
	e.Init("lb", []string{"s1", "s2", "s3"})
	tests := []struct {
		req    Request
		status int
		reason string
	}{
		{Request{Target: ""}, 400, "missing path"},
		{Request{Target: "api"}, 400, "path: must start with / or be an absolute http(s) URL"},
		{Request{Target: "/a%zz"}, 400, "path: invalid percent-encoding at offset 2"},
		{Request{Target: "http://h/a%zz"}, 400, "path: invalid percent-encoding at offset 10"},
		{Request{Target: "/a b"}, 400, "path: invalid byte 0x20 at offset 2"},
		{Request{Target: "/x", Method: "G T"}, 400, "method: invalid method"},
		{Request{Target: "http://h/api/x"}, 200, ""},
	}
	for _, tt := range tests {
		d := decide(e, tt.req)
		if d.Status != tt.status || d.Error != tt.reason {
			t.Errorf("%q: %d %q, want %d %q", tt.req.Target, d.Status, d.Error, tt.status, tt.reason)
		}
	}
	if err := e.SetDefaultServers([]string{}); err != nil {
		t.Fatal(err)
	}
	if d := decide(e, Request{Target: "/x"}); d.Status != 404 || d.Error != "no route" {
		t.Errorf("empty default servers: %d %q", d.Status, d.Error)
	}
	for _, s := range []string{"s1", "s2"} {
		if err := e.SetDown(s, true); err != nil {
			t.Fatal(err)
		}
	}
	if d := decide(e, Request{Target: "/api/x"}); d.Status != 503 || d.Error != "no server up" || d.Server != "" {
		t.Errorf("all down: %+v", d)
	}
}

func TestRoundRobinSkipsDownServers(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	if got := servers(e, 1, Request{Target: "/x"}); got != "s1" {
		t.Fatalf("first pick %s", got)
	}
	// The counter is at s2; s2 is down, so s3 is taken and the counter
	// wraps past it to s1.
	e.SetDown("s2", true)
	if got := servers(e, 3, Request{Target: "/x"}); got != "s3,s1,s3" {
		t.Errorf("with s2 down: %s", got)
	}
	e.SetDown("s2", false)
	if got := servers(e, 3, Request{Target: "/x"}); got != "s1,s2,s3" {
		t.Errorf("s2 back: %s", got)
	}
}

func TestStickySteps(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	mustApply(t, e, &config.Config{Routes: []config.Route{
		{Name: "a", Path: "/a/*", Servers: []string{"s1", "s2"}},
		{Name: "b", Path: "/b/*", Servers: []string{"s3"}},
	}})
	cookies := func(kv ...string) *httpmsg.Headers {
		h := &httpmsg.Headers{CookieSet: true}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Cookies = append(h.Cookies, httpmsg.Field{Name: kv[i], Value: kv[i+1]})
		}
		return h
	}
	check := func(name string, req Request, server string, sticky Sticky, setCookie string) {
		t.Helper()
		d := decide(e, req)
		got := ""
		if d.SetCookie {
			got = d.CookieName + "=" + d.SessionID + "; " + d.ServerCookieName + "=" + d.ServerCookieValue
		}
		if d.Status != 200 || d.Server != server || d.Sticky != sticky || got != setCookie {
			t.Errorf("%s: %d %s %v %q, want %s %v %q", name, d.Status, d.Server, d.Sticky, got, server, sticky, setCookie)
		}
	}
	// Step 7: no cookies at all, mode auto.
	check("none", Request{Target: "/a/x"}, "s1", StickyNone, "")
	// Step 6: cookies, but no session id.
	check("issued", Request{Target: "/a/x", Headers: cookies()}, "s2", StickyIssued, "session_id=lb-1; backend=s2")
	// Step 1: the pin holds, and the counter does not move.
	check("hit", Request{Target: "/a/x", Headers: cookies("session_id", "lb-1")}, "s2", StickyHit, "")
	check("counter", Request{Target: "/a/x"}, "s1", StickyNone, "")
	// Step 5: an unknown session is pinned to the chosen server.
	check("new-pin", Request{Target: "/a/x", SessionID: "u1"}, "s2", StickyNewPin, "")
	check("new-pin hit", Request{Target: "/a/x", SessionID: "u1"}, "s2", StickyHit, "")
	// Step 2: a hint naming an up server of the pool; the session moves.
	check("hint", Request{Target: "/a/x", SessionID: "u1", Headers: cookies("backend", "s1")}, "s2", StickyHit, "")
	check("hint unknown session", Request{Target: "/a/x", SessionID: "u2", Headers: cookies("backend", "s1")}, "s1", StickyHint, "")
	check("hint pinned", Request{Target: "/a/x", SessionID: "u2"}, "s1", StickyHit, "")
	check("hint ignored for another pool", Request{Target: "/a/x", Headers: cookies("backend", "s3", "session_id", "u3")}, "s1", StickyNewPin, "")
	// Step 4: pinned server up but not in this pool: the pin stays.
	check("other-pool", Request{Target: "/b/x", SessionID: "u1"}, "s3", StickyOtherPool, "")
	check("other-pool kept pin", Request{Target: "/a/x", SessionID: "u1"}, "s2", StickyHit, "")
	// Step 3: pinned server down: choose again and re-pin.
	e.SetDown("s2", true)
	check("repinned", Request{Target: "/a/x", SessionID: "u1"}, "s1", StickyRepinned, "session_id=u1; backend=s1")
	e.SetDown("s2", false)
	check("repinned stays", Request{Target: "/a/x", SessionID: "u1"}, "s1", StickyHit, "")
}

func TestStickyModes(t *testing.T) {
	off, on := false, true
	e := newEngine(t, "s1", "s2")
	mustApply(t, e, &config.Config{
		Routes: []config.Route{
			{Name: "plain", Path: "/plain/*", Servers: []string{"s1", "s2"}, Sticky: &off},
			{Name: "sticky", Path: "/sticky/*", Servers: []string{"s1", "s2"}, Sticky: &on},
		},
		Sticky: config.Sticky{Cookie: "sid", ServerCookie: "srv", Mode: config.ModeAlways, MaxSessions: 10},
	})
	if d := decide(e, Request{Target: "/plain/x", SessionID: "u1"}); d.Sticky != StickyNone {
		t.Errorf("sticky false: %v", d.Sticky)
	}
	if d := decide(e, Request{Target: "/x"}); d.Sticky != StickyIssued || d.SessionID != "lb-1" || d.CookieName != "sid" || d.ServerCookieName != "srv" {
		t.Errorf("always: %+v", d)
	}
	mustApply(t, e, &config.Config{
		Routes: []config.Route{{Name: "sticky", Path: "/sticky/*", Servers: []string{"s1", "s2"}, Sticky: &on}},
		Sticky: config.Sticky{Cookie: "sid", ServerCookie: "srv", Mode: config.ModeOff, MaxSessions: 10},
	})
	if d := decide(e, Request{Target: "/x", SessionID: "u9"}); d.Sticky != StickyNone {
		t.Errorf("mode off: %v", d.Sticky)
	}
	if d := decide(e, Request{Target: "/sticky/x", Headers: &httpmsg.Headers{CookieSet: true}}); d.Sticky != StickyIssued || d.SessionID != "lb-2" {
		t.Errorf("route sticky true under off runs auto: %+v", d)
	}
}

func TestMaxSessionsEvictsLeastRecentlyUsed(t *testing.T) {
	e := newEngine(t, "s1", "s2")
	mustApply(t, e, &config.Config{Sticky: config.Sticky{Cookie: "sid", ServerCookie: "srv", Mode: config.ModeAuto, MaxSessions: 2}})
	decide(e, Request{Target: "/", SessionID: "a"}) // s1
	decide(e, Request{Target: "/", SessionID: "b"}) // s2
	decide(e, Request{Target: "/", SessionID: "a"}) // hit: a is now the most recent
	decide(e, Request{Target: "/", SessionID: "c"}) // s1; evicts b
	if d := decide(e, Request{Target: "/", SessionID: "a"}); d.Sticky != StickyHit {
		t.Errorf("a evicted: %v", d.Sticky)
	}
	if d := decide(e, Request{Target: "/", SessionID: "b"}); d.Sticky != StickyNewPin {
		t.Errorf("b kept: %v", d.Sticky)
	}
	if n := e.Stats().Sessions; n != 2 {
		t.Errorf("sessions %d, want 2", n)
	}
}

func TestExplainChangesNothing(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	req := Request{Target: "/x", Headers: &httpmsg.Headers{CookieSet: true}}
	for range 3 {
		d := explain(e, req)
		if d.Server != "s1" || d.Sticky != StickyIssued || d.SessionID != "lb-1" || d.Route != DefaultRoute {
			t.Fatalf("explain: %+v", d)
		}
	}
	if s := e.Stats(); s.Sessions != 0 || len(s.Statuses) != 0 || s.Routed["s1"] != 0 {
		t.Errorf("explain counted: %+v", s)
	}
	if d := decide(e, req); d.Server != "s1" || d.SessionID != "lb-1" {
		t.Errorf("after explain: %+v", d)
	}
	s := e.Stats()
	if s.Sessions != 1 || s.Statuses[200] != 1 || s.Routed["s1"] != 1 || len(s.Routed) != 3 {
		t.Errorf("stats: %+v", s)
	}
}

func TestRejectedChangeLeavesConfig(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	before, _ := e.Config()
	bad := []*config.Config{
		{Routes: []config.Route{{Name: "x", Path: "/x", Servers: []string{"s9"}, Balance: config.RoundRobin}}, Sticky: config.DefaultSticky()},
		{Routes: []config.Route{{Name: "x", Path: "x", Servers: []string{"s1"}, Balance: config.RoundRobin}}, Sticky: config.DefaultSticky()},
		{DefaultServers: []string{"s1", "nope"}, Sticky: config.DefaultSticky()},
	}
	wantErr := []string{
		"routes[0].servers[0]: unknown server s9",
		"routes[0].path: ",
		"default_servers[1]: unknown server nope",
	}
	for i, cfg := range bad {
		err := e.Apply(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), wantErr[i]) {
			t.Errorf("config %d: error %v, want %q", i, err, wantErr[i])
		}
	}
	if _, err := e.AddRoute(&config.Route{Path: "/y", Servers: []string{"s4"}, Balance: config.RoundRobin}); err == nil || err.Error() != "servers[0]: unknown server s4" {
		t.Errorf("add_route error %v", err)
	}
	if after, _ := e.Config(); after != before {
		t.Errorf("a rejected change replaced the configuration")
	}
	if d := decide(e, Request{Target: "/api/x"}); d.Route != "api" {
		t.Errorf("built-in routes gone: %+v", d)
	}
}

func TestAddRemoveRoute(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	name, err := e.AddRoute(&config.Route{Path: "/y/*", Servers: []string{"s3"}, Balance: config.RoundRobin})
	if err != nil || name != "route-1" {
		t.Fatalf("AddRoute: %q %v", name, err)
	}
	if d := decide(e, Request{Target: "/api/x"}); d.Route != DefaultRoute {
		t.Errorf("built-in routes survive the first explicit one: %s", d.Route)
	}
	if name, _ := e.AddRoute(&config.Route{Name: "route-1", Path: "/z/*", Servers: []string{"s2"}, Balance: config.RoundRobin}); name != "route-1" {
		t.Errorf("replace: %s", name)
	}
	if d := decide(e, Request{Target: "/z/1"}); d.Route != "route-1" || d.Server != "s2" {
		t.Errorf("replaced route: %+v", d)
	}
	if err := e.RemoveRoute("route-1"); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveRoute("route-1"); err == nil || err.Error() != "no route named route-1" {
		t.Errorf("remove twice: %v", err)
	}
}

func TestInitKeepsState(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	decide(e, Request{Target: "/api/x"}) // api counter → s2
	decide(e, Request{Target: "/x", SessionID: "u"})
	e.SetDown("s3", true)
	e.Init("lb2", []string{"s1", "s2", "s3"})
	if d := decide(e, Request{Target: "/api/x"}); d.Server != "s2" {
		t.Errorf("api pool counter lost: %s", d.Server)
	}
	if d := decide(e, Request{Target: "/x", SessionID: "u"}); d.Sticky != StickyHit {
		t.Errorf("session lost: %v", d.Sticky)
	}
	if d := decide(e, Request{Target: "/web/x"}); d.Status != 503 {
		t.Errorf("down mark lost: %+v", d)
	}
	if e.NodeID() != "lb2" {
		t.Errorf("node id %q", e.NodeID())
	}
}

// TestInitRepeatedServers checks that a server listed twice is one
// server: before, Init panicked in reportPhantoms when a configuration file
// repeated a server id.
func TestInitRepeatedServers(t *testing.T) {
	if got := newEngine(t, "s1", "s1").Servers(); strings.Join(got, ",") != "s1" {
		t.Errorf("servers %q, want s1", got)
	}
	var warned []string
	e := New(func(m string) { warned = append(warned, m) })
	mustLoad := &config.Config{Routes: []config.Route{{Name: "r", Path: "/r/*", Servers: []string{"s1", "ghost"}, Balance: config.RoundRobin}}, Sticky: config.DefaultSticky()}
	if err := e.Load(mustLoad); err != nil {
		t.Fatal(err)
	}
	e.Init("lb", []string{"s1", "s2", "s1"})
	if got := e.Servers(); strings.Join(got, ",") != "s1,s2" {
		t.Errorf("servers %q, want s1,s2", got)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "ghost") {
		t.Errorf("warnings %q, want one about ghost", warned)
	}
	if got := servers(e, 4, Request{Target: "/x"}); got != "s1,s2,s1,s2" {
		t.Errorf("default servers chose %s", got)
	}
	if s := e.Stats(); len(s.Routed) != 2 {
		t.Errorf("stats routed %v, want two servers", s.Routed)
	}
}

func TestLoadBeforeInitTreatsUnknownAsDown(t *testing.T) {
	var warned []string
	e := New(func(m string) { warned = append(warned, m) })
	cfg := &config.Config{Routes: []config.Route{{Name: "r", Path: "/r/*", Servers: []string{"s1", "ghost"}, Balance: config.RoundRobin}}, Sticky: config.DefaultSticky()}
	if err := e.Load(cfg); err != nil {
		t.Fatal(err)
	}
	e.Init("lb", []string{"s1", "s2"})
	if len(warned) != 1 || !strings.Contains(warned[0], "ghost") {
		t.Errorf("warnings %q", warned)
	}
	if got := servers(e, 3, Request{Target: "/r/x"}); got != "s1,s1,s1" {
		t.Errorf("ghost server chosen: %s", got)
	}
}

func TestRewriteAndHost(t *testing.T) {
	e := newEngine(t, "s1", "s2")
	mustApply(t, e, &config.Config{Routes: []config.Route{
		{Name: "shop", Hosts: []string{"shop.example.com"}, Path: "/api/*", Servers: []string{"s2"},
			Rewrite: &config.Rewrite{StripPrefix: ptr("/api")}},
	}})
	tests := []struct {
		req       Request
		route     string
		rewritten string
	}{
		{Request{Target: "/api/users?a=1&b=2", Host: "Shop.Example.COM.:8080"}, "shop", "/users?a=1&b=2"},
		{Request{Target: "http://shop.example.com/web/../api//x"}, "shop", "/x"},
		{Request{Target: "/api/users", Host: "other.example.com"}, DefaultRoute, ""},
	}
	for _, tt := range tests {
		d := decide(e, tt.req)
		if d.Route != tt.route || string(d.Rewritten) != tt.rewritten || d.HasRewrite != (tt.rewritten != "") {
			t.Errorf("%q: route %q rewritten %q, want %q %q", tt.req.Target, d.Route, d.Rewritten, tt.route, tt.rewritten)
		}
	}
}

// TestRewriteRulesOfOneCompile checks the rules routes share when they
// rewrite alike: the same arguments under another rule, or other
// arguments under the same rule, are rules of their own.
func TestRewriteRulesOfOneCompile(t *testing.T) {
	e := newEngine(t, "s1")
	rw := func(r config.Rewrite) *config.Rewrite { return &r }
	mustApply(t, e, &config.Config{Routes: []config.Route{
		{Name: "strip-a", Path: "/1/*", Servers: []string{"s1"}, Rewrite: rw(config.Rewrite{StripPrefix: ptr("/1")})},
		{Name: "path-a", Path: "/2/*", Servers: []string{"s1"}, Rewrite: rw(config.Rewrite{ReplacePath: ptr("/1")})},
		{Name: "strip-a-again", Path: "/1/x/*", Servers: []string{"s1"}, Rewrite: rw(config.Rewrite{StripPrefix: ptr("/1")})},
		{Name: "strip-b", Path: "/3/*", Servers: []string{"s1"}, Rewrite: rw(config.Rewrite{StripPrefix: ptr("/3")})},
		{Name: "prefix", Path: "/4/*", Servers: []string{"s1"}, Rewrite: rw(config.Rewrite{ReplacePrefix: &config.PrefixPair{From: "/4", To: "/1"}})},
		{Name: "prefix-to", Path: "/4/z/*", Servers: []string{"s1"}, Rewrite: rw(config.Rewrite{ReplacePrefix: &config.PrefixPair{From: "/4", To: "/2"}})},
	}})
	for _, tt := range []struct{ target, route, rewritten string }{
		{"/1/y", "strip-a", "/y"},
		{"/2/y", "path-a", "/1"},
		{"/1/x/y", "strip-a-again", "/x/y"},
		{"/3/y", "strip-b", "/y"},
		{"/4/y", "prefix", "/1/y"},
		{"/4/z/y", "prefix-to", "/2/z/y"},
	} {
		if d := decide(e, Request{Target: tt.target}); d.Route != tt.route || string(d.Rewritten) != tt.rewritten {
			t.Errorf("%s: route %q rewritten %q, want %q %q", tt.target, d.Route, d.Rewritten, tt.route, tt.rewritten)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkRoute measures one decision on a mixed configuration: hosts,
// prefixes, a rewrite and a sticky hit.
func BenchmarkRoute(b *testing.B) {
	e := New(nil)
	e.Init("lb", []string{"s1", "s2", "s3", "s4"})
	cfg := &config.Config{Sticky: config.DefaultSticky(), Routes: []config.Route{
		{Name: "shop", Hosts: []string{"shop.example.com"}, Path: "/*", Servers: []string{"s1", "s2"}, Balance: config.RoundRobin},
		{Name: "wild", Hosts: []string{"*.example.com"}, Path: "/*", Servers: []string{"s3"}, Balance: config.RoundRobin},
		{Name: "api", Path: "/api/*", Servers: []string{"s1", "s2"}, Balance: config.RoundRobin, Rewrite: &config.Rewrite{StripPrefix: ptr("/api")}},
		{Name: "static", Path: "/static/", Servers: []string{"s4"}, Balance: config.RoundRobin},
	}}
	if err := e.Apply(cfg); err != nil {
		b.Fatal(err)
	}
	reqs := []Request{
		{Method: "GET", Target: "/api/users?id=7"},
		{Method: "GET", Target: "/", Host: "shop.example.com"},
		{Method: "GET", Target: "/static/app.js"},
		{Method: "GET", Target: "/cart", SessionID: "user-42"},
	}
	var d Decision
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Route(&reqs[i%len(reqs)], &d)
	}
}

// TestIndexes: decisions name their route and server by the indexes of
// Names, the default route last; none is -1.
func TestIndexes(t *testing.T) {
	e := newEngine(t, "s1", "s2", "s3")
	off := config.DefaultSticky()
	off.Mode = config.ModeOff
	mustApply(t, e, &config.Config{Sticky: off, Routes: []config.Route{
		{Name: "b", Path: "/b/*", Servers: []string{"s3"}, Balance: config.RoundRobin},
		{Name: "a", Path: "/a/*", Servers: []string{"s2"}, Balance: config.RoundRobin},
		{Name: "none", Path: "/none/*", Servers: []string{"s1"}, Balance: config.RoundRobin},
	}, DefaultServers: []string{"s1"}})
	routes, servers := e.Names()
	if strings.Join(routes, ",") != "b,a,none,default" || strings.Join(servers, ",") != "s1,s2,s3" {
		t.Fatalf("Names: %v %v", routes, servers)
	}
	e.SetDown("s1", true)
	for _, tt := range []struct {
		target        string
		route, server int
	}{
		{"/a/x", 1, 1},
		{"/b/x", 0, 2},
		{"/other", 3, -1}, // the default route, its server down: 503
		{"/none/x", 2, -1},
		{"bad", -1, -1},
	} {
		d := decide(e, Request{Method: "GET", Target: tt.target})
		if d.RouteIndex() != tt.route || d.ServerIndex() != tt.server {
			t.Errorf("%s: route %d server %d, want %d %d (%d %s)", tt.target, d.RouteIndex(), d.ServerIndex(), tt.route, tt.server, d.Status, d.Error)
		}
	}
	mustApply(t, e, &config.Config{Sticky: off, DefaultServers: []string{}})
	if routes, _ := e.Names(); len(routes) != 0 {
		t.Errorf("no routes and no default servers: Names %v", routes)
	}
	if d := decide(e, Request{Method: "GET", Target: "/x"}); d.Status != 404 || d.RouteIndex() != -1 {
		t.Errorf("404: route %d", d.RouteIndex())
	}
}

// BenchmarkRouteScale decides requests spread over all the routes of issue
// 13's generated configurations (tools/routeset), as l7lb serve's measured
// engine does (Route then Done): with 100,000 routes each decision starts
// with cold caches, as real traffic spread over that many routes does.
func BenchmarkRouteScale(b *testing.B) {
	for _, n := range []int{4, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			rs := routeset.Generate(n, min(10, n/100))
			f, _, err := config.Read("routes.json", rs.AppendJSON(nil, true), true)
			if err != nil {
				b.Fatal(err)
			}
			ids := make([]string, len(f.Servers))
			for i, s := range f.Servers {
				ids[i] = s.ID
			}
			e := New(nil)
			e.Measure()
			if _, err := e.Replace(Update{NodeID: "lb", Servers: ids, Config: &f.Config}); err != nil {
				b.Fatal(err)
			}
			gen := rs.Requests(1 << 16)
			reqs := make([]Request, len(gen))
			for i, q := range gen {
				reqs[i] = Request{Method: "GET", Target: q.Target, Host: q.Host}
			}
			names, _ := e.Names()
			var d Decision
			for i := range reqs {
				e.Route(&reqs[i], &d)
				if d.Status != 200 || names[d.RouteIndex()] != routeset.Name(gen[i].Route) {
					b.Fatalf("request %+v: status %d, route %q", gen[i], d.Status, d.Route)
				}
				e.Done(&d)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				e.Route(&reqs[i%len(reqs)], &d)
				e.Done(&d)
			}
		})
	}
}
