package system_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/bench/internal/fakes"
	"github.com/agentworkorders/awo/bench/internal/gitorigin"
	"github.com/agentworkorders/awo/bench/internal/handoff"
	"github.com/agentworkorders/awo/bench/internal/system"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

var sixSteps = []workorder.Step{
	workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute,
	workorder.StepReview, workorder.StepCommit, workorder.StepCreatePR,
}

// The benchmark's own wiring: work orders driven over HTTP complete with
// the fakes, and every hand-off between their steps is observed.
func TestDrive_FakeWorkOrdersCompleteAndEveryHandOffIsPaired(t *testing.T) {
	sandboxes, err := fakes.NewFlatSandboxes(filepath.Join(t.TempDir(), "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	drive(t, fakes.InstantAgent{}, sandboxes, "https://github.com/acme/demo")
}

// With real git: worktrees from a cached clone of a local origin, the git
// agent's branch and commit, the executor's push.
func TestDrive_GitWorkOrdersCompleteAgainstALocalOrigin(t *testing.T) {
	origin, err := gitorigin.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	drive(t, fakes.GitAgent{Env: origin.Env},
		&sandbox.Manager{Root: t.TempDir(), AllowLocal: true, Env: origin.Env}, origin.URL)
}

func drive(t *testing.T, agent executor.AgentRunner, sandboxes executor.Sandboxes, repoURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := natstest.Start(t).Server
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"AWO_EXECUTOR_CONCURRENCY": "4", "AWO_SHUTDOWN_GRACE": "2s",
			"AWO_ALLOW_LOCAL_REPOS": "true", "AGENT_WORK_ORDER_TEMP_DIR": t.TempDir(), "AWO_CREATE_RATE": "off"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	sys, err := system.Start(ctx, system.Options{
		Config: cfg, Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name) },
		Agent: agent, Sandboxes: sandboxes, GH: &fakes.InstantGH{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	observer, err := srv.Connect("observer")
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	m := handoff.NewMatcher(sixSteps)
	stop, err := system.Observe(observer, m)
	if err != nil {
		t.Fatal(err)
	}

	const n = 5
	out, err := sys.Drive(ctx, system.Load{
		Count: n, InFlight: 2, RepositoryURL: repoURL, Steps: sixSteps, EndTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := observer.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := sys.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}

	if len(out.EndToEnd) != n || out.Elapsed <= 0 {
		t.Fatalf("outcome = %d ends in %v, want %d", len(out.EndToEnd), out.Elapsed, n)
	}
	samples := m.Samples()
	if len(samples) != n*(len(sixSteps)-1) {
		completions, commands := m.Unpaired()
		t.Fatalf("paired %d hand-offs, want %d (unpaired: %d completions, %d commands)", len(samples), n*(len(sixSteps)-1), completions, commands)
	}
	for _, s := range samples {
		// The command is sent only after the completion was stored, so it
		// cannot arrive before the completion's ce-time.
		if s.FromPublish <= 0 {
			t.Errorf("implausible hand-off %+v", s)
		}
	}
}
