//go:build race

package e2e

// raceEnabled: the tests run under the race detector, and so does the
// proxy they start, so that real traffic can reveal its data races.
const raceEnabled = true
