package config

import (
	"math"
	"strconv"
	"time"
)

// LeastRequestOptions tune balance least_request.
type LeastRequestOptions struct {
	Choices           int     // servers drawn per pick, 2 to 10
	ActiveRequestBias float64 // weighted pools: weight / (active+1)^bias
}

// PeakEWMAOptions tune balance peak_ewma.
type PeakEWMAOptions struct {
	Decay      time.Duration // time constant of the latency estimate
	DefaultRTT time.Duration // the estimate of a server with no sample yet
}

// Outliers configures outlier detection (serve): a server whose responses
// fail is ejected from every pool for a while.
type Outliers struct {
	Consecutive5xx           int           // failures in a row that eject; 0 = rule off
	Interval                 time.Duration // between success-rate sweeps (and readmissions)
	BaseEjectionTime         time.Duration // ejection time = base × times ejected
	MaxEjectionTime          time.Duration // ...at most this
	MaxEjectionPercent       int           // of any pool the server is in
	SuccessRateMinimumHosts  int           // servers with enough requests for the success-rate rule
	SuccessRateRequestVolume int           // requests in an interval for a server to count
	SuccessRateStdevFactor   float64       // eject below mean − factor × stdev; 0 = rule off
}

// Defaults of the load-aware modes and of outlier detection.
const (
	DefaultChoices           = 2
	DefaultActiveRequestBias = 1.0
	DefaultEWMADecay         = 10 * time.Second
	DefaultEWMARTT           = 30 * time.Millisecond
)

// DefaultLeastRequest returns least_request's options with every default.
func DefaultLeastRequest() LeastRequestOptions {
	return LeastRequestOptions{Choices: DefaultChoices, ActiveRequestBias: DefaultActiveRequestBias}
}

// DefaultPeakEWMA returns peak_ewma's options with every default.
func DefaultPeakEWMA() PeakEWMAOptions {
	return PeakEWMAOptions{Decay: DefaultEWMADecay, DefaultRTT: DefaultEWMARTT}
}

// DefaultOutliers returns outlier detection's settings with every default.
func DefaultOutliers() Outliers {
	return Outliers{
		Consecutive5xx:           5,
		Interval:                 10 * time.Second,
		BaseEjectionTime:         30 * time.Second,
		MaxEjectionTime:          300 * time.Second,
		MaxEjectionPercent:       50,
		SuccessRateMinimumHosts:  5,
		SuccessRateRequestVolume: 100,
		SuccessRateStdevFactor:   1.9,
	}
}

// balanceKey decodes the route keys of the load-aware modes into r; it
// reports false for a key that is not one of them.
func (d *decoder) balanceKey(key, path string, val *Value, r *Route) bool {
	switch key {
	case "least_request":
		lr := DefaultLeastRequest()
		d.fields(path, val, map[string]func(string, *Value){
			"choices": d.intTo(&lr.Choices, 2, 10),
			"active_request_bias": func(p string, v *Value) {
				if x, ok := d.number(p, v, 0, 100); ok {
					lr.ActiveRequestBias = x
				}
			},
		})
		r.LeastRequest = &lr
	case "peak_ewma":
		pe := DefaultPeakEWMA()
		d.fields(path, val, map[string]func(string, *Value){
			"decay":       d.durationTo(&pe.Decay),
			"default_rtt": d.durationTo(&pe.DefaultRTT),
		})
		r.PeakEWMA = &pe
	case "hash_balance_factor":
		r.HashBalanceFactor = d.balanceFactor(path, val)
	case "slow_start":
		r.SlowStart, r.SlowStartSet = d.durationOrZero(path, val)
	default:
		return false
	}
	return true
}

// checkBalance checks that the options of the load-aware modes go with
// the route's balance, and gives a load-aware route its defaults.
func (d *decoder) checkBalance(f *field, v *Value, r *Route) {
	only := func(key, mode string) {
		d.fail(Join(f.String(), key), v.Get(key), "only with balance "+mode)
	}
	if r.LeastRequest != nil && r.Balance != LeastRequest {
		only("least_request", LeastRequest)
	}
	if r.PeakEWMA != nil && r.Balance != PeakEWMA {
		only("peak_ewma", PeakEWMA)
	}
	if v.Get("hash_balance_factor") != nil && r.Balance != Hash {
		only("hash_balance_factor", Hash)
	}
	switch {
	case r.Balance == LeastRequest && r.LeastRequest == nil:
		lr := DefaultLeastRequest()
		r.LeastRequest = &lr
	case r.Balance == PeakEWMA && r.PeakEWMA == nil:
		pe := DefaultPeakEWMA()
		r.PeakEWMA = &pe
	}
}

// number decodes a number from lo to hi.
func (d *decoder) number(path string, v *Value, lo, hi float64) (float64, bool) {
	if v.Kind != Number {
		d.fail(path, v, "expected a number")
		return 0, false
	}
	x, err := strconv.ParseFloat(v.Str, 64)
	if err != nil || x < lo || x > hi {
		d.fail(path, v, "must be a number from "+strconv.FormatFloat(lo, 'g', -1, 64)+" to "+strconv.FormatFloat(hi, 'g', -1, 64))
		return 0, false
	}
	return x, true
}

// balanceFactor decodes hash_balance_factor, a number from 1 to 100 with
// at most two decimals, into percent: exact, so that bounds computed from
// it are integers.
func (d *decoder) balanceFactor(path string, v *Value) int {
	x, ok := d.number(path, v, 1, 100)
	if !ok {
		return 0
	}
	pct := math.Round(x * 100)
	if math.Abs(x*100-pct) > 1e-6 {
		d.fail(path, v, "at most two decimals, such as 1.25")
		return 0
	}
	return int(pct)
}

// durationOrZero decodes a duration that may be 0 (off).
func (d *decoder) durationOrZero(path string, v *Value) (time.Duration, bool) {
	switch v.Kind {
	case Number:
		if x, err := strconv.ParseFloat(v.Str, 64); err == nil && x == 0 {
			return 0, true
		}
	case String:
		if x, err := time.ParseDuration(v.Str); err == nil && x == 0 {
			return 0, true
		}
	}
	return d.duration(path, v)
}

func (d *decoder) outliers(path string, v *Value) *Outliers {
	o := DefaultOutliers()
	d.fields(path, v, map[string]func(string, *Value){
		"consecutive_5xx":             d.intTo(&o.Consecutive5xx, 0, 1_000_000),
		"interval":                    d.durationTo(&o.Interval),
		"base_ejection_time":          d.durationTo(&o.BaseEjectionTime),
		"max_ejection_time":           d.durationTo(&o.MaxEjectionTime),
		"max_ejection_percent":        d.intTo(&o.MaxEjectionPercent, 0, 100),
		"success_rate_minimum_hosts":  d.intTo(&o.SuccessRateMinimumHosts, 1, 1_000_000),
		"success_rate_request_volume": d.intTo(&o.SuccessRateRequestVolume, 1, 1_000_000_000),
		"success_rate_stdev_factor": func(p string, val *Value) {
			if x, ok := d.number(p, val, 0, 100); ok {
				o.SuccessRateStdevFactor = x
			}
		},
	})
	if v.Kind == Map && o.MaxEjectionTime < o.BaseEjectionTime {
		d.fail(Join(path, "max_ejection_time"), v, "must not be below base_ejection_time")
	}
	return &o
}

// applySlowStart gives each route that sets no slow_start the top-level one.
func (c *Config) applySlowStart() {
	for i := range c.Routes {
		if r := &c.Routes[i]; !r.SlowStartSet {
			r.SlowStart = c.SlowStart
		}
	}
}
