//go:build !amd64 && !arm64

package prefetch

import "unsafe"

// Line does nothing where l7lb has no prefetch instruction for the
// processor: a prefetch is only ever a hint.
func Line(unsafe.Pointer) {}
