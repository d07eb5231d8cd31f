package proxy

import (
	"bufio"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"l7lb/config"
)

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

const twoServers = offSticky + `, "routes": [{"path": "/*", "servers": ["s1", "s2"]}]`

func TestRetryOnConnectFailure(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, twoServers, map[string]string{"s1": deadAddr(t), "s2": b.addr()})
	for _, method := range []string{"GET", "POST", "GET", "PATCH"} {
		r := e.roundTrip(method + " / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
		if r.status != 200 {
			t.Errorf("%s: status %d", method, r.status)
		}
	}
	if f := e.fails.failed(); len(f) == 0 || slices.ContainsFunc(f, func(s string) bool { return s != "s1" }) {
		t.Errorf("failures reported: %v", f)
	}
	if s := e.fails.succeeded(); len(s) != 4 || slices.ContainsFunc(s, func(s string) bool { return s != "s2" }) {
		t.Errorf("successes reported: %v", s)
	}
}

func TestAllServersUnreachable(t *testing.T) {
	e := setup(t, twoServers, map[string]string{"s1": deadAddr(t), "s2": deadAddr(t)})
	r := e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r.status != 502 || r.headers.Get("Content-Type") != "text/plain; charset=utf-8" || r.body != "bad gateway: server unreachable\n" {
		t.Errorf("%d %v %q", r.status, r.headers, r.body)
	}
}

// TestRetryBrokenConnection: a server that closes without a response
// byte gets an idempotent request retried on the other server, once, and
// another request not.
func TestRetryBrokenConnection(t *testing.T) {
	rude := newRawBackend(t, func(c net.Conn, br *bufio.Reader) { readWireHead(br) })
	good, _ := captureBackend(t, "")
	e := setup(t, twoServers, map[string]string{"s1": rude.addr(), "s2": good.addr()})
	tests := []struct {
		raw    string
		status int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200},                          // s1, then s2
		{"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", 200},                       // s2
		{"POST / HTTP/1.1\r\nHost: a\r\n\r\n", 502},                         // s1: not idempotent
		{"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 200},   // s2
		{"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 502},   // s1: a body
		{"OPTIONS / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200}, // s2
	}
	for i, tt := range tests {
		if r := e.roundTrip(tt.raw); r.status != tt.status {
			t.Errorf("request %d: status %d, want %d", i, r.status, tt.status)
		}
	}
}

// TestNoRetryAfterResponseBytes: once the server sent part of a response,
// the request is not sent elsewhere.
func TestNoRetryAfterResponseBytes(t *testing.T) {
	for _, tt := range []struct {
		name, reply string
		status      int // 0: the client gets a truncated response
	}{
		{"partial head", "HTTP/1.1 200 OK\r\nContent-Le", 502},
		{"partial body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				readWireHead(br)
				io.WriteString(c, tt.reply)
			})
			good, _ := captureBackend(t, "")
			e := setup(t, twoServers, map[string]string{"s1": bad.addr(), "s2": good.addr()})
			c, br := e.dial()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if tt.status != 0 {
				if got := statusOf(br); got != tt.status {
					t.Errorf("status %d, want %d", got, tt.status)
				}
			} else if res, _ := io.ReadAll(br); !strings.HasPrefix(string(res), "HTTP/1.1 200 OK\r\n") ||
				!strings.HasSuffix(string(res), "\r\nContent-Length: 10\r\n\r\nabc") {
				t.Errorf("response %q, want the truncated one", res)
			}
			if n := good.accepted.Load(); n != 0 {
				t.Errorf("the other server got %d connections", n)
			}
		})
	}
}

func TestMalformedResponses(t *testing.T) {
	for _, reply := range []string{
		"HTTP/1.1 200 OK\r\nBad Field\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n",
		"garbage\r\n\r\n",
	} {
		b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
			readWireHead(br)
			io.WriteString(c, reply)
		})
		e := setup(t, offSticky, map[string]string{"s1": b.addr()})
		if r := e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n"); r.status != 502 {
			t.Errorf("%q: status %d, want 502", reply, r.status)
		}
	}
}

func TestStatuses(t *testing.T) {
	silent := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readWireHead(br)
		io.Copy(io.Discard, br)
	})
	e := setup(t, offSticky+`, "default_servers": [], "timeouts": {"response_header": "10s"}, "routes": [
		{"path": "/slow/*", "servers": ["s1"], "timeouts": {"response_header": "100ms"}},
		{"path": "/down/*", "servers": ["s2"]}]`,
		map[string]string{"s1": silent.addr(), "s2": silent.addr()})
	if err := e.eng.SetDown("s2", true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		target string
		status int
		body   string
	}{
		{"/nowhere", 404, "no route\n"},
		{"/down/x", 503, "no server available\n"},
		{"/slow/x", 504, "gateway timeout\n"},
	} {
		start := time.Now()
		c, br := e.dial()
		io.WriteString(c, "GET "+tt.target+" HTTP/1.1\r\nHost: a\r\n\r\n")
		r := readResp(t, br, false)
		if r.status != tt.status || r.body != tt.body {
			t.Errorf("%s: %d %q, want %d %q", tt.target, r.status, r.body, tt.status, tt.body)
		}
		if tt.status == 504 && time.Since(start) > 2*time.Second {
			t.Errorf("504 after %v: the route's timeout was not used", time.Since(start))
		}
		if tt.status != 504 && closedWithin(c, br, 100*time.Millisecond) {
			t.Errorf("%s: connection closed after %d", tt.target, tt.status)
		}
	}
}

// TestKeepAliveReuse: one server connection serves sequential requests
// from several clients; one the server said close about is not reused.
func TestKeepAliveReuse(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	for range 3 {
		c, br := e.dial()
		for range 5 {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			readResp(t, br, false)
		}
		c.Close()
	}
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
	if s := e.p.Stats().Servers["s1"]; s.Open != 1 || s.Idle != 1 || s.Requests != 15 {
		t.Errorf("stats %+v", s)
	}

	closing, _ := captureBackend(t, "Connection: close\r\n")
	e = setup(t, offSticky, map[string]string{"s1": closing.addr()})
	c, br := e.dial()
	for range 3 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := readResp(t, br, false); r.close {
			t.Error("the server's Connection: close reached the client")
		}
	}
	if n := closing.accepted.Load(); n != 3 {
		t.Errorf("server accepted %d connections, want 3", n)
	}
}

// TestStaleConnection: a pooled connection the server closed while idle
// is noticed before reuse, however briefly it was idle, so that even a
// POST goes through.
func TestStaleConnection(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readWireHead(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}) // one request per connection, then close, without saying so
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(20 * time.Millisecond) // the server's FIN arrives
	if r := e.roundTrip("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"); r.status != 200 {
		t.Errorf("status %d", r.status)
	}
}

func TestBackendIdleTimeout(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, offSticky+`, "timeouts": {"backend_idle": "100ms"}`, map[string]string{"s1": b.addr()})
	e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	deadline := time.Now().Add(3 * time.Second)
	for e.p.Stats().Servers["s1"].Open != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := e.p.Stats().Servers["s1"]; s.Open != 0 {
		t.Errorf("idle connection not closed: %+v", s)
	}
}

// TestMaxConnsPerServer: at the limit a request waits for a connection
// until the connect timeout, then gets 503.
func TestMaxConnsPerServer(t *testing.T) {
	release := make(chan struct{})
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for readWireHead(br) != "" {
			<-release
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	e := setup(t, offSticky+`, "limits": {"max_conns_per_server": 1}, "timeouts": {"connect": "200ms"}`,
		map[string]string{"s1": b.addr()})
	var wg sync.WaitGroup
	statuses := make(chan int, 3)
	send := func() {
		defer wg.Done()
		statuses <- e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status
	}
	wg.Add(1)
	go send()
	time.Sleep(50 * time.Millisecond) // the first holds the connection
	wg.Add(1)
	go send() // times out waiting
	time.Sleep(400 * time.Millisecond)
	wg.Add(1)
	go send() // waits, and gets the connection when the first is done
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(statuses)
	var got []int
	for s := range statuses {
		got = append(got, s)
	}
	if slices.Sort(got); !slices.Equal(got, []int{200, 200, 503}) {
		t.Errorf("statuses %v, want 200, 200, 503", got)
	}
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("server accepted %d connections", n)
	}
}

// TestPoolHandsOverInOrder: at the connection limit, a released
// connection goes to the callers waiting for one in the order they came,
// and is never pooled for a later caller to take first; no connection is
// dialed.
func TestPoolHandsOverInOrder(t *testing.T) {
	srv := newRawBackend(t, func(c net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	b := newBackend("s1", srv.addr(), 1)
	b.setLimits(config.Limits{MaxConnsPerServer: 1, MaxIdlePerServer: 4}, config.DefaultTimeouts())
	t.Cleanup(b.close)
	first, err := b.get(0, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	release := make(chan struct{})
	for _, name := range []string{"b", "c", "d"} {
		want := b.nwaiters.Load() + 1
		go func() {
			sc, err := b.get(0, 5*time.Second, false)
			if err != nil {
				got <- name + ": " + err.Error()
				return
			}
			got <- name
			<-release
			b.put(0, sc)
		}()
		waitUntil(t, func() bool { return b.nwaiters.Load() == want })
	}
	b.put(0, first)
	if sc := b.pop(0); sc != nil { // what a newcomer's get tries first
		t.Fatal("the released connection was pooled for anyone while callers waited for it")
	}
	var order []string
	for range 3 {
		select {
		case name := <-got:
			order = append(order, name)
			release <- struct{}{}
		case <-time.After(5 * time.Second):
			t.Fatalf("callers served so far: %v", order)
		}
	}
	if !slices.Equal(order, []string{"b", "c", "d"}) {
		t.Errorf("served in the order %v, want b c d", order)
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("%d connections dialed, want 1", n)
	}
}
