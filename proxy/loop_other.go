//go:build !linux

package proxy

import "errors"

// connLoop would serve requests inside one raw read (see loop_linux.go);
// without raw socket access every request takes the normal path.
type connLoop struct{}

type inqReader struct{}

func (c *clientConn) initLoop() {}

func (c *clientConn) serveLoop() loopExit { return loopSlow }

func (c *timedConn) readFD([]byte) (int, error) { return 0, errors.New("proxy: no raw reads") }
