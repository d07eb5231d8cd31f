package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestEmptyLinesBeforeRequest: RFC 9112 2.2 lets a server ignore empty
// lines before a request line; clients send a stray CRLF after a body.
func TestEmptyLinesBeforeRequest(t *testing.T) {
	b, _ := scriptBackend(t, nil)
	e := setup(t, offSticky+`, "limits": {"max_header_bytes": 1024}`, map[string]string{"s1": b.addr()})
	tests := []struct {
		name, raw string
		statuses  []int
	}{
		{"CRLF after a POST body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nq=42\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []int{200, 200}},
		{"LF after a POST body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nq=42\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []int{200, 200}},
		{"several before the first request", "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []int{200}},
		{"after a chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []int{200, 200}},
		{"a bare CR is no empty line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", []int{400}},
		{"whitespace is no empty line", " \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []int{400}},
		{"more than the head limit", strings.Repeat("\r\n", 600) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []int{400}},
	}
	for _, tt := range tests {
		c, br := e.dial()
		io.WriteString(c, tt.raw)
		for i, want := range tt.statuses {
			if got := statusOf(br); got != want {
				t.Errorf("%s: response %d: status %d, want %d", tt.name, i+1, got, want)
			}
		}
	}
}

// TestEmptyLinesThenClose: a client that sends only empty lines and
// closes gets no response, as one that sends nothing.
func TestEmptyLinesThenClose(t *testing.T) {
	b, _ := scriptBackend(t, nil)
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("answered %q", rest)
	}
}

// TestBadAuthority: a Host or absolute-form authority that is not
// uri-host [":" port], or an absolute-form target with userinfo, is 400.
func TestBadAuthority(t *testing.T) {
	b, _ := scriptBackend(t, nil)
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	host := func(h string) string { return "GET / HTTP/1.1\r\nHost: " + h + "\r\n\r\n" }
	abs := func(a string) string { return "GET http://" + a + "/ HTTP/1.1\r\nHost: a\r\n\r\n" }
	tests := []struct {
		raw    string
		status int
	}{
		{host("shop.example.com"), 200},
		{host("shop.example.com:8080"), 200},
		{host("shop.example.com."), 200},
		{host("[::1]"), 200},
		{host("[::1]:80"), 200},
		{host("192.0.2.1:80"), 200},
		{host("xn--bcher-kva.example"), 200},
		{host("a_b.example"), 200},
		{host("a%41.example"), 400},
		{host("a:"), 200},
		{host(""), 200},
		{host("a b"), 400},
		{host("a\tb"), 400},
		{host("a/b"), 400},
		{host("a\\b"), 400},
		{host("a?b"), 400},
		{host("a#b"), 400},
		{host("u@a"), 400},
		{host("[::1"), 400},
		{host("::1]"), 400},
		{host("[::1]x"), 400},
		{host("[::1]:80]"), 400},
		{host("[a::b::c]"), 400},
		{host("[fe80::1%25eth0]"), 400},
		{host("a:b"), 400},
		{host("a:80:80"), 400},
		{host("a:99999"), 400},
		{host("a:123456"), 400},
		{host(":80"), 400},
		{host("a%zz"), 400},
		{host("a\"b"), 400},
		{host("\xc3\xa9.example"), 400},
		{abs("shop.example.com:8080"), 200},
		{abs("u:p@a"), 400},
		{abs("u@a"), 400},
		{abs("@a"), 400},
		{abs("[::1"), 400},
		{abs("a:x"), 400},
		{"GET http://a\\b/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	}
	for _, tt := range tests {
		if r := e.roundTrip(tt.raw); r.status != tt.status {
			t.Errorf("%q: status %d, want %d", tt.raw, r.status, tt.status)
		}
	}
}

// TestOverloadAnswered: at limits.max_client_conns a new client gets a 503
// with Retry-After and Connection: close instead of a bare close.
func TestOverloadAnswered(t *testing.T) {
	b, _ := scriptBackend(t, nil)
	e := setup(t, offSticky+`, "limits": {"max_client_conns": 1}`, map[string]string{"s1": b.addr()})
	c1, br1 := e.dial()
	io.WriteString(c1, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResp(t, br1, false)

	c2, br2 := e.dial()
	io.WriteString(c2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	r := readResp(t, br2, false)
	if r.status != 503 || r.headers.Get("Retry-After") == "" || !r.close || r.headers.Get("Date") == "" {
		t.Errorf("status %d, fields %v, close %v", r.status, r.headers, r.close)
	}
	if !closedWithin(c2, br2, 3*time.Second) {
		t.Error("the rejected connection stays open")
	}
	if s := e.p.Stats(); s.RejectedConns != 1 || s.ClientConns != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestResponseHeadLimits: a response head over the proxy's limits is a 502
// that names the limit; "server connection broke" is kept for a broken
// connection.
func TestResponseHeadLimits(t *testing.T) {
	tests := []struct {
		name, reply, body string
	}{
		{"head too large", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\nContent-Length: 0\r\n\r\n",
			"bad gateway: response head larger than 65536 bytes\n"},
		{"too many fields", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Many: 1\r\n", 300) + "Content-Length: 0\r\n\r\n",
			"bad gateway: response head with more than 256 fields\n"},
		{"malformed", "HTTP/1.1 200 OK\r\nBad Field\r\n\r\n", "bad gateway: bad response from server\n"},
		{"cut short", "HTTP/1.1 200 OK\r\nX: 1\r\n", "bad gateway: bad response from server\n"},
		{"nothing", "", "bad gateway: server connection broke\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				readWireHead(br)
				io.WriteString(c, tt.reply)
				time.Sleep(50 * time.Millisecond)
			})
			e := setup(t, offSticky, map[string]string{"s1": b.addr()})
			if r := e.roundTrip("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"); r.status != 502 || r.body != tt.body {
				t.Errorf("status %d, body %q; want 502, %q", r.status, r.body, tt.body)
			}
		})
	}
}

// TestStatusText: every status has its own reason phrase.
func TestStatusText(t *testing.T) {
	for status, want := range map[int]string{400: "Bad Request", 404: "Not Found", 431: "Request Header Fields Too Large",
		500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
		504: "Gateway Timeout", 505: "HTTP Version Not Supported", 408: "Request Timeout"} {
		if reason, text := statusText(status); reason != want || text == "" {
			t.Errorf("statusText(%d) = %q, %q; want %q", status, reason, text, want)
		}
	}
}
