package executor

import (
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestBudget_RemainingUsedUpAndCrossed(t *testing.T) {
	cmd := func(maxUSD, spent float64) events.RunStep {
		return events.RunStep{Step: workorder.StepPlanning, Args: events.StepArgs{MaxCostUSD: maxUSD, SpentUSD: spent}}
	}
	if got := remainingBudget(cmd(0, 3).Args); got != 0 {
		t.Errorf("no cap: remaining %v, want 0 (no flag)", got)
	}
	if got := remainingBudget(cmd(1, 0.25).Args); got != 0.75 {
		t.Errorf("remaining %v, want 0.75", got)
	}
	if msg := budgetUsedUp(cmd(1, 0.99)); msg != "" {
		t.Errorf("budget left, yet: %q", msg)
	}
	if msg := budgetUsedUp(cmd(0, 99)); msg != "" {
		t.Errorf("no cap, yet: %q", msg)
	}
	if msg := budgetUsedUp(cmd(0.01, 0.0124)); !strings.Contains(msg, "budget exceeded: $0.0100 max_cost_usd, $0.0124 spent before step planning") {
		t.Errorf("used up before the step: %q", msg)
	}
	if msg := budgetCrossed(cmd(1, 0.5), events.StepResult{CostUSD: 0.5}); msg != "" {
		t.Errorf("exactly the cap is within it, yet: %q", msg)
	}
	msg := budgetCrossed(cmd(0.01, 0.004), events.StepResult{CostUSD: 0.0084})
	if !strings.Contains(msg, "budget exceeded: $0.0100 max_cost_usd, $0.0124 spent after step planning") {
		t.Errorf("crossed by the step: %q", msg)
	}
}

func TestStepTimeout_TheSmallerWinsAndIsNamed(t *testing.T) {
	per := map[workorder.Step]time.Duration{workorder.StepPlanning: 10 * time.Minute, workorder.StepExecute: 2 * time.Hour}
	for _, tc := range []struct {
		step      workorder.Step
		want      time.Duration
		wantLimit string
	}{
		{workorder.StepPlanning, 10 * time.Minute, "AWO_STEP_TIMEOUTS planning=10m0s"},
		{workorder.StepExecute, time.Hour, "AGENT_WORK_ORDER_TIMEOUT=3600s"}, // its own is longer
		{workorder.StepCommit, time.Hour, "AGENT_WORK_ORDER_TIMEOUT=3600s"},  // none of its own
	} {
		got, limit := stepTimeout(time.Hour, per, tc.step)
		if got != tc.want || limit != tc.wantLimit {
			t.Errorf("%s: %s (%s), want %s (%s)", tc.step, got, limit, tc.want, tc.wantLimit)
		}
	}
}
