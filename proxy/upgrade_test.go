package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// wsBackend switches to an echo protocol on an upgrade request, and
// answers 101 unasked on /rogue.
func wsBackend(t *testing.T) *rawBackend {
	return newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		head := readWireHead(br)
		if !strings.Contains(head, "/rogue") &&
			(!strings.Contains(head, "\r\nConnection: Upgrade\r\n") || !strings.Contains(head, "\r\nUpgrade: websocket\r\n")) {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n")
		io.Copy(c, br)
	})
}

func TestUpgrade(t *testing.T) {
	b := wsBackend(t)
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\nearly ")
	head := readWireHead(br)
	if !strings.HasPrefix(head, "HTTP/1.1 101 Switching Protocols\r\n") ||
		!strings.Contains(head, "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n") {
		t.Fatalf("response head:\n%s", head)
	}
	for _, msg := range []string{"ping", "pong", strings.Repeat("x", 100<<10)} {
		io.WriteString(c, msg)
		want := msg
		if msg == "ping" {
			want = "early ping"
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
			t.Fatalf("echo %q: got %.20q, %v", msg, got, err)
		}
	}
	c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for e.p.Stats().Servers["s1"].Open != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := e.p.Stats().Servers["s1"]; s.Open != 0 {
		t.Errorf("server connection open after the client left: %+v", s)
	}
}

func TestUnrequestedUpgrade(t *testing.T) {
	b := wsBackend(t)
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	if r := e.roundTrip("GET /rogue HTTP/1.1\r\nHost: a\r\n\r\n"); r.status != 502 {
		t.Errorf("status %d, want 502", r.status)
	}
}
