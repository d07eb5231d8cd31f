//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// prober peeks at a pooled server connection without blocking, one system
// call: whether the server has closed it or sent anything unasked. It is
// set up once per connection, so that probing allocates nothing.
type prober struct {
	raw   syscall.RawConn
	peek  func(fd uintptr) bool // p.peekFD, bound once
	buf   [1]byte
	clean bool
}

func (p *prober) init(c net.Conn) {
	if p.raw = rawConn(c); p.raw != nil {
		p.peek = p.peekFD
	}
}

// rawConn returns c's socket for system calls of the proxy's own, or nil
// when c has none.
func rawConn(c net.Conn) syscall.RawConn {
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			return raw
		}
	}
	return nil
}

// idle reports whether the connection may carry a request: nothing is
// readable on it, neither bytes nor the end of the stream. Bytes there
// would be read as the next request's response: they are what a broken or
// hostile server sent beyond its last response.
func (p *prober) idle() bool {
	if p.raw == nil {
		return true
	}
	p.clean = false
	return p.raw.Read(p.peek) == nil && p.clean
}

func (p *prober) peekFD(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.clean = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true
}
