//go:build !unix

package proxy

import "net"

// prober would peek at a pooled connection; without a non-blocking peek it
// assumes the connection clean. Bytes a server sent late are then found
// only as a malformed or unexpected response (a 502), not before the
// request is sent.
type prober struct{}

func (p *prober) init(net.Conn) {}

func (p *prober) idle() bool { return true }
