//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// awaiter writes the last bytes of a message from inside a raw read, so
// that the poller's reset of the socket's read readiness comes before the
// write rather than after it, and then waits for the answer without a
// read: Go's netpoller otherwise learns that nothing has arrived yet only
// from a read that fails (EAGAIN), one system call per exchange. It is set
// up once per connection, so that it allocates nothing.
//
// Readiness from bytes that came before the write is lost: it is used only
// where the peer sends nothing unasked (a server, which answers the request
// or closes), never to wait for a client's next request, which a
// pipelining client may already have sent.
type awaiter struct {
	raw  syscall.RawConn
	fn   func(fd uintptr) bool // a.writeThenWait, bound once
	out  []byte                // what it writes
	sent int                   // what it wrote; -1 before the write
}

func (a *awaiter) init(c net.Conn) {
	if a.raw = rawConn(c); a.raw != nil {
		a.fn = a.writeThenWait
	}
}

func (a *awaiter) usable() bool { return a.raw != nil }

// write writes what of p the socket takes without blocking and, when that
// is all of p, returns once the socket is readable (or its read deadline
// passed, or it was closed: the next read reports that). It returns how
// many bytes it wrote.
func (a *awaiter) write(p []byte) int {
	a.out, a.sent = p, -1
	a.raw.Read(a.fn) // an error before the write leaves sent at -1
	a.out = nil
	return max(a.sent, 0)
}

func (a *awaiter) writeThenWait(fd uintptr) bool {
	if a.sent >= 0 {
		return true // readable
	}
	n, err := syscall.Write(int(fd), a.out)
	a.sent = max(n, 0)
	return err != nil || n < len(a.out)
}
