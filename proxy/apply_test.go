package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"l7lb/config"
)

// decodeFile decodes a serve configuration document (JSON).
func decodeFile(t *testing.T, doc string) *config.File {
	t.Helper()
	v, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.DecodeFile(v, true)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return f
}

// TestApply: a new configuration takes the next request of an open
// keep-alive connection; a server whose address is unchanged keeps its
// pooled connection; a removed server's request in flight finishes, and
// its pool closes once it has.
func TestApply(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "old")
	})
	other := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "new") })
	e := setup(t, offSticky+`, "default_servers": ["old"]`, map[string]string{"old": slow, "keep": other})

	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, br, false); r.body != "old" {
		t.Fatalf("before: %q", r.body)
	}
	// A request in flight on old.
	inflight, inflightBR := e.dial()
	io.WriteString(inflight, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-arrived

	// old removed: only keep.
	f := decodeFile(t, `{"listen": "127.0.0.1:1", "servers": {"keep": "http://`+other+`"}, "sticky": {"mode": "off"}, "drain_timeout": "5s"}`)
	if err := e.p.Apply(testConfig(t, e.eng, f)); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, br, false); r.body != "new" || r.close {
		t.Errorf("the keep-alive connection's next request: %q close=%v", r.body, r.close)
	}
	if s := e.p.Stats(); len(s.Servers) != 1 || s.Servers["keep"].Idle != 1 {
		t.Errorf("stats after the change: %+v", s.Servers)
	}
	close(release)
	if r := readResp(t, inflightBR, false); r.status != 200 || r.body != "old" {
		t.Errorf("the request in flight on the removed server: %d %q", r.status, r.body)
	}
	// Its pool closes once the request is done.
	waitUntil(t, func() bool {
		e.p.cfgMu.Lock()
		defer e.p.cfgMu.Unlock()
		return len(e.p.pools) == 1
	})
}

// TestRetireGrace: a removed server's request still in flight after the
// drain timeout has its connection closed; a server removed and configured
// again before that keeps its pool.
func TestRetireGrace(t *testing.T) {
	hold, arrived := make(chan struct{}), make(chan struct{}, 1)
	stuck := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { arrived <- struct{}{}; <-hold })
	t.Cleanup(func() { close(hold) }) // before the backend's Close, which waits for its handlers
	other := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	e := setup(t, offSticky+`, "default_servers": ["stuck"]`, map[string]string{"stuck": stuck, "other": other})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-arrived
	f := decodeFile(t, `{"listen": "127.0.0.1:1", "servers": {"other": "http://`+other+`"}, "sticky": {"mode": "off"}, "drain_timeout": "100ms"}`)
	start := time.Now()
	e.p.Apply(testConfig(t, e.eng, f))
	r := readResp(t, br, false)
	if r.status != 502 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("the stuck request: %d after %v, want 502 after the drain timeout", r.status, time.Since(start))
	}
}

// TestCloseListener: a retired listener stops accepting; its idle
// connections close, one serving a request closes after the response;
// another listener's connections are not touched.
func TestCloseListener(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	b := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	})
	e := setup(t, offSticky, map[string]string{"s1": b})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.p.Serve(ln, ListenerOptions{}) }()
	dial := func(addr string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	idle, idleBR := dial(ln.Addr().String())
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResp(t, idleBR, false)
	busy, busyBR := dial(ln.Addr().String())
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-arrived
	other, otherBR := e.dial()

	done := make(chan error, 1)
	go func() { done <- e.p.CloseListener(context.Background(), ln) }()
	if !closedWithin(idle, idleBR, 5*time.Second) {
		t.Error("the idle connection of the retired listener stayed open")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the retired listener still accepts")
	}
	close(release)
	if r := readResp(t, busyBR, false); r.status != 200 || !r.close {
		t.Errorf("the request in flight: %d close=%v", r.status, r.close)
	}
	if err := <-done; err != nil {
		t.Errorf("CloseListener: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	io.WriteString(other, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, otherBR, false); r.status != 200 || r.close {
		t.Errorf("the other listener's connection: %d close=%v", r.status, r.close)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDetach: a detached listener stops being served without being closed;
// served again, it answers the connections that waited in its queue, and
// those accepted before go on.
func TestDetach(t *testing.T) {
	b := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	e := setup(t, offSticky, map[string]string{"s1": b})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.p.Serve(ln, ListenerOptions{}) }()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	before, beforeBR := dial()
	io.WriteString(before, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResp(t, beforeBR, false)
	if err := e.p.Detach(ln); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Detach: %v", err)
	}
	waiting, waitingBR := dial() // queued by the kernel, not refused
	io.WriteString(waiting, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	go func() { served <- e.p.Serve(ln, ListenerOptions{}) }()
	if r := readResp(t, waitingBR, false); r.status != 200 {
		t.Errorf("the connection queued while detached: %d", r.status)
	}
	io.WriteString(before, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, beforeBR, false); r.status != 200 || r.close {
		t.Errorf("the connection accepted before: %d close=%v", r.status, r.close)
	}
}

// TestShutdownAnswersFirstRequest: a connection accepted just before
// Shutdown, whose request arrives a moment later, is answered (with
// Connection: close) rather than closed unread, which its client would
// see as a failed request; one that sends nothing within
// firstRequestGrace is closed.
func TestShutdownAnswersFirstRequest(t *testing.T) {
	b := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	e := setup(t, offSticky, map[string]string{"s1": b})
	late, lateBR := e.dial()
	silent, silentBR := e.dial()
	waitUntil(t, func() bool { return e.p.Stats().ClientConns == 2 })
	done := make(chan error, 1)
	go func() { done <- e.p.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	io.WriteString(late, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, lateBR, false); r.status != 200 || !r.close {
		t.Errorf("the first request of a connection accepted before Shutdown: %d close=%v", r.status, r.close)
	}
	if !closedWithin(silent, silentBR, 2*firstRequestGrace) {
		t.Error("a connection that sent nothing stayed open")
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestApplyServerTLS: an https:// server whose TLS configuration is the
// same keeps its pool (its connections and sessions); a new one (a
// renewed CA file, another tls block) is a new pool, whose handshakes use
// it, and the old pool drains as a removed server's does.
func TestApplyServerTLS(t *testing.T) {
	b, certPEM := tlsBackend(t, true, nil, nil, "127.0.0.1")
	_, otherPEM, _ := testCertPEM(t, "127.0.0.1")
	good := clientConf(t, b.url, &config.ServerTLS{CA: writeTemp(t, "ca.pem", certPEM)})
	wrong := clientConf(t, b.url, &config.ServerTLS{CA: writeTemp(t, "other.pem", otherPEM)})
	e := setupWith(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{serverTLS: map[string]*tls.Config{"s1": good}})
	status := func() int {
		c, br := e.dial()
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		return readResp(t, br, false).status
	}
	pool := func() *backend {
		e.p.cfgMu.Lock()
		defer e.p.cfgMu.Unlock()
		if len(e.p.pools) != 1 {
			return nil
		}
		for _, b := range e.p.pools {
			return b
		}
		return nil
	}
	apply := func(conf *tls.Config) {
		t.Helper()
		cfg := testConfig(t, e.eng, e.file)
		cfg.ServerTLS = map[string]*tls.Config{"s1": conf}
		if err := e.p.Apply(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if s := status(); s != 200 {
		t.Fatalf("before: %d", s)
	}
	before := pool()
	apply(good)
	if s := status(); s != 200 || pool() != before {
		t.Errorf("the same TLS configuration: %d, pool kept %v", s, pool() == before)
	}
	apply(wrong)
	if s := status(); s != 502 {
		t.Errorf("a CA that does not sign the server's certificate: %d, want 502", s)
	}
	waitUntil(t, func() bool { p := pool(); return p != nil && p != before })
}
