package proxy

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"l7lb/config"
)

// smuggled is a whole response that a broken or hostile server sends
// where none is due: a proxy that pools the connection with it unread
// hands it to the next client as that client's response.
const smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Smuggled: 1\r\n\r\nevil"

// ownResponse is what the scripted backend answers a request for target
// that it has no script for: a body naming the target, so a client can tell
// its own response from another's.
func ownResponse(target string) string {
	body := "own:" + target
	return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// scriptBackend is a raw server that answers each request by its target:
// script[target] when there is one (written as is, after an optional
// pause, and then late written after lateDelay), ownResponse otherwise.
type scriptStep struct {
	reply     string
	late      string        // written lateDelay after reply
	lateDelay time.Duration // for late
}

func scriptBackend(t *testing.T, script map[string]scriptStep) (*rawBackend, *sync.WaitGroup) {
	var late sync.WaitGroup
	for _, s := range script {
		if s.late != "" {
			late.Add(1)
		}
	}
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readWireHead(br)
			if h == "" || !skipBody(h, br) {
				return
			}
			target := strings.SplitN(h, " ", 3)[1]
			s, ok := script[target]
			if !ok {
				io.WriteString(c, ownResponse(target))
				continue
			}
			io.WriteString(c, s.reply)
			if s.late != "" {
				time.Sleep(s.lateDelay)
				io.WriteString(c, s.late)
				late.Done()
			}
		}
	})
	return b, &late
}

// skipBody reads the body of the request whose head is h, and reports
// whether it could.
func skipBody(h string, br *bufio.Reader) bool {
	lower := strings.ToLower(h)
	if i := strings.Index(lower, "\r\ncontent-length: "); i >= 0 {
		n, _ := strconv.Atoi(strings.SplitN(lower[i+len("\r\ncontent-length: "):], "\r\n", 2)[0])
		_, err := br.Discard(n)
		return err == nil
	}
	if !strings.Contains(lower, "\r\ntransfer-encoding: chunked\r\n") {
		return true
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
		if n == 0 {
			break
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return false
		}
	}
	for { // the trailer section
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			return true
		}
	}
}

// TestNoResponseDesync: bytes a server sends beyond the end of its response
// never reach another client. The first client's exchange leaves bytes on
// the server connection (a body after a response that has none, bytes after
// a Content-Length body, bytes that arrive after the response was read);
// a second client, on its own connection, must get its own response, and
// the tainted connection must be closed rather than pooled.
func TestNoResponseDesync(t *testing.T) {
	tests := []struct {
		name, method string
		step         scriptStep
	}{
		{"HEAD answered with a body", "HEAD", scriptStep{reply: "HTTP/1.1 200 OK\r\nContent-Length: " +
			strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled}},
		{"204 with a body", "GET", scriptStep{reply: "HTTP/1.1 204 No Content\r\nContent-Length: " +
			strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled}},
		{"304 with a body", "GET", scriptStep{reply: "HTTP/1.1 304 Not Modified\r\nContent-Length: " +
			strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled}},
		{"204 with a chunked body", "GET", scriptStep{reply: "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(smuggled)), 16) + "\r\n" + smuggled + "\r\n0\r\n\r\n"}},
		{"bytes after a Content-Length body", "GET", scriptStep{reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" + smuggled}},
		{"bytes after a chunked body", "GET", scriptStep{reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n" + smuggled}},
		{"bytes arriving after the response", "GET", scriptStep{reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
			late: smuggled, lateDelay: 20 * time.Millisecond}},
		{"bytes arriving after a HEAD response", "HEAD", scriptStep{reply: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
			late: smuggled, lateDelay: 20 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, late := scriptBackend(t, map[string]scriptStep{"/first": tt.step})
			e := setup(t, offSticky, map[string]string{"s1": b.addr()})

			c1, br1 := e.dial()
			io.WriteString(c1, tt.method+" /first HTTP/1.1\r\nHost: a\r\n\r\n")
			r1 := readResp(t, br1, tt.method == "HEAD")
			if r1.headers.Get("X-Smuggled") != "" {
				t.Fatalf("first client got the smuggled response")
			}
			// The late bytes are in the proxy's socket, unread, before the
			// second request takes a connection from the pool.
			late.Wait()
			time.Sleep(20 * time.Millisecond)

			for i, c := range []string{"/second", "/third"} {
				c2, br2 := e.dial()
				io.WriteString(c2, "GET "+c+" HTTP/1.1\r\nHost: a\r\n\r\n")
				r2 := readResp(t, br2, false)
				if r2.status != 200 || r2.body != "own:"+c || r2.headers.Get("X-Smuggled") != "" {
					t.Errorf("client %d got status %d, body %q, X-Smuggled %q: not its own response",
						i+2, r2.status, r2.body, r2.headers.Get("X-Smuggled"))
				}
			}
			if n := b.accepted.Load(); n != 2 {
				t.Errorf("the server accepted %d connections, want 2: the tainted one closed, the next one pooled", n)
			}
		})
	}
}

// TestPooledConnectionReused checks the other side of TestNoResponseDesync:
// a clean exchange leaves the connection pooled and reused, even when the
// next request comes at once.
func TestPooledConnectionReused(t *testing.T) {
	b, _ := scriptBackend(t, nil)
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	for i := range 5 {
		c, br := e.dial()
		target := "/" + strconv.Itoa(i)
		io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := readResp(t, br, false); r.body != "own:"+target {
			t.Errorf("%s: body %q", target, r.body)
		}
	}
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("%d server connections, want 1", n)
	}
}

// TestProbeRule pins when pop probes a pooled connection: always when the
// last response was suspect (no body by rule, one announced), however hot
// the connection; otherwise once it sat idle probeAfter. A connection
// reused hot after a clean response is not probed: the documented price
// of a system call per request.
func TestProbeRule(t *testing.T) {
	ln := strayServer(t)
	for _, tt := range []struct {
		name       string
		suspect    bool
		idle       time.Duration
		wantPopped bool
	}{
		{"suspect, hot", true, 0, false},
		{"clean, idle", false, 2 * probeAfter, false},
		{"clean, hot", false, 0, true},
	} {
		b := newBackend("s1", ln.Addr().String(), 1)
		b.setLimits(config.Limits{MaxIdlePerServer: 4}, config.Timeouts{BackendIdle: time.Minute, Connect: time.Second})
		sc, err := b.get(0, time.Second, false)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the stray bytes arrive
		b.put(0, sc)
		sc.suspect = tt.suspect
		sc.idleSince = time.Now().Add(-tt.idle)
		got := b.pop(0)
		if (got != nil) != tt.wantPopped {
			t.Errorf("%s: popped %v, want %v", tt.name, got != nil, tt.wantPopped)
		}
		b.close()
		if got != nil {
			b.discard(got)
		}
	}
}

// TestPopPrefersHot: pop takes a connection that needs no probe from
// another shard before probing the one on its own shard, which stays
// pooled, and probes it when no other is left.
func TestPopPrefersHot(t *testing.T) {
	ln := strayServer(t)
	b := newBackend("s1", ln.Addr().String(), 2)
	b.setLimits(config.Limits{MaxIdlePerServer: 4}, config.Timeouts{BackendIdle: time.Minute, Connect: time.Second})
	defer b.close()
	cold, err := b.get(0, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	hot, err := b.get(1, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the stray bytes arrive
	b.put(0, cold)
	cold.idleSince = time.Now().Add(-2 * probeAfter)
	b.put(1, hot)
	if got := b.pop(0); got != hot {
		t.Fatalf("pop(0) took the cold connection of its own shard, not the hot one of the other")
	}
	if _, idle := b.counts(); idle != 1 {
		t.Fatalf("%d connections pooled, want the cold one left", idle)
	}
	if got := b.pop(0); got != nil {
		t.Errorf("pop(0) reused the cold connection with stray bytes")
	}
	if open, idle := b.counts(); open != 1 || idle != 0 {
		t.Errorf("%d open, %d pooled; want 1 open (the hot one), the cold one closed", open, idle)
	}
	b.discard(hot)
}

// strayServer listens on loopback and sends "stray" on every connection it
// accepts, what a probe of a pooled connection finds; it stops with the
// test.
func strayServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			io.WriteString(c, "stray")
		}
	}()
	return ln
}
