package health

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestEjectionTime(t *testing.T) {
	tests := []struct {
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{30 * time.Second, 300 * time.Second, 1, 30 * time.Second},
		{30 * time.Second, 300 * time.Second, 3, 90 * time.Second},
		{30 * time.Second, 300 * time.Second, 10, 300 * time.Second},
		{30 * time.Second, 300 * time.Second, 11, 300 * time.Second},
		{30 * time.Second, 300 * time.Second, 1 << 30, 300 * time.Second}, // no overflow
		{30 * time.Second, 300 * time.Second, 0, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := EjectionTime(tt.base, tt.max, tt.n); got != tt.want {
			t.Errorf("EjectionTime(%v, %v, %d) = %v, want %v", tt.base, tt.max, tt.n, got, tt.want)
		}
	}
}

func TestMayEject(t *testing.T) {
	tests := []struct {
		size, ejected, percent int
		want                   bool
	}{
		{1, 0, 50, false}, // half of one server is none
		{1, 0, 100, true},
		{2, 0, 50, true},
		{2, 1, 50, false},
		{4, 1, 50, true},
		{4, 2, 50, false},
		{10, 0, 10, true},
		{10, 1, 10, false},
		{3, 0, 0, false},
	}
	for _, tt := range tests {
		if got := MayEject(tt.size, tt.ejected, tt.percent); got != tt.want {
			t.Errorf("MayEject(%d, %d, %d%%) = %v, want %v", tt.size, tt.ejected, tt.percent, got, tt.want)
		}
	}
}

func TestSuccessRateOutliers(t *testing.T) {
	ok := func(n uint64) RateSample { return RateSample{Requests: n} }
	tests := []struct {
		name      string
		samples   []RateSample
		minHosts  int
		volume    uint64
		factor    float64
		want      []int
		threshold float64 // NaN: the rule did not apply
	}{
		{
			// Rates 1,1,1,1,0.5: mean 0.9, stdev 0.2, threshold 0.9−1.9×0.2 = 0.52.
			name:     "one server far below",
			samples:  []RateSample{ok(100), ok(100), ok(100), ok(100), {Requests: 100, Failures: 50}},
			minHosts: 5, volume: 100, factor: 1.9,
			want: []int{4}, threshold: 0.52,
		},
		{
			// Rates 1,0.9,1,0.9,0.8: mean 0.92, variance 0.0056; the
			// lowest, 0.8, is above 0.92−1.9×0.0748 = 0.778. (With four
			// equal rates and one other, the other is always sqrt(4) = 2
			// standard deviations away, so an outlier at 1.9.)
			name:     "within the spread",
			samples:  []RateSample{ok(100), {Requests: 100, Failures: 10}, ok(100), {Requests: 100, Failures: 10}, {Requests: 100, Failures: 20}},
			minHosts: 5, volume: 100, factor: 1.9,
			threshold: 0.92 - 1.9*math.Sqrt(0.0056),
		},
		{
			name:     "too few servers with volume",
			samples:  []RateSample{ok(100), ok(100), ok(100), ok(99), {Requests: 100, Failures: 100}},
			minHosts: 5, volume: 100, factor: 1.9,
			threshold: math.NaN(),
		},
		{
			// Below volume, a server is neither measured nor ejected.
			name:     "low volume server ignored",
			samples:  []RateSample{ok(10), {Requests: 10, Failures: 10}, ok(10), {Requests: 1, Failures: 1}},
			minHosts: 2, volume: 10, factor: 1,
			want: []int{1}, threshold: 2.0/3 - math.Sqrt(2.0/9),
		},
		{
			name:     "all alike",
			samples:  []RateSample{ok(5), ok(5), ok(5)},
			minHosts: 3, volume: 1, factor: 1.9,
			threshold: 1,
		},
	}
	for _, tt := range tests {
		got, th := SuccessRateOutliers(tt.samples, tt.minHosts, tt.volume, tt.factor)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: outliers %v, want %v", tt.name, got, tt.want)
		}
		if math.IsNaN(tt.threshold) != math.IsNaN(th) || !math.IsNaN(th) && math.Abs(th-tt.threshold) > 1e-9 {
			t.Errorf("%s: threshold %v, want %v", tt.name, th, tt.threshold)
		}
	}
}
