package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// insertCookie is the shape of the cookie insert mode sets by default:
// base64url(server id) "." base64url(MAC), then the fixed attributes.
var insertCookie = regexp.MustCompile(`^l7lb=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+); Path=/; HttpOnly; SameSite=Lax$`)

const stickyRoutes = `
routes:
  - {name: app, path: /*, servers: [s1, s2, s3]}
`

// TestStickyInsert checks insert mode, the serve default: a client with a
// cookie jar stays on one server for 100 requests, the cookie has the
// documented shape and leaks no address, and a forged cookie is replaced.
func TestStickyInsert(t *testing.T) {
	bs := newBackends(t, 3)
	p := startServe(t, bs, "sticky: {secret: e2e-secret}\n"+stickyRoutes)

	t.Run("without cookies round robin spreads", func(t *testing.T) {
		c := newClient(t, false)
		seen := map[string]bool{}
		for i := 0; i < 6; i++ {
			r := get(t, c, p.Addr, "app.example.com", "/x")
			if r.Status != 200 {
				t.Fatalf("status %d", r.Status)
			}
			seen[r.Backend] = true
			sc := r.Header.Values("Set-Cookie")
			if len(sc) != 1 || !insertCookie.MatchString(sc[0]) {
				t.Errorf("Set-Cookie %q, want one matching %s", sc, insertCookie)
			}
		}
		if len(seen) != 3 {
			t.Errorf("6 cookieless requests reached %v, want all three servers", seen)
		}
	})

	t.Run("100 requests with a cookie jar reach one server", func(t *testing.T) {
		c := newClient(t, true)
		var first string
		for i := 0; i < 100; i++ {
			r := get(t, c, p.Addr, "app.example.com", "/page/"+strings.Repeat("x", i%7))
			if r.Status != 200 {
				t.Fatalf("request %d: status %d", i, r.Status)
			}
			sc := r.Header.Values("Set-Cookie")
			if i == 0 {
				first = r.Backend
				if len(sc) != 1 || !insertCookie.MatchString(sc[0]) {
					t.Fatalf("first Set-Cookie %q, want one matching %s", sc, insertCookie)
				}
				for _, b := range bs {
					hostport := strings.TrimPrefix(b.URL, "http://")
					_, port, _ := strings.Cut(hostport, ":")
					if strings.Contains(sc[0], "127.0.0.1") || strings.Contains(sc[0], port) {
						t.Errorf("cookie %q reveals a server address (%s)", sc[0], hostport)
					}
				}
				continue
			}
			if r.Backend != first {
				t.Fatalf("request %d reached %s, want %s like the first", i, r.Backend, first)
			}
			if len(sc) != 0 {
				t.Errorf("request %d: Set-Cookie %q on a sticky hit, want none", i, sc)
			}
		}
	})

	t.Run("a forged cookie is replaced", func(t *testing.T) {
		c := newClient(t, false)
		// "czE" is base64url("s1"); the MAC is made up.
		forged := "czE.AAAAAAAAAAAAAAAAAAAAAA"
		req := request(t, "GET", p.Addr, "app.example.com", "/x", nil)
		req.Header.Set("Cookie", "l7lb="+forged)
		r := do(t, c, req)
		sc := r.Header.Get("Set-Cookie")
		m := insertCookie.FindStringSubmatch(sc)
		if r.Status != 200 || m == nil || m[1] == forged {
			t.Errorf("forged cookie: status %d, Set-Cookie %q; want 200 and a new valid cookie", r.Status, sc)
		}
		// The access log is written in batches, hence the wait.
		if !waitFor(3*time.Second, func() bool { return strings.Contains(p.stdout.String(), "sticky=invalid") }) {
			t.Errorf("the access log has no sticky=invalid line:\n%s", p.stdout)
		}
	})
}

// TestStickyCookieAttributes checks Secure and Max-Age when configured.
func TestStickyCookieAttributes(t *testing.T) {
	bs := newBackends(t, 2)
	p := startServe(t, bs, "sticky: {secret: s, secure: true, max_age: 1h}\nroutes:\n  - {name: app, servers: [s1, s2]}\n")
	r := get(t, newClient(t, false), p.Addr, "", "/")
	sc := r.Header.Get("Set-Cookie")
	for _, part := range []string{"l7lb=", "; Path=/", "; HttpOnly", "; SameSite=Lax", "; Secure", "; Max-Age=3600"} {
		if !strings.Contains(sc, part) {
			t.Errorf("Set-Cookie %q lacks %q", sc, part)
		}
	}
}

// TestStickyTableMode checks the node's session-table mode on real
// cookies: mode always issues session_id and backend cookies, and a
// client that sends them back stays on its server.
func TestStickyTableMode(t *testing.T) {
	bs := newBackends(t, 3)
	p := startServe(t, bs, "sticky: {mode: always}\n"+stickyRoutes)
	c := newClient(t, true)
	var first string
	for i := 0; i < 30; i++ {
		r := get(t, c, p.Addr, "", "/t")
		if r.Status != 200 {
			t.Fatalf("request %d: status %d", i, r.Status)
		}
		if i == 0 {
			first = r.Backend
			names := map[string]string{}
			for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
				names[ck.Name] = ck.Value
			}
			if names["session_id"] == "" || names["backend"] != first {
				t.Fatalf("first response sets cookies %v, want session_id and backend=%s", names, first)
			}
		} else if r.Backend != first {
			t.Fatalf("request %d reached %s, want %s", i, r.Backend, first)
		}
	}
}

// TestStickyFailover kills the server a sticky client is pinned to while
// the client loops over idempotent GETs: no request fails (the proxy
// retries on another server) and the session moves, with a new cookie, to
// one other server.
func TestStickyFailover(t *testing.T) {
	bs := newBackends(t, 3)
	p := startServe(t, bs, `
sticky: {secret: failover}
timeouts: {connect: 1s, response_header: 5s}
health: {fails: 2, cooldown: 1m}
`+stickyRoutes)
	c := newClient(t, true)
	// Go keys the jar by the Host the request carries.
	u, _ := url.Parse("http://app.example.com/")
	cookie := func() string {
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == "l7lb" {
				return ck.Value
			}
		}
		return ""
	}

	const total, killAt = 300, 100
	var killed atomic.Bool
	killDone := make(chan struct{})
	var pinned, oldCookie string
	var after []string // backends reached once the kill completed
	for i := 0; i < total; i++ {
		if i == killAt {
			oldCookie = cookie()
			victim := backendByID(bs, pinned)
			// Close in the background: the client keeps going while the
			// server goes away, as in a real crash.
			go func() {
				victim.Close()
				killed.Store(true)
				close(killDone)
			}()
		}
		done := killed.Load()
		r := get(t, c, p.Addr, "app.example.com", "/loop")
		if r.Status != 200 {
			t.Fatalf("request %d: status %d (body %q), want 200: a failed connection must be retried", i, r.Status, r.Body)
		}
		switch {
		case i == 0:
			pinned = r.Backend
		case i < killAt:
			if r.Backend != pinned {
				t.Fatalf("request %d reached %s before the kill, want %s", i, r.Backend, pinned)
			}
		case done:
			after = append(after, r.Backend)
		}
	}
	<-killDone
	if len(after) == 0 {
		t.Fatal("the backend took the whole loop to close")
	}
	moved := after[0]
	if moved == pinned {
		t.Fatalf("after %s was killed a request still reached it", pinned)
	}
	for i, b := range after {
		if b != moved {
			t.Fatalf("after the kill request %d reached %s, want %s: the session must move once and stay", i, b, moved)
		}
	}
	if nc := cookie(); nc == "" || nc == oldCookie {
		t.Errorf("cookie after failover %q, before %q: want a new cookie", nc, oldCookie)
	}
	// The access log records each sticky outcome. It is written in
	// batches, hence the wait.
	for _, outcome := range []string{"sticky=issued", "sticky=hit", "sticky=repinned"} {
		if !waitFor(3*time.Second, func() bool { return strings.Contains(p.stdout.String(), outcome) }) {
			t.Errorf("the access log has no %s line", outcome)
		}
	}
	t.Logf("pinned %s, moved to %s after the kill; %d requests after it", pinned, moved, len(after))
}

func backendByID(bs []*backend, id string) *backend {
	for _, b := range bs {
		if b.ID == id {
			return b
		}
	}
	panic("no backend " + id)
}

// TestStickySharedSecret runs two proxies sharing a secret (one from its
// config, one from L7LB_STICKY_SECRET): a cookie one issues pins to the
// same server on the other, with no shared state. A third proxy with
// another secret rejects it and issues its own.
func TestStickySharedSecret(t *testing.T) {
	bs := newBackends(t, 3)
	a := startServe(t, bs, "sticky: {secret: shared-secret}\n"+stickyRoutes)
	b := startServeOpts(t, bs, stickyRoutes, serveOpts{env: []string{"L7LB_STICKY_SECRET=shared-secret"}})
	other := startServe(t, bs, "sticky: {secret: another-secret}\n"+stickyRoutes)
	c := newClient(t, false)

	// Three fresh sessions on a cover the three servers (round robin), so
	// a coincidence of b's own round robin cannot pass the test.
	for i := 0; i < 3; i++ {
		r := get(t, c, a.Addr, "", "/s")
		m := insertCookie.FindStringSubmatch(r.Header.Get("Set-Cookie"))
		if r.Status != 200 || m == nil {
			t.Fatalf("a: status %d, Set-Cookie %q", r.Status, r.Header.Get("Set-Cookie"))
		}
		for j := 0; j < 5; j++ {
			req := request(t, "GET", b.Addr, "", "/s", nil)
			req.Header.Set("Cookie", "l7lb="+m[1])
			rb := do(t, c, req)
			if rb.Status != 200 || rb.Backend != r.Backend {
				t.Fatalf("b with a's cookie for %s: status %d, reached %s", r.Backend, rb.Status, rb.Backend)
			}
			if sc := rb.Header.Get("Set-Cookie"); sc != "" {
				t.Errorf("b reissued a valid cookie: %q", sc)
			}
		}
		req := request(t, "GET", other.Addr, "", "/s", nil)
		req.Header.Set("Cookie", "l7lb="+m[1])
		ro := do(t, c, req)
		if mo := insertCookie.FindStringSubmatch(ro.Header.Get("Set-Cookie")); ro.Status != 200 || mo == nil || mo[1] == m[1] {
			t.Errorf("a proxy with another secret: status %d, Set-Cookie %q; want a new cookie", ro.Status, ro.Header.Get("Set-Cookie"))
		}
	}
}
