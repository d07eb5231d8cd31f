package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// insertCookie is the shape of the cookie insert mode sets by default:
// base64url(server id) "." issue time "." base64url(MAC), then the fixed
// attributes.
var insertCookie = regexp.MustCompile(`^l7lb=([A-Za-z0-9_-]+\.[0-9]+\.[A-Za-z0-9_-]{22}); Path=/; HttpOnly; SameSite=Lax$`)

// signedValue is the documented format of the proxy's signed cookie values
// (docs/config.md), computed here independently of the proxy.
func signedValue(secret, server string, issued int64) string {
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString([]byte(server)) + "." + strconv.FormatInt(issued, 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("l7lb-sticky-v2\x00" + payload))
	return payload + "." + enc.EncodeToString(m.Sum(nil)[:16])
}

// signedServer returns the server a signed value names and its issue time.
func signedServer(t testing.TB, value string) (string, int64) {
	t.Helper()
	parts := strings.Split(value, ".")
	if len(parts) != 3 {
		t.Fatalf("signed value %q: want three parts", value)
	}
	server, err := base64.RawURLEncoding.DecodeString(parts[0])
	issued, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || err2 != nil {
		t.Fatalf("signed value %q: %v %v", value, err, err2)
	}
	return string(server), issued
}

// cookiesOf returns the cookies a reply sets, by name.
func cookiesOf(r reply) map[string]string {
	names := map[string]string{}
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		names[ck.Name] = ck.Value
	}
	return names
}

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

// randomSessionID is the shape of the session ids the proxy issues: 128
// random bits in base64url.
var randomSessionID = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// TestStickyTableMode checks the node's session-table mode on real
// cookies: mode always issues a random session_id and a signed backend
// cookie, and a client that sends them back stays on its server.
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
			names := cookiesOf(r)
			if !randomSessionID.MatchString(names["session_id"]) || names["backend"] == "" {
				t.Fatalf("first response sets cookies %v, want a random session_id and backend", names)
			}
			if server, _ := signedServer(t, names["backend"]); server != first {
				t.Fatalf("backend cookie %q names %s, want %s", names["backend"], server, first)
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

// waitLog waits for the access log of p to hold want; it is written in
// batches.
func waitLog(t *testing.T, p *serveProc, want string) {
	t.Helper()
	if !waitFor(3*time.Second, func() bool { return strings.Contains(p.stdout.String(), want) }) {
		t.Errorf("the access log has no %q:\n%s", want, p.stdout)
	}
}

// TestStickyForgedHint checks that a client cannot choose its server with
// the table modes' backend hint: a plain server id or a value signed with
// another secret is ignored (the access log says hint-invalid) and
// replaced by a signed hint, while the proxy's own hint brings a client
// that lost its session back to its server.
func TestStickyForgedHint(t *testing.T) {
	bs := newBackends(t, 3)
	p := startServe(t, bs, "sticky: {mode: auto, secret: hint-secret}\n"+stickyRoutes)
	c := newClient(t, false)
	for _, forged := range []string{"s3", signedValue("another-secret", "s3", time.Now().Unix())} {
		reached := map[string]bool{}
		for i := 0; i < 3; i++ {
			req := request(t, "GET", p.Addr, "", "/f", nil)
			req.Header.Set("Cookie", "backend="+forged)
			r := do(t, c, req)
			if r.Status != 200 {
				t.Fatalf("status %d", r.Status)
			}
			reached[r.Backend] = true
			names := cookiesOf(r)
			if server, _ := signedServer(t, names["backend"]); server != r.Backend || !randomSessionID.MatchString(names["session_id"]) {
				t.Errorf("cookies %v after reaching %s: want a new session and a signed hint for it", names, r.Backend)
			}
		}
		if len(reached) != 3 {
			t.Errorf("three requests with the hint %q reached %v: the hint chose the server", forged, reached)
		}
	}
	waitLog(t, p, "sticky=hint-invalid")

	// The proxy's own hint: a client that lost its session id (an
	// unknown one here) is sent back to the server the hint names.
	req := request(t, "GET", p.Addr, "", "/f", nil)
	req.Header.Set("Cookie", "theme=dark")
	r := do(t, c, req)
	hint := cookiesOf(r)["backend"]
	for i := 0; i < 3; i++ {
		req := request(t, "GET", p.Addr, "", "/f", nil)
		req.Header.Set("Cookie", "session_id=lost-"+strconv.Itoa(i)+"; backend="+hint)
		if rb := do(t, c, req); rb.Backend != r.Backend {
			t.Errorf("with the proxy's hint for %s: reached %s", r.Backend, rb.Backend)
		}
	}
	waitLog(t, p, "sticky=hint ")
}

// TestStickyExpiredCookie checks sticky.max_age in insert mode: a cookie
// issued longer ago is not honoured, and a new one is issued (the access
// log says expired); a younger one is honoured as it is.
func TestStickyExpiredCookie(t *testing.T) {
	bs := newBackends(t, 3)
	p := startServe(t, bs, "sticky: {secret: age-secret, max_age: 1h}\n"+stickyRoutes)
	c := newClient(t, false)
	now := time.Now().Unix()

	req := request(t, "GET", p.Addr, "", "/e", nil)
	req.Header.Set("Cookie", "l7lb="+signedValue("age-secret", "s3", now-600))
	if r := do(t, c, req); r.Status != 200 || r.Backend != "s3" || r.Header.Get("Set-Cookie") != "" {
		t.Errorf("a 10-minute-old cookie for s3: status %d, reached %s, Set-Cookie %q; want s3 and no new cookie", r.Status, r.Backend, r.Header.Get("Set-Cookie"))
	}

	req = request(t, "GET", p.Addr, "", "/e", nil)
	req.Header.Set("Cookie", "l7lb="+signedValue("age-secret", "s3", now-7200))
	r := do(t, c, req)
	m := regexp.MustCompile(`^l7lb=([^;]+); .*; Max-Age=3600$`).FindStringSubmatch(r.Header.Get("Set-Cookie"))
	if r.Status != 200 || m == nil {
		t.Fatalf("a 2-hour-old cookie: status %d, Set-Cookie %q; want a new cookie", r.Status, r.Header.Get("Set-Cookie"))
	}
	server, issued := signedServer(t, m[1])
	if server != r.Backend || issued < now || m[1] != signedValue("age-secret", server, issued) {
		t.Errorf("the new cookie %q (for %s, issued %d): want one signed now for %s", m[1], server, issued, r.Backend)
	}
	waitLog(t, p, "sticky=expired")
}

// TestStickySecretRotation checks sticky.secrets: [new, old]. A cookie
// signed with the old secret is honoured after the rotation and signed
// again with the new one, its issue time kept; a proxy that has dropped
// the old secret honours the re-signed cookie and rejects the old one.
func TestStickySecretRotation(t *testing.T) {
	bs := newBackends(t, 3)
	before := startServe(t, bs, "sticky: {secret: old-secret}\n"+stickyRoutes)
	during := startServe(t, bs, "sticky: {secrets: [new-secret, old-secret]}\n"+stickyRoutes)
	after := startServe(t, bs, "sticky: {secrets: [new-secret]}\n"+stickyRoutes)
	c := newClient(t, false)
	send := func(p *serveProc, cookie string) reply {
		req := request(t, "GET", p.Addr, "", "/r", nil)
		req.Header.Set("Cookie", "l7lb="+cookie)
		return do(t, c, req)
	}

	// Two sessions, so that round robin on another proxy cannot pass the
	// test by chance.
	for i := 0; i < 2; i++ {
		r := get(t, c, before.Addr, "", "/r")
		m := insertCookie.FindStringSubmatch(r.Header.Get("Set-Cookie"))
		if m == nil {
			t.Fatalf("before: Set-Cookie %q", r.Header.Get("Set-Cookie"))
		}
		old := m[1]
		server, issued := signedServer(t, old)

		rd := send(during, old)
		md := insertCookie.FindStringSubmatch(rd.Header.Get("Set-Cookie"))
		if rd.Backend != server || md == nil || md[1] != signedValue("new-secret", server, issued) {
			t.Fatalf("during: the old cookie for %s reached %s, Set-Cookie %q; want %s and the cookie re-signed with the new secret, issued %d",
				server, rd.Backend, rd.Header.Get("Set-Cookie"), server, issued)
		}
		resigned := md[1]
		if rd := send(during, resigned); rd.Backend != server || rd.Header.Get("Set-Cookie") != "" {
			t.Errorf("during: the re-signed cookie reached %s, Set-Cookie %q; want %s and nothing", rd.Backend, rd.Header.Get("Set-Cookie"), server)
		}
		if ra := send(after, resigned); ra.Backend != server || ra.Header.Get("Set-Cookie") != "" {
			t.Errorf("after: the re-signed cookie reached %s, Set-Cookie %q; want %s and nothing", ra.Backend, ra.Header.Get("Set-Cookie"), server)
		}
		if ra := send(after, old); insertCookie.FindStringSubmatch(ra.Header.Get("Set-Cookie")) == nil {
			t.Errorf("after: the cookie of the dropped secret was honoured (no new cookie)")
		}
	}
	waitLog(t, after, "sticky=invalid")
}

// TestStickySecretWarning checks the warning about a missing secret: given
// when a route is sticky, not when stickiness is off everywhere.
func TestStickySecretWarning(t *testing.T) {
	bs := newBackends(t, 1)
	const warning = "no sticky.secret nor L7LB_STICKY_SECRET"
	on := startServe(t, bs, "routes:\n  - {name: a, servers: [s1]}\n")
	off := startServe(t, bs, "sticky: {mode: \"off\"}\nroutes:\n  - {name: a, servers: [s1]}\n")
	if !strings.Contains(on.stderr.String(), warning) {
		t.Errorf("insert mode without a secret: stderr lacks the warning:\n%s", on.stderr)
	}
	if strings.Contains(off.stderr.String(), warning) {
		t.Errorf("stickiness off: stderr warns about the secret:\n%s", off.stderr)
	}
}
