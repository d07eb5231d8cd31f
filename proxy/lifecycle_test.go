package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSlowloris: a head that trickles in is cut off by the read-header
// timeout, however steadily its bytes come.
func TestSlowloris(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, offSticky+`, "timeouts": {"read_header": "300ms"}`, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	for i := 0; i < 40; i++ {
		if _, err := io.WriteString(c, "X: y\r\n"); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
		if closedWithin(c, br, time.Millisecond) {
			break
		}
	}
	if !closedWithin(c, br, time.Second) {
		t.Fatal("slow head not cut off")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("closed after %v", d)
	}
	if n := e.p.Stats().Errors["read_timeout"]; n != 1 {
		t.Errorf("read_timeout counted %d times", n)
	}
}

func TestIdleTimeout(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, offSticky+`, "timeouts": {"idle": "200ms"}`, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResp(t, br, false)
	start := time.Now()
	if !closedWithin(c, br, 2*time.Second) {
		t.Fatal("idle connection kept")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

func TestPipelining(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []string{"GET /1 ", "POST /2 ", "GET /3 "} {
		if r := readResp(t, br, false); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		if h := <-heads; !strings.HasPrefix(h, want) {
			t.Errorf("server got %q, want %q first", h, want)
		}
	}
}

// TestShutdown: Shutdown lets a slow request in flight finish, closes an
// idle connection at once, and refuses new ones.
func TestShutdown(t *testing.T) {
	started := make(chan struct{})
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readWireHead(br)
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
	})
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	idle, idleBR := e.dial()
	busy, busyBR := e.dial()
	io.WriteString(busy, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- e.p.Shutdown(context.Background()) }()
	if !closedWithin(idle, idleBR, 5*time.Second) {
		t.Error("idle connection not closed")
	}
	r := readResp(t, busyBR, false)
	if r.status != 200 || r.body != "slow" || !r.close {
		t.Errorf("in-flight request: %d %q close=%v", r.status, r.body, r.close)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Shutdown returned after %v, before the request was done", d)
	}
	if c, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		c.Close()
		t.Error("new connection accepted after Shutdown")
	}
}

// TestShutdownDeadline: when its context ends, Shutdown closes what is
// left and says why.
func TestShutdownDeadline(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readWireHead(br)
		io.Copy(io.Discard, br)
	})
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.p.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v", err)
	}
	if !closedWithin(c, br, 5*time.Second) {
		t.Error("connection left open")
	}
}

func TestMaxClientConns(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, offSticky+`, "limits": {"max_client_conns": 1}`, map[string]string{"s1": b.addr()})
	c1, br1 := e.dial()
	io.WriteString(c1, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResp(t, br1, false)
	c2, br2 := e.dial()
	if r := readResp(t, br2, false); r.status != 503 || !r.close {
		t.Errorf("beyond the limit: status %d, close %v", r.status, r.close)
	}
	if !closedWithin(c2, br2, 5*time.Second) {
		t.Error("connection beyond the limit kept")
	}
	if s := e.p.Stats(); s.RejectedConns != 1 || s.ClientConns != 1 {
		t.Errorf("stats %+v", s)
	}
	c1.Close()
	deadline := time.Now().Add(3 * time.Second)
	for e.p.Stats().ClientConns != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c3, br3 := e.dial()
	io.WriteString(c3, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := readResp(t, br3, false); r.status != 200 {
		t.Errorf("status %d once a slot is free", r.status)
	}
}

func TestAccessLog(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, offSticky+`, "routes": [{"name": "web", "path": "/*", "servers": ["s1"]}], "default_servers": []`,
		map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET /a\"b?q HTTP/1.1\r\nHost: a\r\n\r\n")
	readResp(t, br, false)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	readResp(t, br, false)
	log := e.accessLog(2)
	rev := e.file.Hash()
	want := regexp.MustCompile(`^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) request_id=[0-9a-f]{16}-1 client_addr=127\.0\.0\.1 ` +
		`method=GET host=a path="/a\\"b\?q" proto=HTTP/1\.1 status=200 bytes_received=32 bytes_sent=\d+ duration_us=\d+ route=web server=s1 ` +
		`upstream_time_us=\d+ retries=0 sticky=none user_agent="" referer="" config_revision=1-` + rev + `\n` +
		`time=\S+ request_id="" client_addr=127\.0\.0\.1 method=GET host=a path=/ proto=HTTP/1\.1 status=400 bytes_received=36 bytes_sent=\d+ ` +
		`duration_us=\d+ route="" server="" upstream_time_us=-1 retries=0 sticky=none user_agent="" referer="" config_revision=1-` + rev + `\n$`)
	if !want.MatchString(log) {
		t.Errorf("access log:\n%s", log)
	}
}
