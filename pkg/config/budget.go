package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// Budgets: what a work order's agent runs may cost, and how long each step
// may take.

// budgetVariables are the cost caps: per work order (AWO_MAX_COST_USD) and
// across all work orders per UTC day (AWO_DAILY_BUDGET_USD).
var budgetVariables = []variable{
	{names: []string{"AWO_MAX_COST_USD"},
		load: func(p *parser, n []string, c *Config) { c.MaxCostUSD = p.dollars(n[0]) },
		show: func(c *Config) any { return costString(c.MaxCostUSD) }},
	{names: []string{"AWO_DAILY_BUDGET_USD"},
		load: func(p *parser, n []string, c *Config) { c.DailyBudgetUSD = p.dollars(n[0]) },
		show: func(c *Config) any { return costString(c.DailyBudgetUSD) }},
	{names: []string{"AWO_STEP_TIMEOUTS"},
		load: func(p *parser, n []string, c *Config) { c.StepTimeouts = p.stepTimeouts(n[0]) },
		show: func(c *Config) any { return FormatStepTimeouts(c.StepTimeouts) }},
}

// stepTimeouts parses "planning=10m,execute=45m": per step, a limit on top
// of AGENT_WORK_ORDER_TIMEOUT. Unset or "0" is none.
func (p *parser) stepTimeouts(name string) map[workorder.Step]time.Duration {
	v, ok := p.get(name)
	if !ok || v == "0" {
		return nil
	}
	out := map[workorder.Step]time.Duration{}
	for item := range strings.SplitSeq(v, ",") {
		k, d, found := strings.Cut(strings.TrimSpace(item), "=")
		step := workorder.Step(strings.TrimSpace(k))
		if !found || !slices.Contains(timedSteps, step) {
			p.fail(name, v, fmt.Sprintf("%q: want step=duration with a step of %s", item, joinSteps(timedSteps)))
			return nil
		}
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || dur <= 0 {
			p.fail(name, v, fmt.Sprintf("%q: the duration must be positive, such as 10m or 1h30m", item))
			return nil
		}
		out[step] = dur
	}
	return out
}

// timedSteps are the steps an executor's agent runs: the ones a step
// timeout can apply to.
var timedSteps = []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute,
	workorder.StepReview, workorder.StepCommit, workorder.StepFollowUp}

func joinSteps(steps []workorder.Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// FormatStepTimeouts writes step timeouts the way AWO_STEP_TIMEOUTS reads
// them, in the order of the steps; "none" when there are none.
func FormatStepTimeouts(m map[workorder.Step]time.Duration) string {
	var parts []string
	for _, s := range timedSteps {
		if d, ok := m[s]; ok {
			parts = append(parts, fmt.Sprintf("%s=%s", s, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// MaxUSD bounds every amount of money awo reads (a cost cap, the daily
// budget, a price per million tokens): a million dollars is beyond any
// sane setting, and a bound keeps sums of such amounts far from float and
// nano-dollar (int64) overflow. 1e308 is a typo or an attack, not a cap.
const MaxUSD = 1_000_000

// dollars parses an optional amount of US dollars: unset is 0 (no cap),
// set must be a positive number of at most MaxUSD.
func (p *parser) dollars(name string) float64 {
	v, ok := p.get(name)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(v, "$"), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) || f > MaxUSD {
		p.fail(name, v, fmt.Sprintf("must be an amount of US dollars greater than 0 and at most %d, such as 5 or 0.50 (leave it unset for no cap)", MaxUSD))
		return 0
	}
	return f
}

func costString(usd float64) string {
	if usd == 0 {
		return "none"
	}
	return "$" + strconv.FormatFloat(usd, 'f', -1, 64)
}
