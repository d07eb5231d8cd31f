//go:build race

package accesslog

// raceEnabled reports whether the race detector, which allocates on its
// own, is on.
const raceEnabled = true
