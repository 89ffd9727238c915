package machine_test

import (
	"fmt"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// costing answers like answer, each step reporting cost dollars; failStep
// fails its first attempt, also at that cost.
func costing(cost float64, failStep workorder.Step) worker {
	return func(cmd events.RunStep) events.Event {
		if cmd.Step == failStep && cmd.Attempt == 1 {
			return ev(events.CommandID(wo, cmd.Step, cmd.Attempt)+".failed", events.TypeStepFailed,
				&events.StepResult{Step: cmd.Step, Attempt: cmd.Attempt, ErrorMessage: "budget exceeded", CostUSD: cost})
		}
		e := answer(cmd)
		e.Data.(*events.StepResult).CostUSD = cost
		return e
	}
}

// Every command carries the cap and what the steps before it reported, in
// every attempt; a retry's max_cost_usd replaces the cap.
func TestBudget_CommandsCarryTheCapAndTheSpendSoFar(t *testing.T) {
	plan := []workorder.Step{cb, pl, ex}
	req := requested("", plan...)
	req.Data.(*events.Requested).MaxCostUSD = 0.5
	first := drive(t, costing(0.25, ex), req)
	if first.State.Status != workorder.StatusFailed {
		t.Fatalf("first round ended %s, want failed", first.State)
	}
	for i, want := range []float64{0, 0.25, 0.5} {
		if a := first.Commands[i].Args; a.MaxCostUSD != 0.5 || a.SpentUSD != want {
			t.Errorf("%s: max %v spent %v, want 0.5 and %v", first.Commands[i].Step, a.MaxCostUSD, a.SpentUSD, want)
		}
	}

	retry := ev(fmt.Sprintf("%s.retry_requested.r1", wo), events.TypeRetryRequested, &events.RetryRequested{Round: 1, MaxCostUSD: 2})
	second := driveFrom(t, costing(0.25, ""), first.State, retry)
	exec := second.command(t, ex)
	if exec.Attempt != 2 || exec.Args.MaxCostUSD != 2 || exec.Args.SpentUSD != 0.75 {
		t.Errorf("execute after the retry: attempt %d max %v spent %v, want 2, 2 and 0.75 (the failed attempt's cost counts)",
			exec.Attempt, exec.Args.MaxCostUSD, exec.Args.SpentUSD)
	}
	if second.State.Status != workorder.StatusCompleted {
		t.Errorf("after the retry: %s, want completed", second.State)
	}
}

// A retry without max_cost_usd keeps the cap; no cap is 0 in every command.
func TestBudget_RetryWithoutCapKeepsIt(t *testing.T) {
	req := requested("", cb, pl)
	req.Data.(*events.Requested).MaxCostUSD = 1
	first := drive(t, costing(0.1, pl), req)
	second := driveFrom(t, answer, first.State, retryRequested(1))
	if c := second.command(t, pl); c.Args.MaxCostUSD != 1 {
		t.Errorf("planning after a retry without a cap: max %v, want 1", c.Args.MaxCostUSD)
	}
	uncapped := drive(t, costing(0.1, ""), requested("", cb, pl))
	for _, c := range uncapped.Commands {
		if c.Args.MaxCostUSD != 0 {
			t.Errorf("%s without a cap carries max %v", c.Step, c.Args.MaxCostUSD)
		}
	}
}

// A follow-up prompt's max_cost_usd replaces the cap for its round; the
// first run's spend still counts.
func TestBudget_FollowUpMayCarryANewCap(t *testing.T) {
	req := requested("", cb, pl, ex, workorder.StepCommit)
	req.Data.(*events.Requested).MaxCostUSD = 1
	first := drive(t, costing(0.25, ""), req)
	if first.State.Status != workorder.StatusCompleted {
		t.Fatalf("first run ended %s", first.State)
	}
	fu := ev(fmt.Sprintf("%s.follow_up_requested.2", wo), events.TypeFollowUpRequested,
		&events.FollowUpRequested{PromptText: "also handle the empty case", Round: 2, MaxCostUSD: 3})
	round := driveFrom(t, costing(0.25, ""), first.State, fu)
	c := round.command(t, workorder.StepFollowUp)
	if c.Args.MaxCostUSD != 3 || c.Args.SpentUSD != 1 {
		t.Errorf("follow-up: max %v spent %v, want 3 and 1", c.Args.MaxCostUSD, c.Args.SpentUSD)
	}
}
