//go:build amd64 || arm64

package prefetch

import "unsafe"

// Line starts loading the cache line that holds p into every level of the
// cache, and returns at once. It never faults: p may point anywhere.
//
//go:noescape
func Line(p unsafe.Pointer)
