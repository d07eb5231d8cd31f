package testlog

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab\n"))
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "ab\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
}

func TestBufferLimit(t *testing.T) {
	b := Buffer{Limit: 5}
	for _, w := range []string{"abc", "defg", "hi"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
		}
	}
	if got := b.String(); got != "abcde" {
		t.Fatalf("kept %q, want %q", got, "abcde")
	}
}
