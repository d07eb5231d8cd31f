// Package stats holds the summary statistics the benchmark harnesses
// report.
package stats

import "slices"

// Median returns the median of xs (the mean of the middle two when their
// number is even), leaving xs as it is; xs is not empty.
func Median[T ~int64 | ~float64](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
