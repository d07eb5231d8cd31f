package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTLSListener: on a TLS listener a client gets HTTP/1.1 or HTTP/2 as
// ALPN says, and either way the server is told the request came over
// https, the response carries HSTS and the sticky cookie is Secure (the
// default sticky.secure: auto).
func TestTLSListener(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	e, roots := tlsEnv(t, `"sticky": {"mode": "insert"}`, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{HSTS: "max-age=3600"}})

	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	t.Cleanup(h1.CloseIdleConnections)
	for _, tt := range []struct {
		name  string
		c     *http.Client
		proto string
	}{{"http/1.1", h1, "HTTP/1.1"}, {"h2", e.h2Client(roots), "HTTP/2.0"}} {
		resp, body := get(t, tt.c, e.url(true, "/x?y=1"), nil)
		if resp.StatusCode != 200 || body != "ok" || resp.Proto != tt.proto {
			t.Fatalf("%s: %s %d %q", tt.name, resp.Proto, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=3600" {
			t.Errorf("%s: Strict-Transport-Security %q", tt.name, got)
		}
		if c := resp.Header.Get("Set-Cookie"); !strings.HasSuffix(c, "; Secure") {
			t.Errorf("%s: cookie %q is not Secure", tt.name, c)
		}
		seen := b.last(t)
		if got := seen.header.Get("X-Forwarded-Proto"); got != "https" {
			t.Errorf("%s: X-Forwarded-Proto %q", tt.name, got)
		}
		if got := seen.header.Get("Forwarded"); !strings.HasSuffix(got, ";proto=https") {
			t.Errorf("%s: Forwarded %q", tt.name, got)
		}
		if seen.uri != "/x?y=1" || seen.proto != "HTTP/1.1" {
			t.Errorf("%s: the server got %s %s", tt.name, seen.proto, seen.uri)
		}
	}
}

// TestStickySecure: Secure on the cookies the proxy sets, as
// sticky.secure says, over TLS and not.
func TestStickySecure(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	for _, tt := range []struct {
		secure         string
		overTLS, plain bool
	}{{"", true, false}, {`, "secure": "auto"`, true, false}, {`, "secure": true`, true, true}, {`, "secure": false`, false, false}} {
		doc := `"sticky": {"mode": "insert"` + tt.secure + `}`
		et, roots := tlsEnv(t, doc, map[string]string{"s1": b.url}, edgeOptions{})
		ep := setup(t, doc, map[string]string{"s1": b.url})
		for _, c := range []struct {
			e    *env
			tls  bool
			want bool
		}{{et, true, tt.overTLS}, {ep, false, tt.plain}} {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
			resp, _ := get(t, client, c.e.url(c.tls, "/"), nil)
			client.CloseIdleConnections()
			cookie := resp.Header.Get("Set-Cookie")
			if got := strings.Contains(cookie, "; Secure"); got != c.want || cookie == "" {
				t.Errorf("sticky%s, tls %v: cookie %q, want Secure %v", tt.secure, c.tls, cookie, c.want)
			}
		}
	}
}

// TestTLSHandshakeTimeout: a client that never finishes its handshake is
// cut off at the read-header timeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	e, _ := tlsEnv(t, offSticky+`, "timeouts": {"read_header": "300ms"}`, map[string]string{"s1": b.url}, edgeOptions{})
	for _, send := range []string{"", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"} { // nothing; a ClientHello's first bytes
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, send)
		start := time.Now()
		if !closedConn(c, 3*time.Second) {
			t.Fatalf("sending %q: not closed", send)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
			t.Errorf("sending %q: closed after %v, want about 300ms", send, d)
		}
		c.Close()
	}
	if n := e.p.Stats().Errors["tls_handshake"]; n != 2 {
		t.Errorf("tls_handshake counted %d times, want 2", n)
	}
}

// TestACMETLSALPNHandshake: a handshake that negotiates acme-tls/1 (a CA
// checking TLS-ALPN-01) completes and is closed: nothing is served on it.
func TestACMETLSALPNHandshake(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	e, roots := tlsEnv(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{})
	c := e.dialTLS(roots, "acme-tls/1")
	if p := c.ConnectionState().NegotiatedProtocol; p != "acme-tls/1" {
		t.Fatalf("negotiated %q", p)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if !closedConn(c, 3*time.Second) {
		t.Fatal("acme-tls/1 connection kept open")
	}
	if b.count() != 0 {
		t.Error("a request on an acme-tls/1 connection was served")
	}
}

// TestH2CPriorKnowledge: an h2c listener serves HTTP/2 to a client that
// starts with the preface and HTTP/1.x to any other, a short HTTP/1.0
// request included; a listener without h2c does not speak HTTP/2.
func TestH2CPriorKnowledge(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	e := setupWith(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{H2C: true}})
	resp, body := get(t, e.h2Client(nil), e.url(false, "/two"), nil)
	if resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("h2c: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	if seen := b.last(t); seen.uri != "/two" || seen.header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("h2c: the server got %s, X-Forwarded-Proto %q", seen.uri, seen.header.Get("X-Forwarded-Proto"))
	}
	for _, raw := range []string{"GET /one HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.0\r\n\r\n", "PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"} {
		if r := e.roundTrip(raw); r.status != 200 {
			t.Errorf("%q: status %d", raw, r.status)
		}
	}
	plain := setup(t, offSticky, map[string]string{"s1": b.url})
	if r := plain.roundTrip(preface); r.status != 505 && r.status != 400 {
		t.Errorf("the preface on a listener without h2c: status %d", r.status)
	}
}

// fakeChallenges answers the ACME HTTP-01 challenge of one host and
// token.
type fakeChallenges struct{ host, token, answer string }

func (f fakeChallenges) HTTPChallengeResponse(host, path string) (int, []byte, bool) {
	if !strings.HasPrefix(path, "/.well-known/acme-challenge/") || !strings.EqualFold(strings.Split(host, ":")[0], f.host) {
		return 0, nil, false
	}
	if path == "/.well-known/acme-challenge/"+f.token {
		return 200, []byte(f.answer), true
	}
	return 404, nil, true
}

// TestRedirectHTTPS: redirect_https answers every request with 308 to the
// same target on https at that port (no port for 443), over HTTP/1.x and
// h2c, keeping the connection; ACME HTTP-01 challenges are answered
// first, and nothing reaches a server.
func TestRedirectHTTPS(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	ch := fakeChallenges{host: "shop.example", token: "tok", answer: "tok.key"}
	e := setupWith(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{H2C: true, RedirectHTTPS: 8443, Challenges: []HTTPChallenger{ch}}})
	e443 := setupWith(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{RedirectHTTPS: 443}})

	c, br := e.dial()
	for _, tt := range []struct{ raw, status, location, body string }{
		{"GET /a/b?c=d&e HTTP/1.1\r\nHost: Shop.Example:8080\r\n\r\n", "308", "https://shop.example:8443/a/b?c=d&e", ""},
		{"HEAD / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "308", "https://[::1]:8443/", ""},
		{"GET http://other.example/x HTTP/1.1\r\nHost: ignored\r\n\r\n", "308", "https://other.example:8443/x", ""},
		{"GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: shop.example\r\n\r\n", "200", "", "tok.key"},
		{"GET /.well-known/acme-challenge/nope HTTP/1.1\r\nHost: shop.example\r\n\r\n", "404", "", ""},
		{"GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: other.example\r\n\r\n", "308", "https://other.example:8443/.well-known/acme-challenge/tok", ""},
	} {
		io.WriteString(c, tt.raw)
		r := readResp(t, br, strings.HasPrefix(tt.raw, "HEAD"))
		if itoa(r.status) != tt.status || r.headers.Get("Location") != tt.location || r.body != tt.body || r.close {
			t.Errorf("%q: %d Location %q body %q close %v; want %s %q %q, kept open", tt.raw, r.status, r.headers.Get("Location"), r.body, r.close, tt.status, tt.location, tt.body)
		}
	}
	if r := e443.roundTrip("GET /p?q HTTP/1.1\r\nHost: a.example\r\n\r\n"); r.headers.Get("Location") != "https://a.example/p?q" {
		t.Errorf("redirect to 443: Location %q", r.headers.Get("Location"))
	}

	h2 := e.h2Client(nil)
	h2.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := get(t, h2, "http://"+e.addr+"/h2?x=1", nil)
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "https://127.0.0.1:8443/h2?x=1" {
		t.Errorf("h2c: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if b.count() != 0 {
		t.Errorf("%d requests reached the server", b.count())
	}
}

// TestTLSHTTP1Fallback: a TLS client that offers no ALPN gets HTTP/1.1.
func TestTLSHTTP1Fallback(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	e, roots := tlsEnv(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{})
	c := e.dialTLS(roots)
	io.WriteString(c, "GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n")
	r := readResp(t, bufio.NewReader(c), false)
	if r.status != 200 || r.body != "ok" {
		t.Fatalf("status %d body %q", r.status, r.body)
	}
}

// TestOverloadTLS: beyond max_client_conns a TLS listener closes the new
// connection at once, without the plaintext 503 a plaintext listener
// writes (which a TLS client would take for a broken handshake anyway).
func TestOverloadTLS(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	e, roots := tlsEnv(t, offSticky+`, "limits": {"max_client_conns": 1}`, map[string]string{"s1": b.url}, edgeOptions{})
	c1 := e.dialTLS(roots, "http/1.1")
	io.WriteString(c1, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, bufio.NewReader(c1), false); r.status != 200 {
		t.Fatalf("first connection: %d", r.status)
	}
	raw, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(raw)
	if len(got) != 0 {
		t.Errorf("the connection beyond the limit got %q", got)
	}
	if s := e.p.Stats(); s.RejectedConns != 1 {
		t.Errorf("rejected %d", s.RejectedConns)
	}
}
