package proxy

import (
	"net"
	"syscall"
)

// alive reports whether the pooled connection c may carry a request: the
// server has neither closed it nor sent anything unasked. It peeks at the
// socket without blocking, one system call.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	ok = false
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = rerr == syscall.EAGAIN
		return true
	})
	return err == nil && ok
}
