package engine

import (
	"testing"
	"unsafe"

	"l7lb/config"
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

// TestSharedRewrites: routes with the same rewrite rule share one compiled
// rule, and each still rewrites by its own.
func TestSharedRewrites(t *testing.T) {
	e := newEngine(t, "s1")
	off := config.DefaultSticky()
	off.Mode = config.ModeOff
	mustApply(t, e, &config.Config{Sticky: off, Routes: []config.Route{
		{Name: "a", Path: "/a/*", Servers: []string{"s1"}, Balance: config.RoundRobin, Rewrite: &config.Rewrite{StripPrefix: ptr("/a")}},
		{Name: "b", Path: "/b/*", Servers: []string{"s1"}, Balance: config.RoundRobin, Rewrite: &config.Rewrite{ReplacePrefix: &config.PrefixPair{From: "/b", To: "/a"}}},
		{Name: "c", Path: "/c/*", Servers: []string{"s1"}, Balance: config.RoundRobin, Rewrite: &config.Rewrite{StripPrefix: ptr("/c")}},
		{Name: "a2", Hosts: []string{"x.example.com"}, Path: "/a/*", Servers: []string{"s1"}, Balance: config.RoundRobin, Rewrite: &config.Rewrite{StripPrefix: ptr("/a")}},
	}})
	rs := e.st.Load().routes
	if rs[0].rewrite != rs[3].rewrite {
		t.Error("a and a2 strip /a with two rules")
	}
	if rs[0].rewrite == rs[2].rewrite || rs[0].rewrite == rs[1].rewrite {
		t.Error("a shares its rule with a route of another rule")
	}
	for _, tt := range []struct{ host, target, route, want string }{
		{"", "/a/x?q", "a", "/x?q"},
		{"", "/b/x", "b", "/a/x"},
		{"", "/c/y", "c", "/y"},
		{"x.example.com", "/a/z", "a2", "/z"},
	} {
		d := decide(e, Request{Method: "GET", Target: tt.target, Host: tt.host})
		if d.Route != tt.route || string(d.Rewritten) != tt.want {
			t.Errorf("%s%s: route %q rewritten %q, want %q %q", tt.host, tt.target, d.Route, d.Rewritten, tt.route, tt.want)
		}
	}
}
