package executor

import (
	"fmt"

	"github.com/agentworkorders/awo/pkg/events"
)

// The work order's budget (max_cost_usd): each agent run gets what is left
// of it, and the step that uses it up fails the work order with the
// budget, the spend and the step in its message.

// remainingBudget is the --max-budget-usd of the step's agent run: the cap
// less the spend so far; 0 (no flag) when the work order has no cap.
func remainingBudget(a events.StepArgs) float64 {
	if a.MaxCostUSD <= 0 {
		return 0
	}
	return a.MaxCostUSD - a.SpentUSD
}

// budgetUsedUp is the failure of a step whose work order has nothing left
// to spend before its agent runs; "" when it may run.
func budgetUsedUp(cmd events.RunStep) string {
	a := cmd.Args
	if a.MaxCostUSD <= 0 || a.SpentUSD < a.MaxCostUSD {
		return ""
	}
	return budgetMessage(a.MaxCostUSD, a.SpentUSD, fmt.Sprintf("before step %s", cmd.Step))
}

// budgetCrossed is the failure of a step whose run took the spend over the
// cap (the CLI stops once over, so it may be over by one answer); "" when
// the step stayed within it.
func budgetCrossed(cmd events.RunStep, res events.StepResult) string {
	a := cmd.Args
	spent := a.SpentUSD + res.CostUSD
	if a.MaxCostUSD <= 0 || spent <= a.MaxCostUSD {
		return ""
	}
	return budgetMessage(a.MaxCostUSD, spent, fmt.Sprintf("after step %s", cmd.Step))
}

func budgetMessage(maxUSD, spentUSD float64, when string) string {
	return fmt.Sprintf("budget exceeded: $%.4f max_cost_usd, $%.4f spent %s; retry with a higher max_cost_usd to go on", maxUSD, spentUSD, when)
}
