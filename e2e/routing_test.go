package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// routingRoutes are the routes of TestRouting, one YAML list item each, so
// that the test can declare them in several orders.
var routingRoutes = []string{
	"  - {name: api, path: /api/*, servers: [s1]}\n",
	"  - {name: api-v, path: /api/v*, servers: [s2]}\n",
	"  - {name: api-login, path: /api/login, servers: [s3]}\n",
	"  - {name: api-num, path: '~^/api/[0-9]+$', servers: [s4]}\n",
	"  - {name: num, path: '~^/n/[0-9]+$', servers: [s4]}\n",
	"  - {name: wild, host: '*.example.com', servers: [s5]}\n",
	"  - {name: eu, host: '*.eu.example.com', servers: [s6]}\n",
	"  - {name: shop, host: shop.example.com, servers: [s7]}\n",
	"  - {name: api-post, path: /api/*, methods: [POST], servers: [s8]}\n",
	"  - {name: canary, path: /api/*, headers: {X-Canary: '1'}, servers: [s8]}\n",
}

// routingCases hold for every declaration order of routingRoutes: the
// precedence rules (host, then path specificity, then conditions) decide,
// never the position, since no two of these routes are equally specific.
var routingCases = []struct {
	name, method, host, target string
	header                     [2]string
	want                       string // backend id, or "404"
}{
	{name: "exact host", host: "shop.example.com", target: "/x", want: "s7"},
	{name: "exact host: case and port ignored", host: "SHOP.Example.COM:8080", target: "/x", want: "s7"},
	{name: "wildcard host", host: "a.example.com", target: "/x", want: "s5"},
	{name: "wildcard host, several labels", host: "a.b.example.com", target: "/x", want: "s5"},
	{name: "longer wildcard suffix wins", host: "x.eu.example.com", target: "/x", want: "s6"},
	{name: "wildcard never matches the bare domain", host: "example.com", target: "/x", want: "404"},
	{name: "host beats exact path", host: "shop.example.com", target: "/api/login", want: "s7"},
	{name: "exact path", host: "other.org", target: "/api/login", want: "s3"},
	{name: "longer literal prefix", host: "other.org", target: "/api/v2/users", want: "s2"},
	{name: "prefix beats regex", host: "other.org", target: "/api/123", want: "s1"},
	{name: "regex", host: "other.org", target: "/n/42", want: "s4"},
	{name: "regex must match whole path", host: "other.org", target: "/n/42x", want: "404"},
	{name: "segment prefix matches its root", host: "other.org", target: "/api", want: "s1"},
	{name: "segment prefix never matches apiary", host: "other.org", target: "/apiary", want: "404"},
	{name: "more conditions win: method", method: "POST", host: "other.org", target: "/api/x", want: "s8"},
	{name: "more conditions win: header", host: "other.org", target: "/api/x", header: [2]string{"X-Canary", "1"}, want: "s8"},
	{name: "header value must be exact", host: "other.org", target: "/api/x", header: [2]string{"X-Canary", "2"}, want: "s1"},
	{name: "plain GET", host: "other.org", target: "/api/x?q=1", want: "s1"},
	{name: "matching sees the normalized path", host: "other.org", target: "/web/../api/login", want: "s3"},
}

// TestRouting checks host and path routing and the precedence rules, with
// the routes declared in three orders: the results must not change.
func TestRouting(t *testing.T) {
	bs := newBackends(t, 8)
	orders := map[string][]int{
		"declared": {0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		"reversed": {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		"shuffled": {6, 2, 9, 0, 4, 8, 1, 7, 3, 5},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			var cfg strings.Builder
			cfg.WriteString("default_servers: []\nroutes:\n")
			for _, i := range order {
				cfg.WriteString(routingRoutes[i])
			}
			p := startServe(t, bs, cfg.String())
			c := newClient(t, false)
			for _, tc := range routingCases {
				method := tc.method
				if method == "" {
					method = "GET"
				}
				req := request(t, method, p.Addr, tc.host, tc.target, nil)
				if tc.header[0] != "" {
					req.Header.Set(tc.header[0], tc.header[1])
				}
				r := do(t, c, req)
				got := r.Backend
				if r.Status != 200 {
					got = strconv.Itoa(r.Status)
				}
				if got != tc.want {
					t.Errorf("%s: %s %s (Host %s): reached %q (status %d), want %q", tc.name, method, tc.target, tc.host, got, r.Status, tc.want)
				}
			}
		})
	}
}

// TestRewrite checks every rewrite kind end to end: the backend receives
// the rewritten path with the query exactly as the client sent it, and
// percent-encoding the client chose (%2F) survives.
func TestRewrite(t *testing.T) {
	bs := newBackends(t, 2)
	p := startServe(t, bs, `
default_servers: [s2]
routes:
  - {name: strip, path: /strip/*, servers: [s1], rewrite: {strip_prefix: /strip}}
  - {name: repl, path: /old/*, servers: [s1], rewrite: {replace_prefix: {from: /old, to: /new/v2}}}
  - name: rx
    path: /u/*
    servers: [s1]
    rewrite:
      regex: {pattern: '^/u/(\d+)/(?P<tab>[a-z]+)$', replacement: '/users/$1/${tab}'}
  - {name: fixed, path: /fixed/*, servers: [s1], rewrite: {replace_path: /health}}
  - {name: plain, path: /plain/*, servers: [s1]}
`)
	c := newClient(t, false)
	for _, tc := range []struct{ target, backend, path string }{
		{"/strip/a/b?x=1&y=%2f&z=/a/b?c", "s1", "/a/b?x=1&y=%2f&z=/a/b?c"},
		{"/strip", "s1", "/"},
		{"/strip/?", "s1", "/?"},
		{"/strip/a%2Fb/c?q=a%20b+c", "s1", "/a%2Fb/c?q=a%20b+c"},
		{"/stripx/y?k", "s2", "/stripx/y?k"},
		{"/old/x%2Fy?k=v&k=w", "s1", "/new/v2/x%2Fy?k=v&k=w"},
		{"/old", "s1", "/new/v2"},
		{"/u/42/posts?p=2&p=3", "s1", "/users/42/posts?p=2&p=3"},
		{"/u/abc/posts", "s1", "/u/abc/posts"},
		{"/fixed/anything/at/all?keep=%41&x", "s1", "/health?keep=%41&x"},
		{"/plain/a%2Fb?b=%2f&&c=", "s1", "/plain/a%2Fb?b=%2f&&c="},
	} {
		r := get(t, c, p.Addr, "rw.example.com", tc.target)
		if r.Status != 200 || r.Backend != tc.backend || r.Path != tc.path {
			t.Errorf("GET %s: got status %d, backend %q, path %q; want 200, %q, %q", tc.target, r.Status, r.Backend, r.Path, tc.backend, tc.path)
		}
	}
}

// TestForwardedHeaders checks what the proxy adds and removes on the way
// to a server: hop-by-hop headers go, X-Forwarded-*, Forwarded and
// X-Request-Id come, Host stays unless the route rewrites it.
func TestForwardedHeaders(t *testing.T) {
	bs := newBackends(t, 2)
	p := startServe(t, bs, `
routes:
  - {name: keep, path: /keep/*, servers: [s1]}
  - {name: rw, path: /rw/*, servers: [s2], host_rewrite: internal.example}
`)
	// A raw request: net/http would manage Connection and friends itself.
	head := "GET /keep/x?a=1 HTTP/1.1\r\n" +
		"Host: app.example.com\r\n" +
		"Connection: X-Hop\r\n" +
		"X-Hop: secret\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
		"X-Forwarded-For: 203.0.113.7\r\n" +
		"X-End: kept\r\n\r\n"
	resp, _, err := rawExchange(p.Addr, head, "GET")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	got, ok := bs[0].last()
	if !ok {
		t.Fatal("s1 received nothing")
	}
	for _, h := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if v := got.Header.Values(h); len(v) > 0 {
			t.Errorf("hop-by-hop header %s reached the server: %q", h, v)
		}
	}
	if c := got.Header.Get("Connection"); strings.Contains(strings.ToLower(c), "x-hop") {
		t.Errorf("Connection reached the server naming the client's hop headers: %q", c)
	}
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("Host", got.Host, "app.example.com")
	check("X-End", got.Header.Get("X-End"), "kept")
	// The client is no trusted proxy: its X-Forwarded-For is replaced.
	check("X-Forwarded-For", strings.Join(got.Header.Values("X-Forwarded-For"), ", "), "127.0.0.1")
	check("X-Real-IP", got.Header.Get("X-Real-IP"), "127.0.0.1")
	check("Via", got.Header.Get("Via"), "1.1 l7lb")
	check("X-Forwarded-Host", got.Header.Get("X-Forwarded-Host"), "app.example.com")
	check("X-Forwarded-Proto", got.Header.Get("X-Forwarded-Proto"), "http")
	fwd := strings.ToLower(strings.Join(got.Header.Values("Forwarded"), ", "))
	for _, part := range []string{"for=", "127.0.0.1", "proto=http", "host=", "app.example.com"} {
		if !strings.Contains(fwd, part) {
			t.Errorf("Forwarded = %q, lacks %q", fwd, part)
		}
	}
	if got.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id added")
	}

	// A client's own X-Request-Id is kept; host_rewrite replaces Host.
	c := newClient(t, false)
	req := request(t, "GET", p.Addr, "app.example.com", "/rw/y", nil)
	req.Header.Set("X-Request-Id", "req-42")
	if r := do(t, c, req); r.Status != 200 || r.Backend != "s2" {
		t.Fatalf("GET /rw/y: status %d backend %q", r.Status, r.Backend)
	}
	got, _ = bs[1].last()
	check("Host with host_rewrite", got.Host, "internal.example")
	check("client X-Request-Id", got.Header.Get("X-Request-Id"), "req-42")

	// A trusted proxy's X-Forwarded-For is appended to; via: false
	// leaves Via out.
	bs = newBackends(t, 1)
	p = startServe(t, bs, "trusted_proxies: [127.0.0.0/8]\nvia: false\n")
	if resp, _, err := rawExchange(p.Addr, head, "GET"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("trusted: %v %v", resp, err)
	}
	got, _ = bs[0].last()
	check("trusted X-Forwarded-For", strings.Join(got.Header.Values("X-Forwarded-For"), ", "), "203.0.113.7, 127.0.0.1")
	check("Via with via: false", got.Header.Get("Via"), "")
}

// TestNoRoute404 checks that a request no route matches gets 404 with a
// short plain-text body when default_servers is empty.
func TestNoRoute404(t *testing.T) {
	bs := newBackends(t, 1)
	p := startServe(t, bs, "default_servers: []\nroutes:\n  - {name: a, path: /a/*, servers: [s1]}\n")
	c := newClient(t, false)
	r := get(t, c, p.Addr, "x.example.com", "/b")
	if r.Status != 404 {
		t.Fatalf("status %d, want 404", r.Status)
	}
	checkErrorBody(t, r)
	if bs[0].count() != 0 {
		t.Error("s1 received the unrouted request")
	}
	if r := get(t, c, p.Addr, "x.example.com", "/a/1"); r.Status != 200 || r.Backend != "s1" {
		t.Errorf("GET /a/1: status %d backend %q, want 200 s1", r.Status, r.Backend)
	}
}

// checkErrorBody checks that an error the proxy made itself has a short
// plain-text body.
func checkErrorBody(t *testing.T, r reply) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%d: Content-Type %q, want text/plain", r.Status, ct)
	}
	if n := len(r.Body); n == 0 || n > 200 {
		t.Errorf("%d: body %q, want a short text", r.Status, r.Body)
	}
	if r.Backend != "" {
		t.Errorf("%d came from backend %s, want the proxy's own answer", r.Status, r.Backend)
	}
}
