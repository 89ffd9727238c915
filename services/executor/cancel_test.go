package executor

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// blockingAgent's first run blocks until its context ends, like a CLI that
// is still working, and reports the interruption the way agent.Runner does;
// later runs succeed at once.
type blockingAgent struct {
	runs    atomic.Int32
	started chan struct{}
	stopped chan error // the cause the first run was stopped with
}

func (a *blockingAgent) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	if a.runs.Add(1) > 1 {
		return agent.Result{Success: true, ResultText: "done"}, nil
	}
	close(a.started)
	<-ctx.Done()
	a.stopped <- context.Cause(ctx)
	return agent.Result{ExitCode: -1}, errors.New("claude CLI run interrupted: " + context.Cause(ctx).Error())
}

func TestRun_CancelStopsTheRunningAgentAcksAndRemovesTheSandbox(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, _ := config.Load(func(string) string { return "" })
	cfg.AckWait = 5 * time.Second
	p, _ := prompts.Load("")
	ag := &blockingAgent{started: make(chan struct{}), stopped: make(chan error, 1)}
	sbs := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting", removed: make(chan sandbox.Spec, 4)}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runAsMains(runCtx, cfg.Executor(), env.Bus("awo/executor"), nil, func(d *Deps) { d.Prompts, d.Agent, d.Sandboxes = p, ag, sbs })
	}()

	c := cmd(workorder.StepExecute)
	if err := worker.PublishCommand(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ag.started:
	case <-ctx.Done():
		t.Fatal("the agent never started")
	}
	publish(t, b, c.WorkOrderID, c.WorkOrderID.String()+".cancelled", events.TypeCancelled, &events.Cancelled{
		Reason: "enough", RepositoryURL: c.RepositoryURL, SandboxType: c.SandboxType, SandboxIdentifier: c.SandboxIdentifier})

	select {
	case cause := <-ag.stopped:
		var ce *worker.CancelledError
		if !errors.As(cause, &ce) || ce.Reason != "enough" {
			t.Fatalf("agent stopped with %v, want the cancellation with its reason", cause)
		}
	case <-ctx.Done():
		t.Fatal("the cancel did not stop the running agent")
	}
	select {
	case got := <-sbs.removed:
		if got.RepositoryURL != c.RepositoryURL || got.Identifier != c.SandboxIdentifier || got.WorkOrderID != c.WorkOrderID {
			t.Errorf("removed %+v, want the work order's sandbox", got)
		}
	case <-ctx.Done():
		t.Fatal("the sandbox of the cancelled work order was not removed")
	}
	// Acknowledged, not handed back: the work queue empties.
	waitEmpty(t, ctx, env.JS)
	stopped := waitFor(t, ctx, b, c.WorkOrderID, events.TypeStepFailed)
	if r := stopped.Data.(*events.StepResult); r.Attempt != 1 || !strings.Contains(r.ErrorMessage, "stopped: the work order was cancelled: enough") {
		t.Errorf("step history records %+v, want the stop with the reason", r)
	}

	// A command of the cancelled work order that arrives late never runs.
	late := cmd(workorder.StepCommit)
	if err := worker.PublishCommand(ctx, b, late); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, ctx, env.JS)
	if n := ag.runs.Load(); n != 1 {
		t.Fatalf("agent ran %d times; the late command of a cancelled work order must be skipped", n)
	}

	// After a retry the work order's commands run again.
	publish(t, b, c.WorkOrderID, c.WorkOrderID.String()+".retry_requested.r1", events.TypeRetryRequested, &events.RetryRequested{Round: 1})
	again := cmd(workorder.StepExecute)
	again.Attempt = 2
	if err := worker.PublishCommand(ctx, b, again); err != nil {
		t.Fatal(err)
	}
	done2 := waitFor(t, ctx, b, c.WorkOrderID, events.TypeStepCompleted)
	if r := done2.Data.(*events.StepResult); r.Attempt != 2 || !r.Success {
		t.Errorf("retried step result %+v", r)
	}
	if n := ag.runs.Load(); n != 2 {
		t.Errorf("agent ran %d times, want 2 (the stopped run and the retry)", n)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, b *bus.Bus, wo workorder.ID, id, typ string, data any) {
	t.Helper()
	if _, err := b.PublishEvent(context.Background(), b.Event(id, typ, wo, data), nil); err != nil {
		t.Fatal(err)
	}
}

// waitFor returns the first event of type typ in wo's history.
func waitFor(t *testing.T, ctx context.Context, b *bus.Bus, wo workorder.ID, typ string) events.Event {
	t.Helper()
	for ctx.Err() == nil {
		h, err := b.History(ctx, wo, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range h.Events {
			if e.Type == typ {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s for %s", events.ShortName(typ), wo)
	return events.Event{}
}
