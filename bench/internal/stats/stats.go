// Package stats summarises latency samples.
package stats

import (
	"slices"
	"time"
)

// Summary describes a set of durations. The JSON form is in milliseconds,
// the unit the report table uses.
type Summary struct {
	N     int     `json:"n"`
	P50ms float64 `json:"p50_ms"`
	P90ms float64 `json:"p90_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Summarize returns the nearest-rank percentiles of samples; it does not
// modify the slice. No samples give a zero Summary.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var total time.Duration
	for _, d := range s {
		total += d
	}
	return Summary{
		N:     len(s),
		P50ms: ms(Percentile(s, 50)),
		P90ms: ms(Percentile(s, 90)),
		P99ms: ms(Percentile(s, 99)),
		MaxMs: ms(s[len(s)-1]),
		Mean:  ms(total / time.Duration(len(s))),
	}
}

// Percentile is the nearest-rank p-th percentile of sorted, which must be
// sorted ascending and not empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	// Nearest rank: the smallest value with at least p% of the samples at
	// or below it.
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
