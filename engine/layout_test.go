package engine

import (
	"testing"
	"unsafe"
)

// TestRouteLayout: a route holds its pool first, in two cache lines; what
// a decision reads of the route itself (pool up to hashOn.kind) fills the
// third; routes are a whole number of lines, so that with many routes a
// decision loads two lines of its route, the pool's first and that one
// (see route).
func TestRouteLayout(t *testing.T) {
	var rt route
	if off := unsafe.Offsetof(rt.pl); off != 0 {
		t.Errorf("the pool is at byte %d of a route, want 0", off)
	}
	start := unsafe.Offsetof(rt.pool)
	if start != 128 {
		t.Errorf("a route's own fields start at byte %d, want 128", start)
	}
	if end := unsafe.Offsetof(rt.hashOn) + unsafe.Offsetof(rt.hashOn.kind) + unsafe.Sizeof(rt.hashOn.kind); end > start+64 {
		t.Errorf("a decision reads %d bytes of a route past its pool, want at most 64", end-start)
	}
	if got := unsafe.Sizeof(rt); got != 256 {
		t.Errorf("route is %d bytes, want 256", got)
	}
	// Where the routes are too many for the cache, their slice is a large
	// object, which starts on a page; so does a slice of few enough routes
	// for a size class without a malloc header. (Between the two, the
	// header puts the routes 8 bytes past a boundary.)
	for _, n := range []int{1, 2, 257, 1000, 100000} {
		rs := make([]route, n)
		if p := uintptr(unsafe.Pointer(&rs[0])); p%64 != 0 {
			t.Fatalf("%d routes start at %#x, not on a 64-byte boundary", n, p)
		}
	}
}
