//go:build race

package session

// raceEnabled reports whether the race detector, which allocates on its
// own and empties sync.Pools at random, is on.
const raceEnabled = true
