//go:build !race

package urlpath

const raceEnabled = false
