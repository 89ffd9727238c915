package executor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/spend"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
)

// budgetExecutor is a test executor over a real AWO_SPEND bucket whose
// clock says it is 10:00 UTC on 2026-12-06.
func budgetExecutor(t *testing.T, a AgentRunner, budget float64) (*executor, *spend.Counter, *natstest.Env) {
	t.Helper()
	env := natstest.Start(t)
	if _, err := spend.Open(context.Background(), env.JS, bus.Replication{}); err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(context.Background(), spend.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	counter := spend.New(kv, func() time.Time { return time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC) })
	x := newTestExecutor(t, a, &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
	x.spend, x.dailyBudget = counter, budget
	return x, counter, env
}

// Each run's cost is added; the run that crosses the budget finishes, and
// the next step waits until the next UTC midnight without running.
func TestDailyBudget_CountsRunsThenWaits(t *testing.T) {
	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "looks good", CostUSD: 0.0006}}
	x, counter, _ := budgetExecutor(t, a, 0.001)
	ctx := context.Background()
	for i, want := range []float64{0.0006, 0.0012} { // the second starts under the budget and crosses it
		if _, err := x.runStep(ctx, cmd(workorder.StepReview), x.log); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if got, err := counter.Today(ctx); err != nil || got.USD != want || got.Day != "2026-12-06" {
			t.Fatalf("after run %d: spent %+v, %v; want $%v on 2026-12-06", i+1, got, err, want)
		}
	}
	_, err := x.runStep(ctx, cmd(workorder.StepExecute), x.log)
	var w *worker.Waiting
	if !errors.As(err, &w) {
		t.Fatalf("over the budget: %v, want a worker.Wait", err)
	}
	if w.Reason != events.WaitDailyBudget || !w.WaitingUntil.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("wait %+v, want reason daily_budget until 2026-12-07T00:00:00Z", w.StepWaiting)
	}
	for _, part := range []string{"AWO_DAILY_BUDGET_USD=$0.00", "is used up ($0.0012 spent today)", "execute runs at 2026-12-07T00:00:00Z"} {
		if !strings.Contains(w.Message, part) {
			t.Errorf("message %q, want it to say %q", w.Message, part)
		}
	}
	if len(a.got) != 2 {
		t.Errorf("the agent ran %d times, want 2: not for the step that waits", len(a.got))
	}
	if got, _ := counter.Today(ctx); got.USD != 0.0012 {
		t.Errorf("a waiting step changed the spend: $%v", got.USD)
	}
}

// Without a budget every run is still counted (for /health and the
// metrics), and nothing waits.
func TestDailyBudget_NoneCountsOnly(t *testing.T) {
	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "ok", CostUSD: 5}}
	x, counter, _ := budgetExecutor(t, a, 0)
	for range 3 {
		if _, err := x.runStep(context.Background(), cmd(workorder.StepReview), x.log); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := counter.Today(context.Background()); err != nil || got.USD != 15 {
		t.Fatalf("spent %+v, %v; want $15", got, err)
	}
}

// A run that ends in a wait (a usage limit interrupted it) counts what
// it cost; a run that did not finish counts nothing.
func TestDailyBudget_CountSpendOfAWaitAndOfNoResult(t *testing.T) {
	x, counter, _ := budgetExecutor(t, &fakeAgent{}, 0)
	ctx := context.Background()
	x.countSpend(ctx, events.StepResult{}, worker.Wait(events.StepWaiting{Reason: events.WaitUsageLimit, CostUSD: 0.25}), x.log)
	x.countSpend(ctx, events.StepResult{CostUSD: 9}, context.Canceled, x.log)
	x.countSpend(ctx, events.StepResult{CostUSD: 0.5}, nil, x.log)
	if got, err := counter.Today(ctx); err != nil || got.USD != 0.75 {
		t.Fatalf("spent %+v, %v; want $0.75", got, err)
	}
}

// With the counter unreachable, a step under a daily budget is handed
// back (run later), not run unchecked.
func TestDailyBudget_CounterUnreachableHandsBack(t *testing.T) {
	a := &fakeAgent{result: agent.Result{Success: true, CostUSD: 0.1}}
	x, _, env := budgetExecutor(t, a, 10)
	env.Server.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := x.runStep(ctx, cmd(workorder.StepReview), x.log)
	var w *worker.Waiting
	if err == nil || !errors.Is(err, errSpendCounter) || errors.As(err, &w) {
		t.Fatalf("counter down: %v, want the step handed back", err)
	}
	if len(a.got) != 0 {
		t.Error("the agent ran without the budget checked")
	}
}
