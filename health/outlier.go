package health

import (
	"math"
	"time"
)

// Outlier detection, after Envoy's: the rules that decide, from the
// responses of a pool's servers, which one is failing so much more than
// the others that it should be ejected for a while. The counting is the
// engine's (per-server atomics on the request path); these are the
// decisions, pure functions of the counts.

// EjectionTime returns how long a server stays ejected the n-th time in a
// row (n ≥ 1): base × n, at most max.
func EjectionTime(base, max time.Duration, n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if base > 0 && time.Duration(n) > max/base {
		return max
	}
	return min(base*time.Duration(n), max)
}

// MayEject reports whether a pool of size servers, ejected of them
// ejected already, may lose one more and keep within percent:
// ejected+1 ≤ floor(size × percent / 100). A pool of one server never
// ejects it at less than 100%.
func MayEject(size, ejected, percent int) bool {
	return (ejected+1)*100 <= size*percent
}

// RateSample is one server's responses over an interval.
type RateSample struct {
	Requests, Failures uint64
}

// SuccessRateOutliers applies Envoy's success-rate rule to the samples of
// one pool's servers: when at least minHosts of them had volume requests
// or more in the interval, each of those whose success rate is below
// mean − factor × stdev (the population standard deviation of those
// rates) is an outlier. It returns the outliers' positions in samples,
// and the threshold (NaN when the rule did not apply).
func SuccessRateOutliers(samples []RateSample, minHosts int, volume uint64, factor float64) (outliers []int, threshold float64) {
	var sum, sumSq float64
	n := 0
	rate := func(s RateSample) float64 { return float64(s.Requests-s.Failures) / float64(s.Requests) }
	for _, s := range samples {
		if s.Requests >= volume && s.Requests > 0 {
			r := rate(s)
			sum += r
			sumSq += r * r
			n++
		}
	}
	if n == 0 || n < minHosts {
		return nil, math.NaN()
	}
	mean := sum / float64(n)
	stdev := math.Sqrt(max(sumSq/float64(n)-mean*mean, 0))
	threshold = mean - factor*stdev
	for i, s := range samples {
		if s.Requests >= volume && s.Requests > 0 && rate(s) < threshold {
			outliers = append(outliers, i)
		}
	}
	return outliers, threshold
}
