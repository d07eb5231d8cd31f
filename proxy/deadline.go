package proxy

import (
	"bufio"
	"net"
	"time"
)

// timedConn is a net.Conn that sets its deadlines lazily and counts the
// bytes read and written through it.
//
// A deadline is moved only when the one in force is off from the wanted one
// by more than 1/64 of the timeout: a busy keep-alive connection then pays a
// timer update about once per 1/64 of its timeout rather than several times
// per request, and a timeout fires between 98.4% and 100% of its length.
type timedConn struct {
	net.Conn
	rd, wd time.Time // deadlines in force; zero for none

	// readIdle and writeIdle, when positive, make every Read or Write first
	// set its deadline that far ahead: an inactivity timeout, for bodies.
	readIdle, writeIdle time.Duration

	read, written int64 // bytes read and written since the connection opened

	// aw, when usable, serves flushAwaitRead; awaiting is set during its
	// flush.
	aw       awaiter
	awaiting bool

	// inLoop is set inside a client connection's raw read (serveLoop):
	// Read then reads socket fd itself, without blocking, as Conn.Read
	// would wait for the read lock the raw read holds. drained is set
	// when its last read left nothing unread (see readFD).
	inLoop  bool
	drained bool
	fd      int
	inq     inqReader
}

func (c *timedConn) Read(p []byte) (n int, err error) {
	if c.readIdle > 0 {
		c.readWithin(c.readIdle)
	}
	if c.inLoop {
		n, err = c.readFD(p)
	} else {
		n, err = c.Conn.Read(p)
	}
	c.read += int64(n)
	return n, err
}

func (c *timedConn) Write(p []byte) (int, error) {
	if c.awaiting {
		c.awaiting = false
		n := c.aw.write(p)
		c.written += int64(n)
		if n == len(p) {
			return n, nil
		}
		// The socket's buffer is full, or the write failed: the rest
		// goes the normal way, under the write deadline, which reports
		// the error as a write always does.
		m, err := c.Write(p[n:])
		return n + m, err
	}
	if c.writeIdle > 0 {
		c.writeWithin(c.writeIdle)
	}
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

// flushAwaitRead flushes bw, which holds the end of a message after which
// the connection's next step is reading its answer through br, and on a
// plaintext socket returns once the answer has begun to arrive (or the
// read deadline, which must be set, passed): the read that follows then
// succeeds at once instead of failing first (see awaiter). Bytes already
// in br are read first: it flushes and returns at once.
func (c *timedConn) flushAwaitRead(bw *bufio.Writer, br *bufio.Reader) error {
	if br.Buffered() > 0 || !c.aw.usable() {
		return bw.Flush()
	}
	c.awaiting = true // bufio.Writer.Flush writes its buffer in one Write
	err := bw.Flush()
	c.awaiting = false
	return err
}

// readWithin makes the read deadline d from now; d <= 0 removes it.
func (c *timedConn) readWithin(d time.Duration) {
	if at, ok := nextDeadline(c.rd, d); ok {
		c.rd = at
		c.Conn.SetReadDeadline(at)
	}
}

// writeWithin makes the write deadline d from now; d <= 0 removes it.
func (c *timedConn) writeWithin(d time.Duration) {
	if at, ok := nextDeadline(c.wd, d); ok {
		c.wd = at
		c.Conn.SetWriteDeadline(at)
	}
}

// forget drops what c knows of its deadlines, after another goroutine set
// one behind its back (Shutdown waking an idle connection).
func (c *timedConn) forget() { c.rd, c.wd = time.Time{}, time.Time{} }

// clearDeadlines removes both deadlines and the inactivity timeouts, for a
// tunnel whose two directions then run in two goroutines.
func (c *timedConn) clearDeadlines() {
	c.readIdle, c.writeIdle = 0, 0
	c.rd, c.wd = time.Time{}, time.Time{}
	c.Conn.SetDeadline(time.Time{})
}

// nextDeadline returns the deadline d from now and whether it differs enough
// from cur, the one in force, to be set.
func nextDeadline(cur time.Time, d time.Duration) (time.Time, bool) {
	if d <= 0 {
		return time.Time{}, !cur.IsZero()
	}
	want := time.Now().Add(d)
	if !cur.IsZero() && !cur.After(want) && want.Sub(cur) <= d>>6 {
		return cur, false
	}
	return want, true
}
