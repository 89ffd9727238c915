package history

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The reads the load test makes, in turn.
const (
	ReadOne       = "GET /{id}"
	ReadRunning   = "GET /?status=running&limit=50"
	ReadRepoPage  = "GET /?repository_url=…&limit=50&offset=5000"
	ReadSteps     = "GET /{id}/steps"
	apiWorkOrders = "/api/agent-work-orders"
)

// Reads are the kinds of read, in the order the targeter cycles them.
var Reads = []string{ReadOne, ReadRunning, ReadRepoPage, ReadSteps}

// Latency is one read's figures under the load.
type Latency struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// LoadResult is one store's load test.
type LoadResult struct {
	Rate     int                `json:"rate_per_s"`
	Seconds  float64            `json:"seconds"`
	Achieved float64            `json:"achieved_per_s"`
	Reads    map[string]Latency `json:"reads"`
	// FirstError is one failed request's error, to say why.
	FirstError string `json:"first_error,omitempty"`
	// Stalls are when reads took over stallAt: to tell one pause of the
	// whole process (every read sent in the same moment slow) from slow
	// reads spread over the run, and to line them up with a GC trace.
	Stalls []Stall `json:"stalls,omitempty"`
	// ServerCPUPerReadMs is the all-in-one's CPU time (user and system)
	// during the load over the reads it served: a figure the other
	// processes on a shared machine disturb less than latencies.
	ServerCPUPerReadMs float64 `json:"server_cpu_per_read_ms,omitempty"`
}

// stallAt is the latency above which a read counts in a Stall.
const stallAt = 50 * time.Millisecond

// Stall is the reads sent in one 100 ms window of the load that took
// over stallAt.
type Stall struct {
	AtS   float64 `json:"at_s"` // window start, seconds since the load began
	Reads int     `json:"reads"`
	MaxMs float64 `json:"max_ms"`
}

type stalls struct{ list []Stall }

func (s *stalls) add(sent, latency time.Duration) {
	if latency < stallAt {
		return
	}
	at := float64(sent.Truncate(100*time.Millisecond).Milliseconds()) / 1000
	for i := range s.list {
		if st := &s.list[i]; st.AtS == at {
			st.Reads++
			st.MaxMs = max(st.MaxMs, ms(latency))
			return
		}
	}
	s.list = append(s.list, Stall{AtS: at, Reads: 1, MaxMs: ms(latency)})
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].AtS < s.list[j].AtS })
}

// targeter cycles the four reads over random work orders of s.
func targeter(base string, s Summary, seed uint64) vegeta.Targeter {
	rng := rand.New(rand.NewPCG(seed, 1))
	repoPage := base + apiWorkOrders + "?repository_url=" + url.QueryEscape(s.Busiest) + "&limit=50&offset=5000"
	running := base + apiWorkOrders + "?status=running&limit=50"
	var n int
	hdr := http.Header{"Accept-Encoding": []string{"identity"}}
	return func(t *vegeta.Target) error {
		id := s.IDs[rng.IntN(len(s.IDs))]
		t.Method, t.Header = http.MethodGet, hdr
		switch Reads[n%len(Reads)] {
		case ReadOne:
			t.URL = base + apiWorkOrders + "/" + string(id)
		case ReadRunning:
			t.URL = running
		case ReadRepoPage:
			t.URL = repoPage
		case ReadSteps:
			t.URL = base + apiWorkOrders + "/" + string(id) + "/steps"
		}
		n++
		return nil
	}
}

// kind is which read a URL is.
func kind(u string) string {
	switch {
	case strings.HasSuffix(u, "/steps"):
		return ReadSteps
	case strings.Contains(u, "status=running"):
		return ReadRunning
	case strings.Contains(u, "repository_url="):
		return ReadRepoPage
	default:
		return ReadOne
	}
}

// Load makes rate reads a second of s's work orders at base for d, the
// four reads in turn, and returns each read's latencies.
func Load(base string, s Summary, rate int, d time.Duration) LoadResult {
	attacker := vegeta.NewAttacker(vegeta.Workers(64), vegeta.MaxWorkers(512), vegeta.KeepAlive(true),
		vegeta.Timeout(10*time.Second))
	lat := map[string][]time.Duration{}
	errs := map[string]int{}
	res := LoadResult{Rate: rate, Seconds: d.Seconds(), Reads: map[string]Latency{}}
	start := time.Now()
	var total int
	var slow stalls
	for r := range attacker.Attack(targeter(base, s, 99), vegeta.Rate{Freq: rate, Per: time.Second}, d, "history") {
		k := kind(r.URL)
		total++
		lat[k] = append(lat[k], r.Latency)
		slow.add(r.Timestamp.Sub(start), r.Latency)
		if r.Error != "" || r.Code != http.StatusOK {
			errs[k]++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("%s: %d %s", k, r.Code, r.Error)
			}
		}
	}
	res.Achieved = float64(total) / time.Since(start).Seconds()
	res.Stalls = slow.list
	for k, ls := range lat {
		sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
		res.Reads[k] = Latency{Requests: len(ls), Errors: errs[k], P50Ms: ms(quantile(ls, 0.50)),
			P99Ms: ms(quantile(ls, 0.99)), MaxMs: ms(ls[len(ls)-1])}
	}
	return res
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
