package engine

import (
	"testing"
	"unsafe"
)

// TestRouteSize: a route, what a decision reads of it, fills one cache
// line, so that with many routes a decision loads one line of its route
// (see route).
func TestRouteSize(t *testing.T) {
	if got := unsafe.Sizeof(route{}); got != 64 {
		t.Errorf("route is %d bytes, want 64", got)
	}
	// Where the routes are too many for the cache, their slice is a large
	// object, which starts on a page; so does a slice of few enough routes
	// for a size class without a malloc header. (Between the two, the
	// header puts the routes 8 bytes past a boundary.)
	for _, n := range []int{1, 2, 3, 8, 513, 1000, 100000} {
		rs := make([]route, n)
		if p := uintptr(unsafe.Pointer(&rs[0])); p%64 != 0 {
			t.Fatalf("%d routes start at %#x, not on a 64-byte boundary", n, p)
		}
	}
}
