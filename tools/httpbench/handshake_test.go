package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"
)

// testPair is a certificate and key as the harness writes them.
func testPair(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := writeCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert.cert, cert.key)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// tlsServer answers every request on a loopback TLS listener with body,
// then closes; it returns its address and counts handshakes that resumed.
func tlsServer(t *testing.T, status string, tickets bool) (addr string, resumed func() int) {
	t.Helper()
	pair := testPair(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, SessionTicketsDisabled: !tickets})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	count := make(chan int, 1)
	count <- 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil || req.Header.Get("Connection") != "close" {
					return
				}
				if c.(*tls.Conn).ConnectionState().DidResume {
					count <- <-count + 1
				}
				c.Write([]byte("HTTP/1.1 " + status + "\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"))
			}()
		}
	}()
	return l.Addr().String(), func() int { n := <-count; count <- n; return n }
}

func TestHandshakeLoad(t *testing.T) {
	addr, resumed := tlsServer(t, "200 OK", true)
	s := handshakeLoad(addr, 4, 300*time.Millisecond)
	if s.Requests == 0 || s.Errors != 0 {
		t.Fatalf("got %+v, want requests and no errors", s)
	}
	if n := resumed(); n != 0 {
		t.Errorf("%d handshakes resumed, want every one full although the server issues tickets", n)
	}
	if !(s.P50 > 0 && s.P50 <= s.P99) || s.Seconds < 0.3 {
		t.Errorf("latencies or duration wrong: %+v", s)
	}
}

func TestHandshakeLoadCountsBadAnswers(t *testing.T) {
	addr, _ := tlsServer(t, "503 Service Unavailable", false)
	s := handshakeLoad(addr, 2, 100*time.Millisecond)
	if s.Requests != 0 || s.Errors == 0 || s.FirstErr == "" {
		t.Errorf("got %+v, want only errors", s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	if s := handshakeLoad(addr, 1, 50*time.Millisecond); s.Errors == 0 || s.Requests != 0 {
		t.Errorf("nothing listening: got %+v", s)
	}
}
