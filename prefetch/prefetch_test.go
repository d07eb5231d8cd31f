package prefetch

import (
	"testing"
	"unsafe"
)

// TestLine: a prefetch changes nothing, does not fault on nil, and
// allocates nothing.
func TestLine(t *testing.T) {
	b := []byte("cache line")
	for _, p := range []unsafe.Pointer{unsafe.Pointer(&b[0]), unsafe.Pointer(&b[9]), nil} {
		Line(p)
	}
	if string(b) != "cache line" {
		t.Errorf("the line changed: %q", b)
	}
	if n := testing.AllocsPerRun(100, func() { Line(unsafe.Pointer(&b[3])) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
