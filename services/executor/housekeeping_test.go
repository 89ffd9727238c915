package executor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Every kind of sandbox the sweeper meets, judged with an injected clock
// against real sandboxes on disk and a real event stream.
func TestHousekeeper_RemovesOnlyWhatIsDue(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	ctx := t.Context()
	o := gitfixture.New(t)
	m := &sandbox.Manager{Root: t.TempDir(), Env: o.Env(), Logger: testLogger(t)}
	const retention = time.Hour

	spec := func(id workorder.ID, typ workorder.SandboxType) sandbox.Spec {
		return sandbox.Spec{WorkOrderID: id, RepositoryURL: gitfixture.DefaultURL, Type: typ}
	}
	newSandbox := func(s sandbox.Spec) string {
		t.Helper()
		release, err := m.Use(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		sb, err := m.Prepare(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return sb.Dir
	}
	publish := func(wo workorder.ID, typ string, data any) {
		t.Helper()
		if _, err := b.PublishEvent(ctx, b.Event(string(wo)+"."+events.ShortName(typ), typ, wo, data), nil); err != nil {
			t.Fatal(err)
		}
	}
	age := func(dir string, d time.Duration) { // as if last used d ago
		t.Helper()
		old := time.Now().Add(-d)
		for _, p := range []string{dir, dir + ".inuse"} {
			if err := os.Chtimes(p, old, old); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}

	// Last used long ago, ended just now: the retention counts from the end.
	completed := newSandbox(spec("wo-0000c001", workorder.SandboxWorktree))
	age(completed, 100*retention)
	publish("wo-0000c001", events.TypeRequested, &events.Requested{WorkOrderID: "wo-0000c001"})
	publish("wo-0000c001", events.TypeCompleted, &events.Completed{})

	cancelled := newSandbox(spec("wo-0000c002", workorder.SandboxBranch))
	publish("wo-0000c002", events.TypeCancelled, &events.Cancelled{})

	running := newSandbox(spec("wo-0000a001", workorder.SandboxWorktree))
	age(running, 100*retention) // old, but its work order has not ended
	publish("wo-0000a001", events.TypeRequested, &events.Requested{WorkOrderID: "wo-0000a001"})
	publish("wo-0000a001", events.TypeStarted, &events.Started{})

	retried := newSandbox(spec("wo-0000a002", workorder.SandboxWorktree))
	age(retried, 100*retention)
	publish("wo-0000a002", events.TypeFailed, &events.Failed{ErrorMessage: "x"})
	if _, err := env.JS.Publish(ctx, bus.EventSubject("wo-0000a002", "workorder.retry_requested"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	forgotten := newSandbox(spec("wo-0000f001", workorder.SandboxBranch)) // its events expired
	age(forgotten, retention+time.Minute)
	recentUnknown := newSandbox(spec("wo-0000f002", workorder.SandboxWorktree))
	custom := newSandbox(sandbox.Spec{WorkOrderID: "wo-0000f003", RepositoryURL: gitfixture.DefaultURL, Identifier: "my-sandbox"})
	age(custom, retention+time.Minute)

	inUse := newSandbox(spec("wo-0000c003", workorder.SandboxWorktree))
	publish("wo-0000c003", events.TypeCompleted, &events.Completed{})
	release, err := m.Use(ctx, spec("wo-0000c003", workorder.SandboxWorktree))
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	var kinds []workorder.SandboxType
	h := &Housekeeper{Sandboxes: m, Ending: worker.EndingReader(b), Retention: retention, Logger: testLogger(t),
		Now:     func() time.Time { return now },
		Removed: func(k workorder.SandboxType) { kinds = append(kinds, k) }}
	present := func(dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
				t.Errorf("%s was removed: %v", d, err)
			}
		}
	}
	absent := func(dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is still there: %v", d, err)
			}
		}
	}

	// Now: only what the stream forgot and nobody used for longer than the
	// retention goes; ended work orders are younger than it.
	n, err := h.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("first sweep removed %d, %v; want 2", n, err)
	}
	absent(forgotten, custom)
	present(completed, cancelled, running, retried, recentUnknown, inUse)

	// Past the retention of the ended work orders: they go, except the one
	// a step is using.
	now = now.Add(retention + time.Second)
	if n, err := h.Sweep(ctx); err != nil || n != 3 {
		t.Fatalf("second sweep removed %d, %v; want 3", n, err)
	}
	absent(completed, cancelled, recentUnknown)
	present(running, retried, inUse)

	release()
	if n, err := h.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("after the step let go: removed %d, %v; want 1", n, err)
	}
	absent(inUse)
	// Running work orders keep their sandboxes however old.
	now = now.Add(1000 * retention)
	if n, err := h.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep with only running work orders removed %d, %v", n, err)
	}
	present(running, retried)

	slices.Sort(kinds)
	want := []workorder.SandboxType{workorder.SandboxBranch, workorder.SandboxBranch,
		workorder.SandboxWorktree, workorder.SandboxWorktree, workorder.SandboxWorktree, workorder.SandboxWorktree}
	if !slices.Equal(kinds, want) {
		t.Errorf("removals reported %v, want %v", kinds, want)
	}
}

// When the stream cannot be read, nothing is removed on a guess.
func TestHousekeeper_StreamError_KeepsTheSandbox(t *testing.T) {
	o := gitfixture.New(t)
	m := &sandbox.Manager{Root: t.TempDir(), Env: o.Env(), Logger: testLogger(t)}
	s := sandbox.Spec{WorkOrderID: "wo-0000c001", RepositoryURL: gitfixture.DefaultURL}
	sb, err := m.Prepare(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("nats: timeout")
	h := &Housekeeper{Sandboxes: m, Retention: time.Nanosecond, Logger: testLogger(t),
		Ending: func(context.Context, workorder.ID) (worker.Ending, error) { return worker.Ending{}, broken }}
	if n, err := h.Sweep(t.Context()); !errors.Is(err, broken) || n != 0 {
		t.Fatalf("sweep = %d, %v; want 0 and the stream's error", n, err)
	}
	if _, err := os.Stat(filepath.Join(sb.Dir, "README.md")); err != nil {
		t.Fatalf("sandbox removed on a stream error: %v", err)
	}
}

func TestHousekeeper_Interval(t *testing.T) {
	for retention, want := range map[time.Duration]time.Duration{
		24 * time.Hour: 10 * time.Minute, 20 * time.Minute: 5 * time.Minute, time.Second: time.Second,
	} {
		if got := (&Housekeeper{Retention: retention}).Interval(); got != want {
			t.Errorf("Interval for %s = %s, want %s", retention, got, want)
		}
	}
}

// The executor sweeps once when it starts; with retention 0 it keeps
// everything.
func TestRun_SweepsSandboxesAtStartUnlessRetentionIsZero(t *testing.T) {
	for _, retention := range []time.Duration{0, time.Hour} {
		t.Run(retention.String(), func(t *testing.T) {
			env := natstest.Start(t)
			cfg, _ := config.Load(func(string) string { return "" })
			cfg.TempDir, cfg.SandboxRetention = t.TempDir(), retention
			// A git_branch sandbox of a work order the stream never saw,
			// last touched two hours ago.
			dir := filepath.Join(cfg.TempDir, "branches", "sandbox-wo-0000dead")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-2 * time.Hour)
			if err := os.Chtimes(dir, old, old); err != nil {
				t.Fatal(err)
			}
			p, _ := prompts.Load("")
			ctx, stop := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				done <- runAsMains(ctx, cfg.Executor(), env.Bus("awo/executor"), testLogger(t), func(d *Deps) { d.Prompts, d.Agent = p, &fakeAgent{} })
			}()
			// Enabled, the first sweep comes at once; disabled, a second
			// is ample time for a sweep that should not happen.
			wait := time.Second
			if retention > 0 {
				wait = 10 * time.Second
			}
			deadline := time.Now().Add(wait)
			for time.Now().Before(deadline) {
				if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			_, err := os.Stat(dir)
			if removed := errors.Is(err, os.ErrNotExist); removed != (retention > 0) {
				t.Errorf("retention %s: sandbox removed = %v", retention, removed)
			}
			stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
