package proxy

import (
	"bufio"
	"io"
	"net"
)

// tunnel relays bytes both ways between the client and sc after a 101
// Switching Protocols, until either side closes or fails; then it closes
// both. The tunnel has no timeout, as a WebSocket may be quiet for long:
// TCP keep-alive finds dead peers, and Shutdown's context ends it.
func (c *clientConn) tunnel(sc *serverConn) {
	c.tc.clearDeadlines()
	sc.tc.clearDeadlines()
	var down int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		down = pipe(c.tc.Conn, sc.br, sc.tc.Conn)
		c.tc.Conn.Close()
		sc.tc.Conn.Close()
	}()
	buffered := int64(c.br.Buffered()) // counted in c.tc.read already
	up := pipe(sc.tc.Conn, c.br, c.tc.Conn)
	c.tc.Conn.Close()
	sc.tc.Conn.Close()
	<-done
	c.tc.written += down
	c.tc.read += up - buffered
	sc.be.discard(sc)
}

// pipe copies to dst what br holds, then all that src sends until it
// closes, and returns the bytes copied. The raw connections let io.Copy
// splice on Linux.
func pipe(dst net.Conn, br *bufio.Reader, src net.Conn) int64 {
	var n int64
	if k := br.Buffered(); k > 0 {
		b, _ := br.Peek(k)
		w, err := dst.Write(b)
		n += int64(w)
		br.Discard(k)
		if err != nil {
			return n
		}
	}
	m, _ := io.Copy(dst, src)
	return n + m
}
