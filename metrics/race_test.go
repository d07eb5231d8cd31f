//go:build race

package metrics

// raceEnabled reports whether the race detector, which allocates on its
// own, is on.
const raceEnabled = true
