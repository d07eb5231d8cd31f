package proxy

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// trailerBackend reads chunked requests and sends each trailer section it
// received on the returned channel; it answers with a chunked response
// whose trailers are respTrailers.
func trailerBackend(t *testing.T, respTrailers string) (*rawBackend, <-chan string) {
	got := make(chan string, 4)
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readWireHead(br)
			if h == "" {
				return
			}
			var trailers strings.Builder
			if strings.Contains(h, "Transfer-Encoding: chunked") {
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					n, _ := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
					if n == 0 {
						break
					}
					br.Discard(int(n) + 2)
				}
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
					trailers.WriteString(line)
				}
			}
			got <- trailers.String()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\n"+respTrailers+"\r\n")
		}
	})
	return b, got
}

// forbiddenTrailers are fields that frame, route, forward, authenticate or
// control a message (RFC 9110 6.5.1): a proxy must not pass them on in a
// trailer section, where a recipient may merge them into the header
// section after its decisions were made.
var forbiddenTrailers = []string{
	"Content-Length: 5", "Transfer-Encoding: chunked", "Host: evil.example",
	"X-Forwarded-For: 10.6.6.6", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https",
	"X-Forwarded-Port: 443", "Forwarded: for=10.6.6.6", "X-Real-IP: 10.6.6.6",
	"Connection: close", "Keep-Alive: timeout=5", "Proxy-Connection: close", "TE: trailers",
	"Trailer: X-More", "Upgrade: websocket", "Proxy-Authorization: Basic Zm9v",
	"Proxy-Authenticate: Basic", "Authorization: Basic Zm9v", "WWW-Authenticate: Basic",
	"Cache-Control: no-cache", "Expect: 100-continue", "Max-Forwards: 0", "Pragma: no-cache",
	"Range: bytes=0-1", "Content-Encoding: gzip", "Content-Type: text/html",
	"Content-Range: bytes 0-1/2", "Set-Cookie: sid=evil", "Cookie: sid=evil",
	"HTTP2-Settings: AAMAAABkAAQAAP__", "X-Request-Id: forged", "Via: 1.1 evil",
}

func TestTrailersFiltered(t *testing.T) {
	resp := strings.Join(forbiddenTrailers, "\r\n") + "\r\nX-Sum: 42\r\n"
	b, got := trailerBackend(t, resp)
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n"+
		"3\r\nabc\r\n0\r\n"+strings.Join(forbiddenTrailers, "\r\n")+"\r\nX-Checksum: abc\r\n\r\n")
	r := readResp(t, br, false)
	if fwd := <-got; fwd != "X-Checksum: abc\r\n" {
		t.Errorf("request trailers forwarded:\n%s", fwd)
	}
	if r.status != 200 || len(r.trailer) != 1 || r.trailer.Get("X-Sum") != "42" {
		t.Errorf("response: %d, trailers %v", r.status, r.trailer)
	}
}

// TestH2CUpgradeNotForwarded: the proxy does not speak HTTP/2, so an h2c
// upgrade must not reach a server, which could switch protocols under it.
func TestH2CUpgradeNotForwarded(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	tests := []struct {
		fields, wantUpgrade string
	}{
		{"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n", ""},
		{"Connection: upgrade\r\nUpgrade: H2C\r\n", ""},
		{"Connection: upgrade\r\nUpgrade: h2c, websocket\r\n", "websocket"},
		{"Connection: upgrade\r\nUpgrade: websocket, h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n", "websocket"},
		{"Connection: upgrade\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n", "websocket"},
		{"HTTP2-Settings: AAMAAABkAAQAAP__\r\n", ""},
	}
	for _, tt := range tests {
		c, br := e.dial()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n"+tt.fields+"\r\n")
		r := readResp(t, br, false)
		h := <-heads
		lower := strings.ToLower(h)
		switch {
		case r.status != 200:
			t.Errorf("%q: status %d", tt.fields, r.status)
		case strings.Contains(lower, "h2c") || strings.Contains(lower, "http2-settings"):
			t.Errorf("%q: forwarded as\n%s", tt.fields, h)
		case tt.wantUpgrade == "" && (strings.Contains(lower, "upgrade")):
			t.Errorf("%q: an upgrade forwarded:\n%s", tt.fields, h)
		case tt.wantUpgrade != "" && !strings.Contains(h, "\r\nConnection: Upgrade\r\nUpgrade: "+tt.wantUpgrade+"\r\n"):
			t.Errorf("%q: want Upgrade: %s forwarded, got\n%s", tt.fields, tt.wantUpgrade, h)
		}
	}
}

// TestForwardingFieldsReplaced: a client's forwarding fields are replaced
// unless the client is a trusted proxy, whose are appended to.
func TestForwardingFieldsReplaced(t *testing.T) {
	const client = "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n" +
		"Forwarded: for=10.0.0.1;proto=https\r\nX-Real-IP: 10.0.0.9\r\nX-Forwarded-Port: 8443\r\n"
	tests := []struct {
		name, config string
		want         []string
	}{
		{"untrusted", "", []string{
			"X-Forwarded-For: 127.0.0.1", "X-Forwarded-Host: shop.example", "X-Forwarded-Proto: http",
			"Forwarded: for=127.0.0.1;host=shop.example;proto=http", "X-Real-IP: 127.0.0.1"}},
		{"another network trusted", `, "trusted_proxies": ["10.0.0.0/8", "::1"]`, []string{
			"X-Forwarded-For: 127.0.0.1", "X-Forwarded-Host: shop.example", "X-Forwarded-Proto: http",
			"Forwarded: for=127.0.0.1;host=shop.example;proto=http", "X-Real-IP: 127.0.0.1"}},
		{"trusted network", `, "trusted_proxies": ["127.0.0.0/8"]`, []string{
			"X-Forwarded-Port: 8443",
			"X-Forwarded-For: 10.0.0.1, 127.0.0.1", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https",
			"Forwarded: for=10.0.0.1;proto=https, for=127.0.0.1;host=shop.example;proto=http", "X-Real-IP: 10.0.0.9"}},
		{"trusted address", `, "trusted_proxies": ["127.0.0.1"]`, []string{
			"X-Forwarded-Port: 8443",
			"X-Forwarded-For: 10.0.0.1, 127.0.0.1", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https",
			"Forwarded: for=10.0.0.1;proto=https, for=127.0.0.1;host=shop.example;proto=http", "X-Real-IP: 10.0.0.9"}},
	}
	forwarding := regexp.MustCompile(`(?i)^(x-forwarded-[a-z]+|forwarded|x-real-ip):`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, heads := captureBackend(t, "")
			e := setup(t, offSticky+tt.config, map[string]string{"s1": b.addr()})
			e.roundTrip("GET / HTTP/1.1\r\nHost: shop.example\r\n" + client + "\r\n")
			var got []string
			for _, f := range fieldsOf(<-heads) {
				if forwarding.MatchString(f) {
					got = append(got, f)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("forwarding fields:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	// Without a trusted proxy, fields of any case are replaced, and
	// Connection cannot make the proxy drop its own.
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.1\r\nx-real-ip: 10.0.0.9\r\nConnection: X-Real-IP, X-Forwarded-For\r\n\r\n")
	h := <-heads
	if !strings.Contains(h, "\r\nX-Forwarded-For: 127.0.0.1\r\n") || !strings.Contains(h, "\r\nX-Real-IP: 127.0.0.1\r\n") ||
		strings.Contains(h, "10.0.0") {
		t.Errorf("forwarded head:\n%s", h)
	}
}

// TestDateAndVia: every response the proxy writes itself carries Date;
// forwarded messages carry Via both ways (RFC 9110 7.6.3) unless via is
// off, and a forwarded response without Date gets one (RFC 9110 6.6.1).
func TestDateAndVia(t *testing.T) {
	date := regexp.MustCompile(`^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$`)
	b, heads := captureBackend(t, "Via: 1.0 origin-cache\r\n")
	e := setup(t, offSticky+`, "routes": [{"path": "/ok/*", "servers": ["s1"]}], "default_servers": []`,
		map[string]string{"s1": b.addr()})

	for _, raw := range []string{
		"GET /none HTTP/1.1\r\nHost: a\r\n\r\n",            // 404
		"GET /ok/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // 400
		"GET /ok/x HTTP/2.0\r\nHost: a\r\n\r\n",            // 505
	} {
		r := e.roundTrip(raw)
		if !date.MatchString(r.headers.Get("Date")) {
			t.Errorf("%q: status %d without a Date: %v", raw, r.status, r.headers)
		}
	}

	r := e.roundTrip("GET /ok/x HTTP/1.1\r\nHost: a\r\nVia: 1.1 edge\r\n\r\n")
	h := <-heads
	if !strings.Contains(h, "\r\nVia: 1.1 edge\r\n") || !strings.Contains(h, "\r\nVia: 1.1 l7lb\r\n") ||
		strings.Index(h, "Via: 1.1 edge") > strings.Index(h, "Via: 1.1 l7lb") {
		t.Errorf("forwarded request without Via appended:\n%s", h)
	}
	if v := r.headers.Values("Via"); len(v) != 2 || v[0] != "1.0 origin-cache" || v[1] != "1.1 l7lb" {
		t.Errorf("response Via %q", v)
	}
	if !date.MatchString(r.headers.Get("Date")) {
		t.Errorf("forwarded response without Date: %v", r.headers)
	}

	c, br := e.dial()
	io.WriteString(c, "GET /ok/x HTTP/1.0\r\n\r\n")
	readResp(t, br, false)
	if h := <-heads; !strings.Contains(h, "\r\nVia: 1.0 l7lb\r\n") {
		t.Errorf("an HTTP/1.0 request forwarded without Via: 1.0 l7lb:\n%s", h)
	}

	b2, heads2 := captureBackend(t, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n")
	e2 := setup(t, offSticky+`, "via": false`, map[string]string{"s1": b2.addr()})
	r = e2.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if h := <-heads2; strings.Contains(h, "Via:") {
		t.Errorf("via: false, yet the request has Via:\n%s", h)
	}
	if r.headers.Get("Via") != "" || r.headers.Values("Date")[0] != "Sun, 06 Nov 1994 08:49:37 GMT" || len(r.headers.Values("Date")) != 1 {
		t.Errorf("via: false, response fields %v", r.headers)
	}
}
