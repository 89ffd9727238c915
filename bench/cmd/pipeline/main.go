// Command pipeline is `make bench`'s pipeline benchmark. In one process
// and one run it measures
//
//	(a) the raw JetStream floor: publish+consume round trip, sync publish rate;
//	(b) the whole pipeline (gateway → orchestrator → executor → github →
//	    read store) with an instant fake agent and no git: six-step work
//	    orders per second, and the step hand-off latency;
//	(c) the same with real git worktrees against a local repository;
//	(d) many at once: a burst of work orders queued together, drained by
//	    an executor running few steps at once (time, redeliveries, RSS);
//
// then prints a table (hand-off ÷ raw round trip) and writes it, with the
// CPU profiles' top entries, as JSON.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/bench/internal/cpuuse"
	"github.com/agentworkorders/awo/bench/internal/fakes"
	"github.com/agentworkorders/awo/bench/internal/gitorigin"
	"github.com/agentworkorders/awo/bench/internal/handoff"
	"github.com/agentworkorders/awo/bench/internal/profile"
	"github.com/agentworkorders/awo/bench/internal/raw"
	"github.com/agentworkorders/awo/bench/internal/report"
	"github.com/agentworkorders/awo/bench/internal/stats"
	"github.com/agentworkorders/awo/bench/internal/system"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// sixSteps is every selectable step, in the order the Python service runs them.
var sixSteps = workorder.Steps

type flags struct {
	out             string
	rawN            int
	fakeN           int
	gitN            int
	inFlight        int
	gitInFlight     int
	idleN           int
	concurrency     int
	logLevel        string
	keep            bool
	manyN           int
	manyConcurrency int
}

func main() {
	var f flags
	flag.StringVar(&f.out, "out", "bench/results.json", "where to write the JSON report; CPU profiles go beside it")
	flag.IntVar(&f.rawN, "raw-n", 2000, "raw JetStream round trips and publishes")
	flag.IntVar(&f.fakeN, "n", 700, "work orders for the fake-agent pipeline (b)")
	flag.IntVar(&f.gitN, "git-n", 60, "work orders for the git pipeline (c); 0 skips it")
	flag.IntVar(&f.idleN, "idle-n", 150, "work orders run one at a time for the unloaded hand-off latency (a tenth of it with git)")
	flag.IntVar(&f.inFlight, "inflight", 64, "work orders in flight at once in (b)")
	flag.IntVar(&f.gitInFlight, "git-inflight", 32, "work orders in flight at once in (c)")
	flag.IntVar(&f.concurrency, "concurrency", 32, "AWO_EXECUTOR_CONCURRENCY: steps one executor runs at once")
	flag.StringVar(&f.logLevel, "log-level", "WARN", "services' log level (their lines go to stderr)")
	flag.IntVar(&f.manyN, "many-n", 1000, "work orders queued at once in (d); 0 skips it")
	flag.IntVar(&f.manyConcurrency, "many-concurrency", 8, "AWO_EXECUTOR_CONCURRENCY in (d)")
	flag.BoolVar(&f.keep, "keep", false, "keep the temporary data directory")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline benchmark:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, f flags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tmp, err := os.MkdirTemp("", "awo-bench-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	outDir := filepath.Dir(f.out)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	rep := newReport(f, level)

	// (a) and (b) share a server, so the floor is measured where the
	// pipeline runs.
	fmt.Fprintln(os.Stderr, "(a) raw JetStream floor …")
	srv, err := startNATS(ctx, filepath.Join(tmp, "nats-b"))
	if err != nil {
		return err
	}
	rep.Raw, err = measureRaw(ctx, srv, f.rawN)
	if err != nil {
		srv.Shutdown()
		return err
	}
	fmt.Fprintf(os.Stderr, "(b) pipeline, instant agent, no git: %d work orders …\n", f.fakeN)
	fake, err := fakePhase(ctx, f, srv, tmp, outDir, log)
	srv.Shutdown()
	if err != nil {
		return fmt.Errorf("(b): %w", err)
	}
	fake.Idle.Ratios(rep.Raw)
	fake.Loaded.Ratios(rep.Raw)
	rep.Phases = append(rep.Phases, fake)

	if f.gitN > 0 {
		fmt.Fprintf(os.Stderr, "(c) pipeline, instant agent, real git worktrees: %d work orders …\n", f.gitN)
		git, err := gitPhase(ctx, f, tmp, outDir, log)
		if err != nil {
			return fmt.Errorf("(c): %w", err)
		}
		git.Idle.Ratios(rep.Raw)
		git.Loaded.Ratios(rep.Raw)
		rep.Phases = append(rep.Phases, git)
	}

	many, err := runMany(ctx, f, tmp, rep, log)
	if err != nil {
		return err
	}

	rep.Judge()
	fmt.Println()
	rep.PrintTable(os.Stdout)
	if err := rep.WriteJSON(f.out); err != nil {
		return err
	}
	if many != nil {
		report.PrintTargets(os.Stdout, "(d) many at once", many.Targets)
		if err := report.MergeSection(f.out, "many_at_once", many); err != nil {
			return err
		}
	}
	fmt.Printf("\nwritten to %s; CPU and block profiles of the throughput runs beside it (go tool pprof -top %s)\n", f.out, filepath.Join(outDir, "cpu-fake.pprof"))
	return nil
}

func newReport(f flags, level slog.Level) *report.Report {
	return &report.Report{
		StartedAt: time.Now().UTC().Format(time.RFC3339),
		Machine:   map[string]any{"cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH},
		Settings: map[string]any{
			"AWO_EXECUTOR_CONCURRENCY": f.concurrency, "raw_n": f.rawN,
			"fake_n": f.fakeN, "idle_n": f.idleN, "fake_in_flight": f.inFlight, "git_n": f.gitN, "git_in_flight": f.gitInFlight,
			"steps": sixSteps, "read_store": "memory", "nats": "embedded, in-process connections, file storage",
			"log_level": level.String(), "gomaxprocs": runtime.GOMAXPROCS(0),
		},
		Targets: report.DefaultTargets,
	}
}

// fakePhase is (b): the pipeline on srv with an instant agent and flat
// directories for sandboxes.
func fakePhase(ctx context.Context, f flags, srv *natsembed.Server, tmp, outDir string, log *slog.Logger) (report.Phase, error) {
	sandboxes, err := fakes.NewFlatSandboxes(filepath.Join(tmp, "flat-sandbox"))
	if err != nil {
		return report.Phase{}, err
	}
	return pipeline(ctx, phaseSpec{
		name: "fake", srv: srv, tmp: tmp, outDir: outDir, log: log, concurrency: f.concurrency,
		count: f.fakeN, inFlight: f.inFlight, idleCount: f.idleN, repoURL: "https://github.com/acme/demo",
		agent: fakes.InstantAgent{}, sandboxes: sandboxes,
	})
}

// gitPhase is (c): the pipeline with real git worktrees of a local
// repository, on a server of its own.
func gitPhase(ctx context.Context, f flags, tmp, outDir string, log *slog.Logger) (report.Phase, error) {
	// A fresh server: the events of (b) would otherwise be replayed into
	// (c)'s new read store while it is being measured.
	srv, err := startNATS(ctx, filepath.Join(tmp, "nats-c"))
	if err != nil {
		return report.Phase{}, err
	}
	defer srv.Shutdown()
	origin, err := gitorigin.Create(filepath.Join(tmp, "git"))
	if err != nil {
		return report.Phase{}, err
	}
	return pipeline(ctx, phaseSpec{
		name: "git", srv: srv, tmp: tmp, outDir: outDir, log: log, concurrency: f.concurrency,
		count: f.gitN, inFlight: f.gitInFlight, idleCount: max(1, f.idleN/10), repoURL: origin.URL,
		agent: fakes.GitAgent{Env: origin.Env},
		sandboxes: &sandbox.Manager{
			Root: filepath.Join(tmp, "sandboxes"), AllowLocal: true, Env: origin.Env, Logger: log,
		},
	})
}

func startNATS(ctx context.Context, dir string) (*natsembed.Server, error) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: dir, Name: "awo-bench"})
	if err != nil {
		return nil, err
	}
	nc, err := srv.Connect("bench-setup")
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err == nil {
		err = bus.EnsureStreams(ctx, js, bus.StreamSettings{})
	}
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("creating the streams: %w", err)
	}
	return srv, nil
}

func measureRaw(ctx context.Context, srv *natsembed.Server, n int) (raw.Result, error) {
	pub, err := srv.Connect("bench-raw-pub")
	if err != nil {
		return raw.Result{}, err
	}
	defer pub.Close()
	sub, err := srv.Connect("bench-raw-sub")
	if err != nil {
		return raw.Result{}, err
	}
	defer sub.Close()
	pjs, err := jetstream.New(pub)
	if err != nil {
		return raw.Result{}, err
	}
	sjs, err := jetstream.New(sub)
	if err != nil {
		return raw.Result{}, err
	}
	return raw.Measure(ctx, pjs, sjs, n)
}

type phaseSpec struct {
	name        string
	srv         *natsembed.Server
	tmp, outDir string
	log         *slog.Logger
	concurrency int
	count       int // work orders in the throughput run
	inFlight    int
	idleCount   int // work orders run one at a time
	repoURL     string
	agent       executor.AgentRunner
	sandboxes   executor.Sandboxes
}

// pipeline runs one configuration: starts the system, warms it up, drives
// work orders through it one at a time, then spec.count of them with
// spec.inFlight at once under CPU and block profiles.
func pipeline(ctx context.Context, spec phaseSpec) (report.Phase, error) {
	cfg, err := phaseConfig(spec.tmp, spec.concurrency)
	if err != nil {
		return report.Phase{}, err
	}
	sys, err := system.Start(ctx, system.Options{
		Config: cfg, Connect: func(name string) (*nats.Conn, error) { return spec.srv.Connect(name) },
		Agent: spec.agent, Sandboxes: spec.sandboxes, GH: &fakes.InstantGH{}, Logger: spec.log,
	})
	if err != nil {
		return report.Phase{}, err
	}
	defer sys.Stop()
	observer, err := spec.srv.Connect("bench-observer")
	if err != nil {
		return report.Phase{}, err
	}
	defer observer.Close()

	load := system.Load{InFlight: spec.inFlight, RepositoryURL: spec.repoURL, Steps: sixSteps, EndTimeout: time.Minute}
	// Warm-up: consumers created, connections and caches hot, the git
	// clone cached; not measured.
	warm := load
	warm.Count = min(spec.inFlight, spec.count)
	if _, err := sys.Drive(ctx, warm); err != nil {
		return report.Phase{}, fmt.Errorf("warming up: %w", err)
	}

	p := report.Phase{Name: spec.name, StepsPerOrder: len(sixSteps)}
	idle := load
	idle.Count, idle.InFlight = spec.idleCount, 1
	if p.Idle, err = measure(ctx, sys, spec.srv, observer, idle); err != nil {
		return report.Phase{}, fmt.Errorf("one at a time: %w", err)
	}

	p.CPUProfile = filepath.Join(spec.outDir, "cpu-"+spec.name+".pprof")
	p.BlockProfile = filepath.Join(spec.outDir, "block-"+spec.name+".pprof")
	stopProfiles, err := profile.Start(p.CPUProfile, p.BlockProfile)
	if err != nil {
		return report.Phase{}, err
	}
	load.Count = spec.count
	p.Loaded, err = measure(ctx, sys, spec.srv, observer, load)
	if perr := stopProfiles(); perr != nil {
		p.ProfileProblems = append(p.ProfileProblems, perr.Error())
	}
	if err != nil {
		return report.Phase{}, fmt.Errorf("throughput: %w", err)
	}
	if err := sys.Stop(); err != nil {
		return report.Phase{}, fmt.Errorf("stopping the services: %w", err)
	}

	for _, t := range []struct {
		path string
		cum  bool
		dst  *[]string
	}{{p.CPUProfile, false, &p.CPUTop}, {p.CPUProfile, true, &p.CPUTopCum}, {p.BlockProfile, true, &p.BlockTopCum}} {
		top, err := profile.Top(ctx, t.path, 30, t.cum)
		if err != nil {
			p.ProfileProblems = append(p.ProfileProblems, err.Error())
			continue
		}
		*t.dst = top
	}
	return p, nil
}

// measure drives l through sys while observing its hand-offs and the
// server's traffic.
func measure(ctx context.Context, sys *system.System, srv *natsembed.Server, observer *nats.Conn, l system.Load) (report.Run, error) {
	matcher := handoff.NewMatcher(sixSteps)
	stopObserving, err := system.Observe(observer, matcher)
	if err != nil {
		return report.Run{}, err
	}
	in0, out0, err := srv.Traffic()
	if err != nil {
		return report.Run{}, err
	}
	mark := cpuuse.Now()
	out, err := sys.Drive(ctx, l)
	cpu := cpuuse.Since(mark)
	in1, out1, terr := srv.Traffic()
	if err == nil {
		err = terr
	}
	// The last commands may still be on their way to the observer.
	_ = observer.Flush()
	if serr := stopObserving(); err == nil {
		err = serr
	}
	if err != nil {
		return report.Run{}, err
	}
	samples := matcher.Samples()
	fromPublish := make([]time.Duration, len(samples))
	fromArrival := make([]time.Duration, len(samples))
	var toDispatch []time.Duration
	for i, s := range samples {
		fromPublish[i], fromArrival[i] = s.FromPublish, s.FromArrival
		if s.ToDispatch != 0 {
			toDispatch = append(toDispatch, s.ToDispatch)
		}
	}
	r := report.Run{
		WorkOrders: l.Count, InFlight: l.InFlight,
		ElapsedSeconds:    out.Elapsed.Seconds(),
		WorkOrdersPerS:    float64(len(out.EndToEnd)) / out.Elapsed.Seconds(),
		EndToEnd:          stats.Summarize(out.EndToEnd),
		HandoffPublish:    stats.Summarize(fromPublish),
		HandoffArrival:    stats.Summarize(fromArrival),
		HandoffToDispatch: stats.Summarize(toDispatch),
		CPU:               cpu,
		MsgsInPerWO:       float64(in1-in0) / float64(l.Count),
		MsgsOutPerWO:      float64(out1-out0) / float64(l.Count),
	}
	if want := l.Count * (len(sixSteps) - 1); len(samples) != want {
		completions, commands := matcher.Unpaired()
		r.Unpaired = fmt.Sprintf("paired %d hand-offs of %d (unpaired: %d completions, %d commands)", len(samples), want, completions, commands)
	}
	return r, nil
}

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
