package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExpectContinue relays a server's 100 Continue before the body is
// sent, and a final answer without one, after which the connection closes
// without the body being read.
func TestExpectContinue(t *testing.T) {
	addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/deny" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		echoHandler(w, r)
	})
	e := setup(t, offSticky, map[string]string{"s1": addr})

	c, br := e.dial()
	io.WriteString(c, "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if head := readWireHead(br); head != "HTTP/1.1 100 Continue\r\nVia: 1.1 l7lb\r\n\r\n" {
		t.Fatalf("first response %q", head)
	}
	io.WriteString(c, "hello")
	if r := readResp(t, br, false); r.status != 200 || r.body != "PUT /up hello" {
		t.Errorf("%d %q", r.status, r.body)
	}

	c, br = e.dial()
	io.WriteString(c, "PUT /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if r := readResp(t, br, false); r.status != 403 || !r.close {
		t.Errorf("%d close=%v", r.status, r.close)
	}
	if !closedWithin(c, br, 3*time.Second) {
		t.Error("connection kept with an unread body")
	}
}

// TestExpectIgnored sends the body after expectWait when the server says
// nothing, telling the client to go on.
func TestExpectIgnored(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		head := readWireHead(br)
		body := make([]byte, 5)
		io.ReadFull(br, body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"+string(body))
		if !strings.Contains(head, "Expect: 100-continue") {
			t.Errorf("Expect not forwarded:\n%s", head)
		}
	})
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	start := time.Now()
	// The proxy's own 100 Continue, with its Date.
	if head := readWireHead(br); !regexp.MustCompile(`^HTTP/1\.1 100 Continue\r\nDate: [^\r]+ GMT\r\n\r\n$`).MatchString(head) {
		t.Fatalf("first response %q", head)
	}
	if d := time.Since(start); d < expectWait/2 {
		t.Errorf("100 Continue after %v, before the server had time to answer", d)
	}
	io.WriteString(c, "hello")
	if r := readResp(t, br, false); r.status != 200 || r.body != "hello" {
		t.Errorf("%d %q", r.status, r.body)
	}
}

// TestInformational relays a 103 Early Hints before the final response.
func TestInformational(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readWireHead(br)
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	head := readWireHead(br)
	if want := "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nVia: 1.1 l7lb\r\n\r\n"; head != want {
		t.Errorf("informational response %q, want %q", head, want)
	}
	if r := readResp(t, br, false); r.status != 200 || r.body != "ok" {
		t.Errorf("%d %q", r.status, r.body)
	}
}
