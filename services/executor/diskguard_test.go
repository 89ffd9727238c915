package executor

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
)

// freeSpace is a FreeSpaceFunc reporting free and err; asked lists the
// paths measured (read it once the executor is done).
func freeSpace(free uint64, err error) (FreeSpaceFunc, *[]string) {
	var mu sync.Mutex
	var asked []string
	return func(path string) (uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, path)
		return free, err
	}, &asked
}

func TestDiskGuard_Check(t *testing.T) {
	dir := t.TempDir()
	broken := errors.New("statfs: input/output error")
	cases := []struct {
		name    string
		min     int64
		free    uint64
		err     error
		wantErr string // "" = admitted
		low     bool
	}{
		{"enough", 1 << 30, 2 << 30, nil, "", false},
		{"exactly the minimum", 1 << 30, 1 << 30, nil, "", false},
		{"below", 1 << 30, 300 << 20, nil, "free disk under " + dir + " is 300 MiB, below AWO_MIN_FREE_DISK=1 GiB", true},
		{"check off", 0, 0, nil, "", false},
		{"cannot measure", 1 << 30, 0, broken, "measuring free disk under " + dir + ": statfs: input/output error", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			free, _ := freeSpace(c.free, c.err)
			err := diskGuard{dir: dir, min: c.min, free: free}.check()
			var low *LowDiskError
			if got := errString(err); got != c.wantErr || errors.As(err, &low) != c.low {
				t.Fatalf("check() = %q (low disk %v), want %q (low disk %v)", got, errors.As(err, &low), c.wantErr, c.low)
			}
		})
	}
}

// Before the first sandbox the directory does not exist: the file system
// it will be made on is measured.
func TestDiskGuard_MissingDirectory_MeasuresItsNearestParent(t *testing.T) {
	parent := t.TempDir()
	free, asked := freeSpace(2<<30, nil)
	if err := (diskGuard{dir: filepath.Join(parent, "not", "yet"), min: 1 << 30, free: free}).check(); err != nil {
		t.Fatal(err)
	}
	if len(*asked) != 1 || (*asked)[0] != parent {
		t.Fatalf("measured %v, want %s", *asked, parent)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// An executor short of disk never starts the step: it hands the command
// back each time, and when JetStream has delivered it MaxDeliver times the
// step fails with the reason, so the work order fails visibly.
func TestRun_LowDisk_RefusesTheStepUntilItFailsWithTheReason(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg, _ := config.Load(func(string) string { return "" })
	cfg.AckWait, cfg.MaxDeliver, cfg.TempDir, cfg.MinFreeDisk = 5*time.Second, 2, t.TempDir(), 1<<30
	p, _ := prompts.Load("")
	a := &fakeAgent{result: agent.Result{Success: true}}
	free, _ := freeSpace(300<<20, nil)
	m := metrics.New()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runAsMains(runCtx, cfg.Executor(), env.Bus("awo/executor"), testLogger(t), func(d *Deps) {
			d.Prompts, d.Agent, d.Sandboxes, d.FreeSpace, d.Metrics = p, a, &fakeSandboxes{dir: t.TempDir()}, free, m
		})
	}()
	c := cmd(workorder.StepExecute)
	if err := worker.PublishCommand(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	hist := waitHistory(t, ctx, b, c.WorkOrderID, 1)
	if len(hist) != 1 || hist[0].Type != events.TypeStepFailed {
		t.Fatalf("history %+v, want only step.failed (a refused step never started)", hist)
	}
	r := hist[0].Data.(*events.StepResult)
	if want := "free disk under " + cfg.TempDir + " is 300 MiB, below AWO_MIN_FREE_DISK=1 GiB"; r.Success || !strings.Contains(r.ErrorMessage, want) ||
		!strings.Contains(r.ErrorMessage, "after 2 deliveries") {
		t.Fatalf("step result %+v, want a failure saying %q", r, want)
	}
	if len(a.got) != 0 {
		t.Errorf("the agent ran %d times on a full disk", len(a.got))
	}
	if got := metricValue(t, m, "awo_steps_refused_total"); got != 2 {
		t.Errorf("awo_steps_refused_total = %v, want 2", got)
	}
	if got := metricValue(t, m, "awo_sandbox_disk_free_bytes"); got != 300<<20 {
		t.Errorf("awo_sandbox_disk_free_bytes = %v, want %d", got, 300<<20)
	}
	waitEmpty(t, ctx, env.JS)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Refusing is handing back, not failing: once there is room the step runs.
func TestRun_LowDiskThenRoom_RunsTheStepOnRedelivery(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg, _ := config.Load(func(string) string { return "" })
	cfg.AckWait, cfg.MaxDeliver, cfg.TempDir = 5*time.Second, 5, t.TempDir()
	p, _ := prompts.Load("")
	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}
	var calls atomic.Int32
	free := func(string) (uint64, error) {
		if calls.Add(1) == 1 {
			return 10 << 20, nil
		}
		return 10 << 30, nil
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runAsMains(runCtx, cfg.Executor(), env.Bus("awo/executor"), testLogger(t), func(d *Deps) {
			d.Prompts, d.Agent, d.Sandboxes, d.FreeSpace = p, a, &fakeSandboxes{dir: t.TempDir()}, free
		})
	}()
	c := cmd(workorder.StepExecute)
	if err := worker.PublishCommand(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	hist := waitHistory(t, ctx, b, c.WorkOrderID, 2)
	if len(hist) != 2 || hist[0].Type != events.TypeStepStarted || hist[1].Type != events.TypeStepCompleted {
		t.Fatalf("history %+v", hist)
	}
	if calls.Load() != 2 || len(a.got) != 1 {
		t.Errorf("disk measured %d times, agent ran %d times; want 2 and 1", calls.Load(), len(a.got))
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitHistory(t *testing.T, ctx context.Context, b *bus.Bus, wo workorder.ID, n int) []events.Event {
	t.Helper()
	for ctx.Err() == nil {
		h, err := b.History(ctx, wo, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) >= n {
			return h.Events
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: fewer than %d events before the deadline", wo, n)
	return nil
}

// metricValue sums the series of a counter or gauge.
func metricValue(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, s := range mf.GetMetric() {
				total += s.GetCounter().GetValue() + s.GetGauge().GetValue()
			}
		}
	}
	return total
}
