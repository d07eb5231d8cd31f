package proxy

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// captureBackend answers every request head with an empty 200 and sends
// the head on the returned channel.
func captureBackend(t *testing.T, extra string) (*rawBackend, <-chan string) {
	heads := make(chan string, 16)
	length := regexp.MustCompile(`(?i)\r\ncontent-length: (\d+)\r\n`)
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readWireHead(br)
			if h == "" {
				return
			}
			if m := length.FindStringSubmatch(h); m != nil {
				n, _ := strconv.Atoi(m[1])
				br.Discard(n)
			}
			heads <- h
			io.WriteString(c, "HTTP/1.1 200 OK\r\n"+extra+"Content-Length: 2\r\n\r\nok")
		}
	})
	return b, heads
}

// fieldsOf returns the header lines of a head, without the first line.
func fieldsOf(head string) []string {
	lines := strings.Split(strings.TrimRight(head, "\r\n"), "\r\n")
	return lines[1:]
}

func TestForwardedFields(t *testing.T) {
	b, heads := captureBackend(t, "Connection: X-Private\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	r := e.roundTrip("GET /p?q=1 HTTP/1.1\r\n" +
		"Host: shop.example.com:8080\r\n" +
		"Connection: keep-alive, X-Hop\r\n" +
		"X-Hop: secret\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Proxy-Connection: keep-alive\r\n" +
		"Proxy-Authorization: Basic Zm9v\r\n" +
		"TE: trailers\r\n" +
		"Upgrade: h2c\r\n" +
		"X-Forwarded-For: 10.0.0.1\r\n" +
		"X-Forwarded-Host: evil.example\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"Forwarded: for=10.0.0.1\r\n" +
		"Accept: */*\r\n" +
		"\r\n")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	head := <-heads
	got := fieldsOf(head)
	if !strings.HasPrefix(head, "GET /p?q=1 HTTP/1.1\r\n") {
		t.Errorf("request line: %q", head)
	}
	want := regexp.MustCompile(`^\[Host: shop.example.com:8080 Accept: \*/\* ` +
		`X-Forwarded-For: 127.0.0.1 X-Forwarded-Host: shop.example.com:8080 X-Forwarded-Proto: http ` +
		`Forwarded: for=127.0.0.1;host="shop.example.com:8080";proto=http X-Real-IP: 127.0.0.1 ` +
		`X-Request-Id: [0-9a-f]{16}-[0-9a-f]+ TE: trailers Via: 1.1 l7lb\]$`)
	if s := "[" + strings.Join(got, " ") + "]"; !want.MatchString(s) {
		t.Errorf("forwarded fields:\n%s", strings.Join(got, "\n"))
	}

	// The hop-by-hop fields of the response are gone, the others kept.
	for _, name := range []string{"X-Private", "Keep-Alive", "Proxy-Authenticate"} {
		if v := r.headers.Get(name); v != "" {
			t.Errorf("response field %s: %q forwarded", name, v)
		}
	}
	if r.headers.Get("X-Kept") != "yes" {
		t.Errorf("response fields %v", r.headers)
	}
}

func TestRequestID(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: mine\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	var ids []string
	for range 3 {
		readResp(t, br, false)
		h := <-heads
		n := strings.Count(h, "X-Request-Id: ")
		i := strings.Index(h, "X-Request-Id: ")
		if n != 1 {
			t.Fatalf("%d X-Request-Ids:\n%s", n, h)
		}
		ids = append(ids, strings.SplitN(h[i+len("X-Request-Id: "):], "\r\n", 2)[0])
	}
	if ids[0] != "mine" || ids[1] == ids[2] || ids[1][:17] != ids[2][:17] {
		t.Errorf("ids %q: want the client's, then two of one prefix", ids)
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		addr        net.Addr
		ip, forward string
	}{
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5}, "192.0.2.1", "192.0.2.1"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 5}, "::1", `"[::1]"`},
		{&net.UnixAddr{Name: "@", Net: "unix"}, "unknown", "unknown"},
	}
	for _, tt := range tests {
		if ip, fwd := clientIP(tt.addr); ip != tt.ip || fwd != tt.forward {
			t.Errorf("clientIP(%v) = %q, %q; want %q, %q", tt.addr, ip, fwd, tt.ip, tt.forward)
		}
	}
}

func TestHostRewrite(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky+`, "routes": [{"path": "/*", "servers": ["s1"], "host_rewrite": "internal.example"}]`,
		map[string]string{"s1": b.addr()})
	e.roundTrip("GET / HTTP/1.1\r\nHost: public.example\r\n\r\n")
	h := <-heads
	if !strings.Contains(h, "\r\nHost: internal.example\r\n") || !strings.Contains(h, "\r\nX-Forwarded-Host: public.example\r\n") {
		t.Errorf("forwarded head:\n%s", h)
	}
}

// TestTargets checks the request line a server receives: the client's own
// bytes when no rewrite applies, the rewritten path with the query kept
// byte for byte otherwise, %2F kept encoded either way.
func TestTargets(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky+`, "routes": [
		{"path": "/api/*", "servers": ["s1"], "rewrite": {"strip_prefix": "/api"}},
		{"path": "/old/*", "servers": ["s1"], "rewrite": {"replace_prefix": {"from": "/old", "to": "/new"}}},
		{"path": "/*", "servers": ["s1"]}]`,
		map[string]string{"s1": b.addr()})
	tests := []struct{ target, want string }{
		{"/files/a%2Fb/c?x=%2F&y=a+b", "/files/a%2Fb/c?x=%2F&y=a+b"},
		{"/api/users/a%2fb?q=1&q=2;x", "/users/a%2Fb?q=1&q=2;x"},
		{"/old/x%2F/y?z=%zz", "/new/x%2F/y?z=%zz"},
		{"http://a.example/abs?q", "/abs?q"},
		{"/a/../b//c?q", "/b/c?q"},
	}
	for _, tt := range tests {
		r := e.roundTrip("GET " + tt.target + " HTTP/1.1\r\nHost: a\r\n\r\n")
		h := <-heads
		if got := strings.SplitN(h, " ", 3)[1]; r.status != 200 || got != tt.want {
			t.Errorf("%s: status %d, forwarded %q, want %q", tt.target, r.status, got, tt.want)
		}
	}
}

func TestHeadAndNoBodyResponses(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readWireHead(br)
			switch {
			case h == "":
				return
			case strings.HasPrefix(h, "HEAD"):
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
			case strings.Contains(h, "/204"):
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			default:
				io.WriteString(c, "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n")
			}
		}
	})
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, br, true); r.status != 200 || r.headers.Get("Content-Length") != "1234" {
		t.Errorf("HEAD: %d %v", r.status, r.headers)
	}
	io.WriteString(c, "GET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, br, false); r.status != 204 {
		t.Errorf("204: %d", r.status)
	}
	if r := readResp(t, br, false); r.status != 304 || r.body != "" {
		t.Errorf("304: %d %q", r.status, r.body)
	}
	if closedWithin(c, br, 100*time.Millisecond) {
		t.Error("connection closed")
	}
}

func TestHTTP10Client(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})

	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	if r := readResp(t, br, false); r.status != 200 || r.body != "ok" {
		t.Errorf("%d %q", r.status, r.body)
	}
	if h := <-heads; !strings.HasPrefix(h, "GET / HTTP/1.1\r\nHost: \r\n") {
		t.Errorf("forwarded head:\n%s", h)
	}
	if !closedWithin(c, br, 3*time.Second) {
		t.Error("HTTP/1.0 connection kept without keep-alive")
	}

	c, br = e.dial()
	io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if r := readResp(t, br, false); r.headers.Get("Connection") != "keep-alive" {
		t.Errorf("keep-alive not confirmed: %v", r.headers)
	}
	<-heads
	if closedWithin(c, br, 100*time.Millisecond) {
		t.Error("HTTP/1.0 keep-alive connection closed")
	}
}

func TestClientConnectionClose(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if r := readResp(t, br, false); !r.close {
		t.Errorf("response fields %v", r.headers)
	}
	if h := <-heads; strings.Contains(h, "close") {
		t.Errorf("Connection: close forwarded:\n%s", h)
	}
	if !closedWithin(c, br, 3*time.Second) {
		t.Error("connection left open")
	}
}
