package stats

import (
	"testing"
	"time"
)

func TestPercentile_NearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"one sample is every percentile", []time.Duration{7}, 99, 7},
		{"median of 1..100 ms", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100 ms", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"p0 is the minimum", hundred, 0, time.Millisecond},
		{"p50 of two rounds up to the lower", []time.Duration{1, 9}, 50, 1},
		{"p51 of two is the upper", []time.Duration{1, 9}, 51, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize_UnsortedInputIsLeftAlone(t *testing.T) {
	in := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	s := Summarize(in)
	if s.N != 3 || s.P50ms != 2 || s.MaxMs != 3 || s.Mean != 2 {
		t.Errorf("Summarize = %+v", s)
	}
	if in[0] != 3*time.Millisecond {
		t.Errorf("input was reordered: %v", in)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("no samples should summarise to zero")
	}
}
