//go:build !linux

package proxy

import "net"

// alive reports whether a pooled connection may carry a request. Without a
// non-blocking peek it assumes so: a connection the server closed fails
// the request, which is retried when idempotent.
func alive(net.Conn) bool { return true }
