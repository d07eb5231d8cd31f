//go:build linux

package proxy

import (
	"bufio"
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// errWouldBlock is a read inside the raw read loop that found nothing.
var errWouldBlock = errors.New("nothing to read yet")

// connLoop serves a plaintext client connection's keep-alive requests
// inside one raw read of its socket (syscall.RawConn.Read), so that
// waiting for the next request costs no read that fails.
//
// Go's poller is edge-triggered, and each Read first forgets the bytes
// that arrived before it (internal/poll's prepareRead): it learns that
// nothing is there yet only from a read that fails (EAGAIN), one system
// call per request. A raw read forgets once, at its start: inside it,
// once a read drained the socket (TCP_INQ says so: see readFD), what
// arrives later is remembered until the wait, which then ends at once, so
// the loop waits for the next request without reading first, and a
// pipelined request that came meanwhile is not missed.
//
// The loop serves what needs nothing more from the client: a request
// whose head, and body if any, are buffered whole. It handles such a
// request there, blocking on the server's socket as the normal path does
// (the client's read lock is held meanwhile: nothing else reads it).
// Anything else (a head or body still arriving, Expect, an upgrade)
// leaves for the normal path, with what was read.
type connLoop struct {
	raw  syscall.RawConn
	fn   func(fd uintptr) bool // c.step, bound once
	idle bool                  // the connection is marked idle (markIdle): step waits
	exit loopExit              // what is left when step ends the raw read
}

func (c *clientConn) initLoop() {
	if c.loop.raw = rawConn(c.tc.Conn); c.loop.raw != nil {
		c.loop.fn = c.step
	}
}

// serveLoop serves requests inside one raw read of the socket, until the
// connection closes or a request needs the normal path, and says which.
func (c *clientConn) serveLoop() loopExit {
	l := &c.loop
	if l.raw == nil {
		return loopSlow // under TLS
	}
	// As awaitRequest: a deadline that passed while the last request was
	// served would fail the raw read before its first step.
	c.tc.readWithin(c.snap.t.Idle)
	c.tc.drained = false
	l.exit = loopClose
	err := l.raw.Read(l.fn)
	c.tc.inLoop = false
	if l.idle {
		// The wait ended without a step: the idle timeout, a stop's
		// wake (see wake) or a close.
		l.idle = false
		c.unmarkIdle(true)
	}
	if err != nil {
		return loopClose
	}
	return l.exit
}

// step is the raw read's function: it serves the requests buffered or
// readable, and returns false to wait for the socket to be readable.
func (c *clientConn) step(fd uintptr) bool {
	l := &c.loop
	c.tc.fd, c.tc.inLoop = int(fd), true
	if l.idle {
		c.tc.drained = false // woken: something arrived
	}
	for {
		if c.br.Buffered() == 0 {
			if c.tc.drained {
				return c.park()
			}
			_, err := c.br.Peek(1)
			if err == errWouldBlock {
				return c.park()
			}
			if l.idle {
				l.idle = false
				c.unmarkIdle(true)
			}
			if err != nil {
				return c.leave(loopClose)
			}
		}
		if !headBuffered(c.br) {
			// The normal path reads the rest of the head under the
			// read-header timeout.
			if c.tc.drained {
				return c.leave(loopSlow)
			}
			if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
				return c.leave(loopSlow)
			}
			continue
		}
		keep, ok := c.readRequest()
		if ok {
			if !c.inline() {
				return c.leave(loopParsed)
			}
			keep = c.handleRequest()
		}
		if !c.ended(keep) {
			return c.leave(loopClose)
		}
	}
}

// park makes step wait for the socket, the connection idle; a stop
// leaves for awaitRequest, which closes it.
func (c *clientConn) park() bool {
	l := &c.loop
	if !l.idle {
		// Before markIdle, so that a wake's deadline is not overwritten.
		c.tc.readWithin(c.snap.t.Idle)
		if c.markIdle() {
			c.unmarkIdle(false)
			return c.leave(loopSlow)
		}
		l.idle = true
		c.tc.inq.enable(c.tc.fd)
	}
	c.tc.inLoop = false
	return false
}

func (c *clientConn) leave(e loopExit) bool {
	c.loop.exit = e
	c.tc.inLoop = false
	return true
}

// inline reports whether the request read needs nothing more from the
// client: no body, or one buffered whole, and no 100 Continue or upgrade.
func (c *clientConn) inline() bool {
	r := &c.req
	switch {
	case r.expect, r.upgrading():
		return false
	case r.body == bodyNone:
		return true
	}
	return r.body == bodyLength && int64(c.br.Buffered()) >= r.length
}

// readFD reads the socket without blocking: errWouldBlock when nothing is
// there. It sets drained when the read left nothing to read, as only
// TCP_INQ tells: a short read may leave the end of the stream behind it,
// whose readiness the poller reported with the bytes before it.
func (c *timedConn) readFD(p []byte) (int, error) {
	for {
		var n, left int
		var err error
		if c.inq.on {
			n, left, err = c.inq.recv(c.fd, p)
		} else {
			n, err = syscall.Read(c.fd, p)
			left = 1 // unknown
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.drained = true
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		c.drained = left == 0
		return n, nil
	}
}

// tcpINQ is Linux's TCP_INQ (since 4.18): recvmsg then tells how much is
// left to read, at least 1 once the peer's FIN is all that is.
const tcpINQ = 36

// inqReader reads a socket with TCP_INQ, allocating nothing.
type inqReader struct {
	on, tried bool
	msg       syscall.Msghdr
	iov       syscall.Iovec
	oob       [syscall.SizeofCmsghdr + 8]byte // one cmsg of an int32, aligned
}

// enable turns TCP_INQ on for socket fd, once: for the connections that
// wait for a next request, not for one that is done after its first.
func (q *inqReader) enable(fd int) {
	if !q.tried {
		q.tried = true
		q.on = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, tcpINQ, 1) == nil
	}
}

// recv reads into p and returns what is left to read; left is 1 when
// unknown.
func (q *inqReader) recv(fd int, p []byte) (n, left int, err error) {
	if len(p) == 0 {
		return 0, 1, nil
	}
	q.iov.Base = &p[0]
	q.iov.SetLen(len(p))
	q.msg.Iov, q.msg.Iovlen = &q.iov, 1
	q.msg.Control = &q.oob[0]
	q.msg.SetControllen(len(q.oob))
	r, _, e := syscall.Syscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&q.msg)), syscall.MSG_DONTWAIT)
	q.iov.Base = nil // keeps no buffer alive
	if e != 0 {
		return 0, 1, e
	}
	left = 1
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&q.oob[0]))
	if int(q.msg.Controllen) >= syscall.SizeofCmsghdr+4 && h.Level == syscall.IPPROTO_TCP && h.Type == tcpINQ {
		left = int(*(*int32)(unsafe.Pointer(&q.oob[syscall.SizeofCmsghdr])))
	}
	return int(r), left, nil
}

// headBuffered reports whether br holds a whole request head after any
// empty lines, so that reading it (skipEmptyLines, readHead) reads nothing
// more: the same lines, ending in LF or CRLF, by the same rules.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	for len(b) > 0 {
		if b[0] == '\n' {
			b = b[1:]
		} else if len(b) > 1 && b[0] == '\r' && b[1] == '\n' {
			b = b[2:]
		} else {
			break
		}
	}
	if len(b) < 2 {
		return false // skipEmptyLines would read to tell a lone CR
	}
	end, _ := endOfHead(b, 0)
	return end >= 0
}
