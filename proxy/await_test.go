//go:build unix

package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// awaitPair is a loopback connection: the proxy's end, as timedConn with
// its bufio pair, and the peer's end.
type awaitPair struct {
	tc   *timedConn
	br   *bufio.Reader
	bw   *bufio.Writer
	peer net.Conn
}

func newAwaitPair(t *testing.T, wbuf int) *awaitPair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	tc := &timedConn{Conn: c}
	tc.aw.init(c)
	if !tc.aw.usable() {
		t.Fatal("a loopback TCP connection has no raw access")
	}
	return &awaitPair{tc: tc, br: bufio.NewReader(tc), bw: bufio.NewWriterSize(tc, wbuf), peer: peer}
}

// answer makes the peer read want bytes, wait for delay, then send reply.
func (a *awaitPair) answer(want int, delay time.Duration, reply string) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, want)
		n, _ := io.ReadFull(a.peer, b)
		got <- b[:n]
		time.Sleep(delay)
		if reply != "" {
			a.peer.Write([]byte(reply))
		}
	}()
	return got
}

// The answer is read whether it comes at once or after the wait began,
// and what was written is counted.
func TestFlushAwaitReadDelivers(t *testing.T) {
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		a := newAwaitPair(t, 4096)
		got := a.answer(len("request"), delay, "response")
		a.bw.WriteString("request")
		a.tc.readWithin(5 * time.Second)
		if err := a.tc.flushAwaitRead(a.bw, a.br); err != nil {
			t.Fatalf("delay %v: flush: %v", delay, err)
		}
		line := make([]byte, len("response"))
		if _, err := io.ReadFull(a.br, line); err != nil || string(line) != "response" {
			t.Fatalf("delay %v: read %q, %v", delay, line, err)
		}
		if g := <-got; string(g) != "request" {
			t.Fatalf("delay %v: peer got %q", delay, g)
		}
		if a.tc.written != int64(len("request")) || a.tc.read != int64(len("response")) {
			t.Fatalf("delay %v: counted %d written, %d read", delay, a.tc.written, a.tc.read)
		}
	}
}

// A peer that never answers ends the wait at the read deadline, and the
// read reports the timeout as a read without the wait does.
func TestFlushAwaitReadTimeout(t *testing.T) {
	a := newAwaitPair(t, 4096)
	got := a.answer(len("request"), 0, "")
	a.bw.WriteString("request")
	a.tc.readWithin(100 * time.Millisecond)
	if err := a.tc.flushAwaitRead(a.bw, a.br); err != nil {
		t.Fatalf("flush: %v", err)
	}
	_, err := a.br.ReadByte()
	if !isTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the deadline: %v, want a timeout", err)
	}
	if g := <-got; string(g) != "request" {
		t.Fatalf("peer got %q", g)
	}
}

// A deadline moved into the past by another goroutine (Shutdown, a reset
// HTTP/2 stream) or a close ends the wait, and the read reports it.
func TestFlushAwaitReadWoken(t *testing.T) {
	for _, tc := range []struct {
		name string
		wake func(net.Conn)
		want func(error) bool
	}{
		{"deadline", func(c net.Conn) { c.SetDeadline(aLongTimeAgo) }, isTimeout},
		{"close", func(c net.Conn) { c.Close() }, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	} {
		a := newAwaitPair(t, 4096)
		a.answer(len("request"), 0, "")
		a.bw.WriteString("request")
		a.tc.readWithin(time.Minute)
		woken := time.AfterFunc(50*time.Millisecond, func() { tc.wake(a.tc.Conn) })
		start := time.Now()
		if err := a.tc.flushAwaitRead(a.bw, a.br); err != nil {
			t.Fatalf("%s: flush: %v", tc.name, err)
		}
		_, err := a.br.ReadByte()
		woken.Stop()
		if !tc.want(err) {
			t.Fatalf("%s: read: %v", tc.name, err)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s: the wait outlasted the wake-up", tc.name)
		}
	}
}

// Bytes the reader holds already are read without waiting for more: the
// peer has sent what it will send.
func TestFlushAwaitReadBuffered(t *testing.T) {
	a := newAwaitPair(t, 4096)
	a.peer.Write([]byte("ab"))
	if b, err := a.br.Peek(2); err != nil || string(b) != "ab" {
		t.Fatalf("peeked %q, %v", b, err)
	}
	a.bw.WriteString("request")
	a.tc.readWithin(time.Minute)
	start := time.Now()
	if err := a.tc.flushAwaitRead(a.bw, a.br); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("waited for the peer with a byte in the reader")
	}
	if b, err := a.br.Peek(2); err != nil || string(b) != "ab" {
		t.Fatalf("buffered %q, %v", b, err)
	}
}

// A message larger than the socket buffers, to a peer that reads slowly,
// is written in part without blocking and the rest the normal way, whole
// and in order; then the answer is read.
func TestFlushAwaitReadPartialWrite(t *testing.T) {
	const size = 8 << 20
	a := newAwaitPair(t, size)
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 7 / 3)
	}
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 64<<10)
		for b.Len() < size {
			time.Sleep(time.Millisecond)
			n, err := a.peer.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got <- b.Bytes()
		a.peer.Write([]byte("done"))
	}()
	a.bw.Write(msg)
	a.tc.readWithin(time.Minute)
	if err := a.tc.flushAwaitRead(a.bw, a.br); err != nil {
		t.Fatalf("flush: %v", err)
	}
	reply := make([]byte, 4)
	if _, err := io.ReadFull(a.br, reply); err != nil || string(reply) != "done" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if g := <-got; !bytes.Equal(g, msg) {
		t.Fatalf("peer got %d bytes, not the %d written", len(g), size)
	}
	if a.tc.written != size {
		t.Fatalf("counted %d bytes written, want %d", a.tc.written, size)
	}
}
