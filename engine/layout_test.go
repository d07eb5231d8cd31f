package engine

import (
	"testing"
	"unsafe"
)

// TestRouteLayout: what a decision reads of a route (up to hashOn.kind)
// fills its first cache line, and routes are a whole number of lines, so
// that with many routes a decision loads one line of its route (see
// route).
func TestRouteLayout(t *testing.T) {
	var rt route
	if end := unsafe.Offsetof(rt.hashOn) + unsafe.Offsetof(rt.hashOn.kind) + unsafe.Sizeof(rt.hashOn.kind); end > 64 {
		t.Errorf("a decision reads %d bytes of a route, want at most 64", end)
	}
	if got := unsafe.Sizeof(rt); got != 128 {
		t.Errorf("route is %d bytes, want 128", got)
	}
	// Where the routes are too many for the cache, their slice is a large
	// object, which starts on a page; so does a slice of few enough routes
	// for a size class without a malloc header. (Between the two, the
	// header puts the routes 8 bytes past a boundary.)
	for _, n := range []int{1, 2, 3, 4, 257, 1000, 100000} {
		rs := make([]route, n)
		if p := uintptr(unsafe.Pointer(&rs[0])); p%64 != 0 {
			t.Fatalf("%d routes start at %#x, not on a 64-byte boundary", n, p)
		}
	}
}
