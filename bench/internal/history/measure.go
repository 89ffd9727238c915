package history

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/agentworkorders/awo/bench/internal/report"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
)

// Plan is one run of the history benchmark.
type Plan struct {
	Bin         string // the all-in-one
	Cached      string // the generated history's AWO_DATA_DIR (left as it is)
	Tmp         string // scratch space, removed by the caller
	Workload    Workload
	Rate        int
	Duration    time.Duration
	Postgres    bool
	Memory      bool
	GeneratedIn time.Duration
	// Before, when set, is an older all-in-one measured beside Bin: its
	// memory start-up and load, and its load on the Postgres database it
	// rebuilt (before Bin's migrations run on it).
	Before string
	// PoolMaxConns, when set, is the pgx pool size the all-in-one gets
	// (pool_max_conns in its DATABASE_URL); 0 leaves awo's default.
	PoolMaxConns int
}

// Result is the "history" section of bench/results.json.
type Result struct {
	Date            string  `json:"date"`
	Load            string  `json:"machine_load"`
	WorkOrders      int     `json:"work_orders"`
	Events          int     `json:"events"`
	Summary         Summary `json:"summary"`
	GeneratedInS    float64 `json:"generated_in_s,omitempty"`
	StartupS        float64 `json:"memory_startup_s"`
	StartupRSSMB    float64 `json:"memory_rss_after_startup_mb"`
	PeakRSSMB       float64 `json:"memory_peak_rss_mb"`
	RSSAfterLoad    float64 `json:"memory_rss_after_load_mb"`
	HeapInuseMB     float64 `json:"memory_heap_inuse_after_startup_mb"`
	HeapSysMB       float64 `json:"memory_heap_sys_after_startup_mb"`
	HeapAfterLoadMB float64 `json:"memory_heap_inuse_after_load_mb"`
	// The second start on the same store, from the snapshot the first
	// wrote (docs/operations.md, "Read-model snapshot").
	Snapshot   *SnapshotStart `json:"memory_snapshot_start,omitempty"`
	IdleRSSMB  float64        `json:"idle_rss_mb"`
	RebuildS   float64        `json:"postgres_rebuild_s,omitempty"`
	PGStartupS float64        `json:"postgres_startup_s,omitempty"`
	Memory     *LoadResult    `json:"memory_load"`
	Postgres   *LoadResult    `json:"postgres_load,omitempty"`
	// Before is the same figures of Plan.Before, when one was given.
	Before     *Result         `json:"before,omitempty"`
	TargetList []report.Target `json:"targets"`
}

// Measure runs p: the idle footprint, the memory store's start-up and
// load test, then the Postgres rebuild and load test.
func Measure(ctx context.Context, p Plan) (*Result, error) {
	sum, err := p.Workload.Generate(func(events.Event) error { return nil })
	if err != nil {
		return nil, err
	}
	res := &Result{Date: time.Now().UTC().Format(time.DateOnly), Load: loadAverage(), WorkOrders: p.Workload.WorkOrders,
		Events: sum.Events, Summary: sum, GeneratedInS: p.GeneratedIn.Seconds()}
	if err := idle(ctx, p, res); err != nil {
		return nil, err
	}
	if p.Before != "" {
		res.Before = &Result{}
	}
	if p.Before != "" && p.Memory {
		before := p
		before.Bin = p.Before
		if err := memory(ctx, before, sum, res.Before); err != nil {
			return nil, err
		}
	}
	if p.Memory {
		if err := memory(ctx, p, sum, res); err != nil {
			return nil, err
		}
	}
	if p.Postgres {
		if err := postgres(ctx, p, sum, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// idle is the all-in-one's RSS a few seconds after it started on an empty
// stream.
func idle(ctx context.Context, p Plan, res *Result) error {
	dir := filepath.Join(p.Tmp, "idle", "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	proc, err := Start(p.Bin, dir, filepath.Join(p.Tmp, "idle.log"), map[string]string{"STATE_STORAGE_TYPE": "memory"})
	if err != nil {
		return err
	}
	defer proc.Stop()
	if _, err := proc.WaitReady(ctx, time.Now(), time.Minute); err != nil {
		return err
	}
	time.Sleep(5 * time.Second)
	res.IdleRSSMB, _, err = proc.RSS()
	log.Printf("history: idle RSS %.1f MB", res.IdleRSSMB)
	return err
}

// memory starts the all-in-one on a copy of the history with the memory
// read model, times it to ready and loads it.
func memory(ctx context.Context, p Plan, sum Summary, res *Result) error {
	dir := filepath.Join(p.Tmp, "memory", "data")
	if err := CopyDir(ctx, p.Cached, dir); err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(dir))
	start := time.Now()
	logPath := filepath.Join(p.Tmp, "memory.log")
	proc, err := Start(p.Bin, dir, logPath, memoryEnv)
	if err != nil {
		return err
	}
	defer proc.Stop()
	took, err := proc.WaitReady(ctx, start, 5*time.Minute)
	if err != nil {
		return err
	}
	res.StartupS = took.Seconds()
	res.StartupRSSMB, res.PeakRSSMB, _ = proc.RSS()
	res.HeapInuseMB, res.HeapSysMB = proc.HeapMB()
	log.Printf("history: memory start-up %.2f s, RSS %.0f MB (peak %.0f MB; Go heap in use %.0f MB of %.0f MB)",
		res.StartupS, res.StartupRSSMB, res.PeakRSSMB, res.HeapInuseMB, res.HeapSysMB)
	if p.Duration > 0 {
		l := loadCPU(proc, sum, p)
		res.Memory = &l
		res.RSSAfterLoad, _, _ = proc.RSS()
		res.HeapAfterLoadMB, _ = proc.HeapMB()
		logLoad("memory", l)
	}
	// The graceful stop leaves the snapshot written (after the replay
	// caught up, or at the latest while stopping) for the second start.
	if err := proc.Stop(); err != nil {
		return fmt.Errorf("stopping the all-in-one after the full replay: %w", err)
	}
	res.Snapshot, err = snapshotStart(ctx, p, dir, logPath)
	return err
}

// postgres rebuilds the read model of the history into a fresh database,
// then starts the all-in-one on it and loads it.
func postgres(ctx context.Context, p Plan, sum Summary, res *Result) error {
	srv, err := pgtest.StartServer()
	if err != nil {
		return err
	}
	defer srv.Close()
	dbURL, drop, err := srv.NewDatabase(ctx, "awo_bench_")
	if err != nil {
		return err
	}
	defer drop()
	dir := filepath.Join(p.Tmp, "postgres", "data")
	if err := CopyDir(ctx, p.Cached, dir); err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(dir))
	rebuilder := p.Bin
	if p.Before != "" {
		rebuilder = p.Before // so that its load runs on its own schema
	}
	took, err := RebuildPostgres(ctx, rebuilder, dir, dbURL, filepath.Join(p.Tmp, "rebuild.log"))
	if err != nil {
		return err
	}
	res.RebuildS = took.Seconds()
	log.Printf("history: postgres rebuild %.1f s (%.0f events/s)", res.RebuildS, float64(sum.Events)/res.RebuildS)
	if p.PoolMaxConns > 0 {
		dbURL = withPoolSize(dbURL, p.PoolMaxConns)
	}
	if p.Before != "" {
		if err := loadPostgres(ctx, p.Before, dir, dbURL, p, sum, res.Before, "postgres (before)"); err != nil {
			return err
		}
	}
	return loadPostgres(ctx, p.Bin, dir, dbURL, p, sum, res, "postgres")
}

// loadPostgres starts bin on the rebuilt database and loads it.
func loadPostgres(ctx context.Context, bin, dir, dbURL string, p Plan, sum Summary, res *Result, name string) error {
	start := time.Now()
	proc, err := Start(bin, dir, filepath.Join(p.Tmp, "postgres.log"), map[string]string{"STATE_STORAGE_TYPE": "postgres", "DATABASE_URL": dbURL})
	if err != nil {
		return err
	}
	defer proc.Stop()
	took, err := proc.WaitReady(ctx, start, 2*time.Minute)
	if err != nil {
		return err
	}
	res.PGStartupS = took.Seconds()
	if p.Duration <= 0 {
		return nil
	}
	l := loadCPU(proc, sum, p)
	res.Postgres = &l
	logLoad(name, l)
	return nil
}

func withPoolSize(dbURL string, n int) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Set("pool_max_conns", fmt.Sprint(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// loadCPU is Load on proc with the CPU time proc spent per read served.
func loadCPU(proc *Process, sum Summary, p Plan) LoadResult {
	before, err := proc.CPU()
	l := Load(proc.URL, sum, p.Rate, p.Duration)
	after, err2 := proc.CPU()
	var n int
	for _, r := range l.Reads {
		n += r.Requests
	}
	if err == nil && err2 == nil && n > 0 {
		l.ServerCPUPerReadMs = float64((after - before).Microseconds()) / 1000 / float64(n)
	}
	return l
}

func logLoad(store string, l LoadResult) {
	for _, k := range Reads {
		r := l.Reads[k]
		log.Printf("history: %s %-45s p50 %7.2f ms  p99 %7.2f ms  (%d requests, %d errors)", store, k, r.P50Ms, r.P99Ms, r.Requests, r.Errors)
	}
	log.Printf("history: %s achieved %.0f reads/s of %d%s; the all-in-one used %.3f ms of CPU a read", store, l.Achieved, l.Rate, firstError(l), l.ServerCPUPerReadMs)
	for i, st := range l.Stalls {
		if i == 20 {
			log.Printf("history: %s: %d more stalls (in the results file)", store, len(l.Stalls)-i)
			break
		}
		log.Printf("history: %s stall: %d reads sent at +%.1f s took over %s (max %.0f ms)", store, st.Reads, st.AtS, stallAt, st.MaxMs)
	}
}

func firstError(l LoadResult) string {
	if l.FirstError == "" {
		return ""
	}
	return "; first error: " + l.FirstError
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return "load average " + string(b[:min(len(b), 14)])
}

// Targets are the goals for the figures measured.
func (r *Result) Targets() []report.Target {
	ts := []report.Target{report.NewTarget("idle RSS, empty stream", "MB", r.IdleRSSMB, 60, false, "")}
	if r.StartupS > 0 {
		ts = append(ts,
			report.NewTarget("history start-up, memory read model", "s", r.StartupS, 10, false, fmt.Sprintf("%d work orders", r.WorkOrders)),
			report.NewTarget("RSS after start-up, memory read model", "MB", r.StartupRSSMB, 400, false, fmt.Sprintf("peak %.0f MB", r.PeakRSSMB)))
	}
	if s := r.Snapshot; s != nil {
		note := "no snapshot loaded: full replay"
		if s.Loaded {
			note = fmt.Sprintf("snapshot %.1f MB, loaded in %.0f ms", s.Bytes/1e6, s.LoadMs)
		}
		ts = append(ts,
			report.NewTarget("history start-up with a snapshot, memory read model", "s", s.StartupS, 10, false, note),
			report.NewTarget("RSS after start-up with a snapshot, memory read model", "MB", s.RSSMB, 400, false, fmt.Sprintf("peak %.0f MB", s.PeakRSSMB)))
	}
	for _, s := range []struct {
		name string
		l    *LoadResult
	}{{"memory", r.Memory}, {"postgres", r.Postgres}} {
		if s.l == nil {
			continue
		}
		note := fmt.Sprintf("at %.0f req/s", s.l.Achieved)
		ts = append(ts, report.NewTarget(s.name+" "+ReadOne+" p99", "ms", s.l.Reads[ReadOne].P99Ms, 2, false, note))
		if s.name == "postgres" {
			ts = append(ts,
				report.NewTarget(s.name+" "+ReadRunning+" p99", "ms", s.l.Reads[ReadRunning].P99Ms, 20, false, note),
				report.NewTarget(s.name+" "+ReadRepoPage+" p99", "ms", s.l.Reads[ReadRepoPage].P99Ms, 20, false, note))
		}
	}
	return ts
}
