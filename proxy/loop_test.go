package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests follow a keep-alive connection through the raw read loop
// (serveLoop) and out of it: requests arriving at every point of it,
// the timeouts and stops that must still end its wait, and the requests
// it leaves to the normal path.

// echoBackend answers each request with its method, target and body. A
// request for /hold is answered once release is called (at the latest at
// the end of the test), after its head was sent on held.
func echoBackend(t *testing.T) (b *rawBackend, held <-chan string, release func()) {
	h, rel := make(chan string, 4), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	b = newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			if req.URL.Path == "/hold" {
				h <- req.Method + " " + req.URL.Path
				<-rel
			}
			out := req.Method + " " + req.URL.Path + " " + string(body)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(out), out)
		}
	})
	t.Cleanup(release) // before the backend's own cleanup, which waits for its handlers
	return b, h, release
}

// expectEcho reads a response and checks it is echoBackend's for want,
// arriving within d.
func expectEcho(t *testing.T, c net.Conn, br *bufio.Reader, want string, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if r := readResp(t, br, false); r.status != 200 || r.body != want {
		t.Fatalf("got %d %q, want 200 %q", r.status, r.body, want)
	}
}

// TestLoopPipelined: a request is answered at once wherever in the loop
// its bytes arrive: with the previous one, while the previous one is
// with the server (read, not answered yet), after its response, in
// pieces, and after a partial second request in the first's segment.
// The idle timeout is long: a request noticed late would wait for it.
func TestLoopPipelined(t *testing.T) {
	b, held, release := echoBackend(t)
	e := setup(t, offSticky+`, "timeouts": {"idle": "30s", "read_header": "20s"}`, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	const prompt = 2 * time.Second
	req := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n" }

	io.WriteString(c, req("/1")+req("/2"))
	expectEcho(t, c, br, "GET /1 ", prompt)
	expectEcho(t, c, br, "GET /2 ", prompt)

	// The proxy has read /hold and waits for its server when /3 comes.
	io.WriteString(c, req("/hold"))
	<-held
	io.WriteString(c, req("/3"))
	time.Sleep(20 * time.Millisecond)
	release()
	expectEcho(t, c, br, "GET /hold ", prompt)
	expectEcho(t, c, br, "GET /3 ", prompt)

	io.WriteString(c, req("/4"))
	expectEcho(t, c, br, "GET /4 ", prompt)

	for _, pieces := range [][]string{
		{"GET /5 HTTP/1.1\r\nHo", "st: a\r\n\r\n"},
		{"GET /6 HTTP/1.1\r\nHost: a\r\n\r", "\n"},
		{"\r\n", "GET /7 HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"\r", "\nGET /8 HTTP/1.1\r\nHost: a\r\n\r\n"},
		{req("/9") + "GET /10 HTT", "P/1.1\r\nHost: a\r\n\r\n"},
	} {
		for _, p := range pieces {
			io.WriteString(c, p)
			time.Sleep(30 * time.Millisecond)
		}
		for _, p := range pieces {
			for _, path := range []string{"/5", "/6", "/7", "/8", "/9", "/10"} {
				if strings.Contains(p, "GET "+path+" ") {
					expectEcho(t, c, br, "GET "+path+" ", prompt)
				}
			}
		}
	}
}

// TestLoopPipelinedJitter: a client that writes its requests at random
// moments, regardless of the responses, gets every one answered in order
// and in time, whichever step of the loop each write meets.
func TestLoopPipelinedJitter(t *testing.T) {
	b, _, _ := echoBackend(t)
	e := setup(t, offSticky+`, "timeouts": {"idle": "30s"}`, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	const n = 300
	go func() {
		for i := range n {
			io.WriteString(c, fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
			if d := rand.IntN(4); d > 0 {
				time.Sleep(time.Duration(d*50) * time.Microsecond)
			}
		}
	}()
	for i := range n {
		expectEcho(t, c, br, fmt.Sprintf("GET /%d ", i), 2*time.Second)
	}
}

// TestLoopTimeouts: the loop's wait ends at the idle timeout, counted from
// the last response, and a head that stops halfway after keep-alive
// requests is cut off at the read-header timeout.
func TestLoopTimeouts(t *testing.T) {
	b, _, _ := echoBackend(t)
	t.Run("idle", func(t *testing.T) {
		e := setup(t, offSticky+`, "timeouts": {"idle": "300ms"}`, map[string]string{"s1": b.addr()})
		c, br := e.dial()
		for i := range 3 {
			io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
			expectEcho(t, c, br, "GET /a ", 2*time.Second)
			if i < 2 {
				time.Sleep(200 * time.Millisecond) // idle less than the timeout each time
			}
		}
		start := time.Now()
		if !closedWithin(c, br, 3*time.Second) {
			t.Fatal("idle connection kept")
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("closed after %v, before the idle timeout", d)
		}
	})
	t.Run("read header", func(t *testing.T) {
		e := setup(t, offSticky+`, "timeouts": {"idle": "30s", "read_header": "300ms"}`, map[string]string{"s1": b.addr()})
		c, br := e.dial()
		io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
		expectEcho(t, c, br, "GET /a ", 2*time.Second)
		start := time.Now()
		io.WriteString(c, "GET /b HTTP/1.1\r\n")
		if !closedWithin(c, br, 3*time.Second) {
			t.Fatal("half a head kept the connection open")
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
			t.Errorf("closed after %v, want the read-header timeout", d)
		}
		if n := e.p.Stats().Errors["read_timeout"]; n != 1 {
			t.Errorf("read_timeout counted %d times", n)
		}
	})
}

// TestLoopStops: Shutdown and CloseListener close keep-alive connections
// waiting in the loop at once; when Shutdown's time is up, a connection
// whose request waits inside the loop for a server that never answers is
// closed, and Shutdown returns on time.
func TestLoopStops(t *testing.T) {
	b, held, _ := echoBackend(t)
	used := func(e *env) (net.Conn, *bufio.Reader) {
		c, br := e.dial()
		for range 3 {
			io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
			expectEcho(t, c, br, "GET /a ", 2*time.Second)
		}
		return c, br
	}
	t.Run("shutdown", func(t *testing.T) {
		e := setup(t, offSticky+`, "timeouts": {"idle": "30s"}`, map[string]string{"s1": b.addr()})
		c, br := used(e)
		start := time.Now()
		if err := e.p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(c, br, time.Second) {
			t.Error("idle connection not closed")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Shutdown took %v", d)
		}
	})
	t.Run("close listener", func(t *testing.T) {
		e := setup(t, offSticky+`, "timeouts": {"idle": "30s"}`, map[string]string{"s1": b.addr()})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go e.p.Serve(ln, ListenerOptions{})
		e.addr = ln.Addr().String()
		c, br := used(e)
		start := time.Now()
		if err := e.p.CloseListener(context.Background(), ln); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(c, br, time.Second) {
			t.Error("idle connection not closed")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("CloseListener took %v", d)
		}
	})
	t.Run("deadline while waiting", func(t *testing.T) {
		// A new connection waiting in the loop for its first request gets
		// firstRequestGrace from the stop, but Shutdown's end cuts it short.
		e := setup(t, offSticky+`, "timeouts": {"idle": "30s"}`, map[string]string{"s1": b.addr()})
		c, br := e.dial()
		time.Sleep(50 * time.Millisecond) // the proxy waits for the request
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := e.p.Shutdown(ctx); err != context.DeadlineExceeded {
			t.Errorf("Shutdown: %v", err)
		}
		if !closedWithin(c, br, time.Second) {
			t.Error("connection left open")
		}
		if d := time.Since(start); d >= firstRequestGrace {
			t.Errorf("closed after %v, not at Shutdown's deadline", d)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		e := setup(t, offSticky+`, "timeouts": {"idle": "30s", "response_header": "30s"}`, map[string]string{"s1": b.addr()})
		c, br := used(e)
		// A POST, which is not retried when its server connection breaks
		// (a GET on a reused one would be, on a fresh one, and wait again).
		io.WriteString(c, "POST /hold HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
		<-held // never released: the server holds the request
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := e.p.Shutdown(ctx); err != context.DeadlineExceeded {
			t.Errorf("Shutdown: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Shutdown took %v", d)
		}
		if !closedWithin(c, br, 2*time.Second) {
			t.Error("connection left open")
		}
	})
	t.Run("deadline, GET on a reused server connection", func(t *testing.T) {
		// The cut server connection looks like one the server closed
		// while idle, which a GET is retried after; not when the proxy
		// cut it itself: the request must not reach the server again.
		b, held, _ := echoBackend(t)
		e := setup(t, offSticky+`, "timeouts": {"idle": "30s", "response_header": "30s"}`, map[string]string{"s1": b.addr()})
		c, br := used(e)
		io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n")
		<-held
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := e.p.Shutdown(ctx); err != context.DeadlineExceeded {
			t.Errorf("Shutdown: %v", err)
		}
		if !closedWithin(c, br, 2*time.Second) {
			t.Error("connection left open")
		}
		select {
		case r := <-held:
			t.Errorf("%s sent to the server again after the proxy cut it", r)
		case <-time.After(300 * time.Millisecond):
		}
	})
}

// TestLoopLeaves: after bodiless requests served in the loop, requests it
// leaves to the normal path are served whole on the same connection: a
// body still arriving (by length and chunked), one sent whole with its
// head, Expect: 100-continue, and the loop takes over again after each.
func TestLoopLeaves(t *testing.T) {
	b, _, _ := echoBackend(t)
	e := setup(t, offSticky+`, "timeouts": {"idle": "30s"}`, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	get := func(path string) {
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		expectEcho(t, c, br, "GET "+path+" ", 2*time.Second)
	}
	get("/1")
	io.WriteString(c, "POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
	time.Sleep(30 * time.Millisecond)
	io.WriteString(c, "he")
	time.Sleep(30 * time.Millisecond)
	io.WriteString(c, "llo")
	expectEcho(t, c, br, "POST /len hello", 2*time.Second)
	get("/2")
	io.WriteString(c, "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
	time.Sleep(30 * time.Millisecond)
	io.WriteString(c, "2\r\nde\r\n0\r\n\r\n")
	expectEcho(t, c, br, "POST /chunked abcde", 2*time.Second)
	get("/3")
	io.WriteString(c, "PUT /whole HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /4 HTTP/1.1\r\nHost: a\r\n\r\n")
	expectEcho(t, c, br, "PUT /whole xyz", 2*time.Second)
	expectEcho(t, c, br, "GET /4 ", 2*time.Second)
	io.WriteString(c, "POST /expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
	if r := readResp(t, br, false); r.status != 100 {
		t.Fatalf("status %d, want 100 Continue", r.status)
	}
	io.WriteString(c, "ok")
	expectEcho(t, c, br, "POST /expect ok", 2*time.Second)
	get("/5")
}

// TestLoopUpgrade: an upgrade after a bodiless request leaves the loop for
// the tunnel.
func TestLoopUpgrade(t *testing.T) {
	b := wsBackend(t)
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, br, false); r.status != 400 || r.close {
		t.Fatalf("plain request: %d close=%v, want wsBackend's 400, kept", r.status, r.close)
	}
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if head := readWireHead(br); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("response head:\n%s", head)
	}
	io.WriteString(c, "ping")
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
}

// TestLoopHalfClose: a client that sends its last request and its FIN
// together (a half-close) gets its answer and the connection closes at
// once, not at the idle timeout: the read that got the request left the
// end of the stream behind it, which the loop must not wait past.
func TestLoopHalfClose(t *testing.T) {
	b, _, _ := echoBackend(t)
	e := setup(t, offSticky+`, "timeouts": {"idle": "30s"}`, map[string]string{"s1": b.addr()})
	for _, before := range []int{0, 2} {
		c, br := e.dial()
		for range before {
			io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
			expectEcho(t, c, br, "GET /a ", 2*time.Second)
		}
		io.WriteString(c, "GET /last HTTP/1.1\r\nHost: a\r\n\r\n")
		c.(*net.TCPConn).CloseWrite()
		expectEcho(t, c, br, "GET /last ", 2*time.Second)
		if !closedWithin(c, br, 2*time.Second) {
			t.Errorf("after %d requests: connection kept after the client's FIN", before)
		}
	}
}
