package executor

import (
	"strings"
	"testing"

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
