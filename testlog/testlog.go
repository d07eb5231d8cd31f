// Package testlog gives tests a log they read while the code under test
// writes it from other goroutines (an access log, a child process's
// output).
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for concurrent use. When Limit is above
// zero it keeps the first Limit bytes and drops the rest, still reporting
// every write as whole, so that a long run cannot grow it without bound.
type Buffer struct {
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if b.Limit > 0 {
		p = p[:min(n, max(b.Limit-b.b.Len(), 0))]
	}
	b.b.Write(p)
	return n, nil
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
