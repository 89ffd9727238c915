package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/bench/internal/cpuuse"
	"github.com/agentworkorders/awo/bench/internal/fakes"
	"github.com/agentworkorders/awo/bench/internal/report"
	"github.com/agentworkorders/awo/bench/internal/stats"
	"github.com/agentworkorders/awo/bench/internal/system"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
)

// manyResult is (d): a burst of work orders queued at once, drained by an
// executor running few steps at a time. It is bench/results.json's
// "many_at_once" section.
type manyResult struct {
	WorkOrders  int `json:"work_orders"`
	Concurrency int `json:"executor_concurrency"`
	// DrainSeconds runs from the first POST to the last end in the read
	// store; the POSTs go 32 at a time, as fast as the gateway takes them.
	DrainSeconds   float64       `json:"drain_s"`
	QueuedSeconds  float64       `json:"queued_s"` // first POST to the last one answered
	WorkOrdersPerS float64       `json:"work_orders_per_s"`
	EndToEnd       stats.Summary `json:"end_to_end"`
	CPU            cpuuse.Usage  `json:"cpu"`
	// CPUmsPerWO is the process's CPU time per work order in the burst;
	// SteadyCPUmsPerWO the same in (b)'s throughput run, when it ran: the
	// burst should cost no more per work order than steady traffic (no
	// redelivery storm, no thrashing).
	CPUmsPerWO       float64 `json:"cpu_ms_per_work_order"`
	SteadyCPUmsPerWO float64 `json:"steady_cpu_ms_per_work_order,omitempty"`
	// Redelivered counts deliveries JetStream made more than once, per
	// consumer (awo_messages_redelivered_total over the run).
	Redelivered      map[string]float64 `json:"redelivered"`
	RedeliveredTotal float64            `json:"redelivered_total"`
	// RSS of this process (NATS server and all four services) in MB:
	// before the burst, its peak, and after the drain with the free heap
	// handed back to the OS (debug.FreeOSMemory).
	RSSBeforeMB float64         `json:"rss_before_mb"`
	RSSPeakMB   float64         `json:"rss_peak_mb"`
	RSSAfterMB  float64         `json:"rss_after_mb"`
	RSS         []rssSample     `json:"rss_over_time"`
	Targets     []report.Target `json:"targets"`
}

type rssSample struct {
	Seconds float64 `json:"t_s"`
	MB      float64 `json:"mb"`
}

// Targets of (d): the issue asks for a drain without redelivery storms and
// with flat memory. Its time is shown but not held to a number: on a
// shared machine it measures the neighbours; the CPU the burst costs per
// work order, against the steady run's, does not.
const (
	manyCPULimit    = 1.5   // × (b)'s CPU per work order
	manyGrowthLimit = 150.0 // MB of RSS above the pre-burst level at the peak
	manyLeakLimit   = 50.0  // MB of RSS above the pre-burst level once drained
)

// runMany runs (d) unless -many-n is 0 (nil then), held against (b)'s
// throughput run when (b) ran.
func runMany(ctx context.Context, f flags, tmp string, rep *report.Report, log *slog.Logger) (*manyResult, error) {
	if f.manyN <= 0 {
		return nil, nil
	}
	fmt.Fprintf(os.Stderr, "(d) many at once: %d work orders queued together, AWO_EXECUTOR_CONCURRENCY=%d …\n", f.manyN, f.manyConcurrency)
	var steady *report.Phase
	for i := range rep.Phases {
		if rep.Phases[i].Name == "fake" {
			steady = &rep.Phases[i]
		}
	}
	m, err := manyPhase(ctx, f, tmp, steady, log)
	if err != nil {
		return nil, fmt.Errorf("(d): %w", err)
	}
	return &m, nil
}

// manyPhase is (d): n work orders requested at once on a server of its
// own, the instant agent, AWO_EXECUTOR_CONCURRENCY=concurrency.
func manyPhase(ctx context.Context, f flags, tmp string, steady *report.Phase, log *slog.Logger) (manyResult, error) {
	srv, err := startNATS(ctx, filepath.Join(tmp, "nats-d"))
	if err != nil {
		return manyResult{}, err
	}
	defer srv.Shutdown()
	sandboxes, err := fakes.NewFlatSandboxes(filepath.Join(tmp, "flat-sandbox-d"))
	if err != nil {
		return manyResult{}, err
	}
	cfg, err := phaseConfig(tmp, f.manyConcurrency)
	if err != nil {
		return manyResult{}, err
	}
	m := metrics.New()
	sys, err := system.Start(ctx, system.Options{
		Config: cfg, Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name) },
		Agent: fakes.InstantAgent{}, Sandboxes: sandboxes, GH: &fakes.InstantGH{}, Logger: log, Metrics: m,
	})
	if err != nil {
		return manyResult{}, err
	}
	defer sys.Stop()

	res := manyResult{WorkOrders: f.manyN, Concurrency: f.manyConcurrency}
	debug.FreeOSMemory()
	res.RSSBeforeMB = rssMB()
	before := redeliveries(m)
	stopSampling, samples := sampleRSS(250 * time.Millisecond)
	mark := cpuuse.Now()
	out, err := sys.Drive(ctx, system.Load{
		Count: f.manyN, InFlight: f.manyN, Posting: 32, RepositoryURL: "https://github.com/acme/demo",
		Steps: sixSteps, EndTimeout: 2 * time.Minute,
	})
	res.CPU = cpuuse.Since(mark)
	stopSampling()
	if err != nil {
		return manyResult{}, err
	}
	res.CPUmsPerWO = cpuMsPerWO(res.CPU, out.Elapsed.Seconds(), f.manyN)
	if steady != nil {
		l := steady.Loaded
		res.SteadyCPUmsPerWO = cpuMsPerWO(l.CPU, l.ElapsedSeconds, l.WorkOrders)
	}
	res.DrainSeconds = out.Elapsed.Seconds()
	res.QueuedSeconds = out.Posted.Seconds()
	res.WorkOrdersPerS = float64(len(out.EndToEnd)) / out.Elapsed.Seconds()
	res.EndToEnd = stats.Summarize(out.EndToEnd)
	res.Redelivered = map[string]float64{}
	for consumer, n := range redeliveries(m) {
		if d := n - before[consumer]; d > 0 {
			res.Redelivered[consumer] = d
			res.RedeliveredTotal += d
		}
	}
	res.RSS = *samples
	for _, s := range res.RSS {
		res.RSSPeakMB = max(res.RSSPeakMB, s.MB)
	}
	time.Sleep(2 * time.Second) // let the services settle after the burst
	// The heap the burst needed is handed back, so what stays is what
	// the services keep: caches and the memory read model's 1,000 work
	// orders, or a leak.
	debug.FreeOSMemory()
	res.RSSAfterMB = rssMB()
	res.Targets = res.targets()
	return res, nil
}

func cpuMsPerWO(u cpuuse.Usage, elapsed float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return u.SelfCores * elapsed * 1000 / float64(n)
}

func (r manyResult) targets() []report.Target {
	var out []report.Target
	if r.SteadyCPUmsPerWO > 0 {
		out = append(out, report.NewTarget("many at once: CPU per work order ÷ steady (b)", "x", r.CPUmsPerWO/r.SteadyCPUmsPerWO, manyCPULimit, false,
			fmt.Sprintf("%.1f ms vs %.1f ms; drained %d work orders (concurrency %d) in %.1f s, %.0f/s, process on %.2f cores, load %s",
				r.CPUmsPerWO, r.SteadyCPUmsPerWO, r.WorkOrders, r.Concurrency, r.DrainSeconds, r.WorkOrdersPerS, r.CPU.SelfCores, r.CPU.LoadAvg)))
	}
	return append(out,
		report.NewTarget("many at once: redeliveries", "", r.RedeliveredTotal, 0, false, "JetStream deliveries made more than once"),
		report.NewTarget("many at once: RSS peak above start", "MB", r.RSSPeakMB-r.RSSBeforeMB, manyGrowthLimit, false,
			fmt.Sprintf("%.0f MB before, %.0f MB peak", r.RSSBeforeMB, r.RSSPeakMB)),
		report.NewTarget("many at once: RSS after drain above start", "MB", r.RSSAfterMB-r.RSSBeforeMB, manyLeakLimit, false,
			fmt.Sprintf("%.0f MB after the drain, free heap returned", r.RSSAfterMB)),
	)
}

// sampleRSS records the process's RSS every interval until stop.
func sampleRSS(interval time.Duration) (stop func(), samples *[]rssSample) {
	var out []rssSample
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			out = append(out, rssSample{Seconds: time.Since(start).Seconds(), MB: rssMB()})
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }, &out
}

// rssMB is the process's resident set (VmRSS) in MB; 0 where /proc is not.
func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// redeliveries reads awo_messages_redelivered_total per consumer from m's
// exposition, as a scrape would.
func redeliveries(m *metrics.Metrics) map[string]float64 {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]float64{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		rest, ok := strings.CutPrefix(line, `awo_messages_redelivered_total{consumer="`)
		if !ok {
			continue
		}
		consumer, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[consumer] = v
		}
	}
	return out
}

// phaseConfig is the services' configuration in every phase.
func phaseConfig(tmp string, concurrency int) (config.Config, error) {
	return config.Load(mapEnv(map[string]string{
		"AWO_EXECUTOR_CONCURRENCY":  strconv.Itoa(concurrency),
		"AWO_ALLOW_LOCAL_REPOS":     "true",
		"AGENT_WORK_ORDER_TEMP_DIR": filepath.Join(tmp, "sandboxes"),
		"AWO_DATA_DIR":              filepath.Join(tmp, "unused"),
		"AWO_SHUTDOWN_GRACE":        "5s",
		"AWO_WORKER_ID":             "bench",
		// The benchmark creates hundreds of work orders a second.
		"AWO_CREATE_RATE": "off",
	}))
}
