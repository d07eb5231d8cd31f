package balancer

import (
	"testing"
	"unsafe"
)

// TestPoolLayout: what a pick reads of its pool (the policy, the shape,
// the round robin counter, the random source and the options every policy
// tests) lies in the pool's first cache line, and pools start on a line,
// so that with many routes a pick misses once on its pool.
func TestPoolLayout(t *testing.T) {
	var p Pool
	hot := map[string]uintptr{
		"policy":             unsafe.Offsetof(p.policy) + unsafe.Sizeof(p.policy),
		"Shape":              unsafe.Offsetof(p.Shape) + unsafe.Sizeof(p.Shape),
		"next":               unsafe.Offsetof(p.next) + unsafe.Sizeof(p.next),
		"rand":               unsafe.Offsetof(p.rand) + unsafe.Sizeof(p.rand),
		"opts.Measured":      unsafe.Offsetof(p.opts) + unsafe.Offsetof(p.opts.Measured) + unsafe.Sizeof(p.opts.Measured),
		"opts.BalanceFactor": unsafe.Offsetof(p.opts) + unsafe.Offsetof(p.opts.BalanceFactor) + unsafe.Sizeof(p.opts.BalanceFactor),
		"opts.SlowStart":     unsafe.Offsetof(p.opts) + unsafe.Offsetof(p.opts.SlowStart) + unsafe.Sizeof(p.opts.SlowStart),
	}
	for name, end := range hot {
		if end > 64 {
			t.Errorf("pool field %s ends at byte %d, want at most 64", name, end)
		}
	}
	// A pool is 128 bytes, a size class whose objects start on a 128-byte
	// boundary of their span.
	if got := unsafe.Sizeof(p); got != 128 {
		t.Errorf("pool is %d bytes, want 128", got)
	}
	for range 100 {
		if a := uintptr(unsafe.Pointer(NewPool(RoundRobin, []Server{{Name: "a", Weight: 1}}))); a%64 != 0 {
			t.Fatalf("a pool starts at %#x, not on a 64-byte boundary", a)
		}
	}
}
