// Package loopback gives the benchmark harnesses addresses on 127.0.0.1 to
// start their servers on, and waits for those to listen.
package loopback

import (
	"fmt"
	"net"
	"time"
)

// FreeAddr returns an address on 127.0.0.1 that no one listens on, as far
// as the kernel knows now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitListening waits until addr accepts a connection, for at most within.
func WaitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %v", addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
