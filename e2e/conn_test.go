package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentClients runs many keep-alive clients at once over several
// servers, each request with its own body: every response is the echo of
// its own request, never another's. With -race the proxy runs under the
// race detector too, so this is also its race test on real traffic.
func TestConcurrentClients(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.RequestURI, body)
	}
	bs := []*backend{newHandlerBackend(t, "s1", echo), newHandlerBackend(t, "s2", echo), newHandlerBackend(t, "s3", echo)}
	p := startServe(t, bs, "sticky: {mode: off}\nroutes:\n  - {name: all, servers: [s1, s2, s3]}\n")

	const clients, perClient = 16, 40
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, false)
			for j := 0; j < perClient; j++ {
				method, body := "GET", ""
				if j%3 == 0 {
					method, body = "POST", strings.Repeat(fmt.Sprintf("<%d.%d>", i, j), j*50)
				}
				target := fmt.Sprintf("/c/%d/%d?q=%d", i, j, i*j)
				req := request(t, method, p.Addr, "", target, strings.NewReader(body))
				resp, err := c.Do(req)
				if err != nil {
					errs <- fmt.Sprintf("client %d request %d: %v", i, j, err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := method + " " + target + " " + body; err != nil || resp.StatusCode != 200 || string(got) != want {
					errs <- fmt.Sprintf("client %d request %d: status %d, body %.80q (err %v), want %.80q", i, j, resp.StatusCode, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for _, b := range bs {
		if b.count() == 0 {
			t.Errorf("%s got no request: round robin should spread %d requests", b.ID, clients*perClient)
		}
	}
}

// TestKeepAliveFraming pipelines, on one client connection, responses
// whose length the proxy must know without a body to count: HEAD (with a
// Content-Length), 204, 304, then a plain GET. Each response must end
// where it should, or the next one is misread.
func TestKeepAliveFraming(t *testing.T) {
	be := newHandlerBackend(t, "s1", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			io.WriteString(w, "last")
		}
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: a, servers: [s1]}\n")

	conn, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	reqs := []struct{ method, path string }{{"HEAD", "/head"}, {"GET", "/204"}, {"GET", "/304"}, {"GET", "/last"}}
	var all strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&all, "%s %s HTTP/1.1\r\nHost: k.example.com\r\n\r\n", r.method, r.path)
	}
	// All at once: the proxy must answer pipelined requests in order.
	if _, err := io.WriteString(conn, all.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	want := []int{200, 204, 304, 200}
	for i, r := range reqs {
		resp, err := http.ReadResponse(br, &http.Request{Method: r.method})
		if err != nil {
			t.Fatalf("response %d (%s %s): %v", i, r.method, r.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != want[i] {
			t.Fatalf("response %d (%s %s): status %d (err %v), want %d", i, r.method, r.path, resp.StatusCode, err, want[i])
		}
		if r.method == "HEAD" && resp.ContentLength != 1234 {
			t.Errorf("HEAD: Content-Length %d, want the server's 1234", resp.ContentLength)
		}
		if r.path == "/last" && string(body) != "last" {
			t.Errorf("last response body %q, want %q", body, "last")
		}
	}
}

// TestRetryRules checks when the proxy tries another server: a request of
// any method whose server cannot be reached; an idempotent one whose
// connection broke before any response byte; never a POST that may have
// been processed, nor a response already begun.
func TestRetryRules(t *testing.T) {
	// hangup reads a request and closes without answering.
	hangup := rawBackend(t, "hangup", func(conn net.Conn, br *bufio.Reader) {
		if req, err := http.ReadRequest(br); err == nil {
			io.Copy(io.Discard, req.Body)
		}
	})
	// partial starts a response and breaks off in the middle of its body.
	partial := rawBackend(t, "partial", func(conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Backend: partial\r\n\r\nonly part")
	})
	dead := &backend{ID: "dead", URL: "http://" + freePort(t)} // nothing listens
	ok := newBackend(t, "ok")
	// Round robin starts at the first server, so each route's first
	// request goes to the failing one.
	p := startServe(t, []*backend{hangup, partial, dead, ok}, `
sticky: {mode: off}
health: {fails: 100}
timeouts: {connect: 1s}
routes:
  - {name: hangup, path: /hangup/*, servers: [hangup, ok]}
  - {name: partial, path: /partial/*, servers: [partial, ok]}
  - {name: dead, path: /dead/*, servers: [dead, ok]}
`)
	c := newClient(t, false)

	t.Run("unreachable: any method moves on", func(t *testing.T) {
		before := ok.count()
		r := do(t, c, request(t, "POST", p.Addr, "", "/dead/x", strings.NewReader("payload")))
		if r.Status != 200 || r.Backend != "ok" || ok.count() != before+1 {
			t.Errorf("POST to a route whose first server is down: status %d from %q, want 200 from ok", r.Status, r.Backend)
		}
	})

	t.Run("idempotent GET retried once after a hang-up", func(t *testing.T) {
		before := ok.count()
		r := get(t, c, p.Addr, "", "/hangup/get")
		if r.Status != 200 || r.Backend != "ok" || ok.count() != before+1 {
			t.Errorf("GET whose server hung up: status %d from %q, want 200 from ok", r.Status, r.Backend)
		}
	})

	t.Run("POST not retried after a hang-up", func(t *testing.T) {
		// Make sure the route's counter points at hangup again.
		get(t, c, p.Addr, "", "/hangup/align")
		before := ok.count()
		r := do(t, c, request(t, "POST", p.Addr, "", "/hangup/post", strings.NewReader("once only")))
		if r.Status != 502 || ok.count() != before {
			t.Errorf("POST whose server hung up: status %d from %q (ok got %d more), want 502 and no retry", r.Status, r.Backend, ok.count()-before)
		}
	})

	t.Run("a response begun is never retried", func(t *testing.T) {
		before := ok.count()
		resp, err := c.Do(request(t, "GET", p.Addr, "", "/partial/x", nil))
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "partial" || err == nil {
			t.Errorf("status %d from %q, body %q, read error %v: want partial's 200 and a truncated body", resp.StatusCode, resp.Header.Get("X-Backend"), body, err)
		}
		if ok.count() != before {
			t.Error("the request went to another server after a response had begun")
		}
	})
}

// TestStreaming checks that bodies flow as they come, in both directions:
// a server's flushed chunk reaches the client before the server goes on,
// and a client's first chunk reaches the server before the client sends
// the rest. A proxy that buffered whole bodies would deadlock here.
func TestStreaming(t *testing.T) {
	clientGot := make(chan struct{})
	serverGot := make(chan struct{})
	be := newHandlerBackend(t, "s1", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			io.WriteString(w, "first;")
			w.(http.Flusher).Flush()
			select {
			case <-clientGot:
				io.WriteString(w, "second")
			case <-time.After(5 * time.Second):
				io.WriteString(w, "timeout")
			}
		case "/up":
			buf := make([]byte, 6)
			if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "first;" {
				http.Error(w, "bad first chunk", 500)
				return
			}
			close(serverGot)
			rest, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s%s", buf, rest)
		}
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: a, servers: [s1]}\n")
	c := newClient(t, false)

	t.Run("response", func(t *testing.T) {
		resp, err := c.Do(request(t, "GET", p.Addr, "", "/down", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 6)
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first;" {
			t.Fatalf("first chunk %q, %v", buf, err)
		}
		close(clientGot)
		rest, _ := io.ReadAll(resp.Body)
		if string(rest) != "second" {
			t.Errorf("rest %q, want second: the first chunk did not arrive while the server waited", rest)
		}
	})

	t.Run("request", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			io.WriteString(pw, "first;")
			select {
			case <-serverGot:
				io.WriteString(pw, "second")
				pw.Close()
			case <-time.After(5 * time.Second):
				pw.CloseWithError(fmt.Errorf("the server never got the first chunk"))
			}
		}()
		req := request(t, "POST", p.Addr, "", "/up", pr)
		req.ContentLength = -1
		r := do(t, c, req)
		if r.Status != 200 || r.Body != "first;second" {
			t.Errorf("status %d, body %q; want 200 first;second", r.Status, r.Body)
		}
	})
}

// closingBackend answers each request on a keep-alive connection, then
// closes the connection 50ms later while it is idle, as a server with a
// short keep-alive timeout does (RFC 9112 section 9.3 lets it).
func closingBackend(t *testing.T, id string) *backend {
	return rawBackend(t, id, func(conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Backend: %s\r\n\r\n%s", len(id), id, id)
		time.Sleep(50 * time.Millisecond)
	})
}

// TestStaleKeepAlive sends requests to servers that close idle keep-alive
// connections: an idempotent request that meets such a connection in the
// proxy's pool must still succeed, on the same server (a closed idle
// connection is no failure of the server): no 502, no session moved.
func TestStaleKeepAlive(t *testing.T) {
	t.Run("single server", func(t *testing.T) {
		be := closingBackend(t, "s1")
		p := startServe(t, []*backend{be}, "routes:\n  - {name: a, servers: [s1]}\n")
		c := newClient(t, false)
		for i := 0; i < 4; i++ {
			if r := get(t, c, p.Addr, "", "/x"); r.Status != 200 {
				t.Errorf("request %d: status %d, body %q; want 200: the server is up, only its idle connection was closed", i, r.Status, r.Body)
			}
			time.Sleep(150 * time.Millisecond) // the server closes the idle connection meanwhile
		}
	})

	t.Run("sticky session stays", func(t *testing.T) {
		s1, s2 := closingBackend(t, "s1"), newBackend(t, "s2")
		p := startServe(t, []*backend{s1, s2}, "sticky: {secret: stale}\nroutes:\n  - {name: a, servers: [s1, s2]}\n")
		c := newClient(t, true)
		first := get(t, c, p.Addr, "", "/x") // round robin starts with s1
		if first.Status != 200 || first.Backend != "s1" {
			t.Fatalf("first request: status %d from %q, want 200 from s1", first.Status, first.Backend)
		}
		for i := 0; i < 4; i++ {
			time.Sleep(150 * time.Millisecond)
			r := get(t, c, p.Addr, "", "/x")
			if r.Status != 200 || r.Backend != "s1" {
				t.Fatalf("request %d: status %d from %q (Set-Cookie %q); want 200 from s1: the session moved although s1 is up",
					i, r.Status, r.Backend, r.Header.Get("Set-Cookie"))
			}
		}
	})
}
