package metrics

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/worker"
)

// ObserveSteps wraps a step handler so every step it reports records its
// duration, and for agent steps the cost and tokens the CLI reported. A
// step that could not be carried out (an error: it is handed back and run
// again) records nothing, so a redelivered step is not counted twice.
func (m *Metrics) ObserveSteps(h worker.Handler) worker.Handler {
	if m == nil {
		return h
	}
	return func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
		res, err := h(ctx, cmd, log)
		if err == nil {
			m.recordStep(cmd, res)
		}
		return res, err
	}
}

func (m *Metrics) recordStep(cmd events.RunStep, res events.StepResult) {
	step := string(cmd.Step)
	outcome := OutcomeFailure
	if res.Success {
		outcome = OutcomeSuccess
	}
	m.stepDuration.WithLabelValues(step, outcome).Observe(res.DurationSeconds)
	u := res.Usage
	if u == nil {
		return // not an agent step: no cost, no tokens
	}
	// Added even when zero, so every agent step that ran has its series.
	m.agentCost.WithLabelValues(step).Add(max(res.CostUSD, 0))
	// Cache reads and writes are input the model processed, billed at other
	// rates; counting them as input keeps "input" the whole prompt.
	m.agentTokens.WithLabelValues(step, "input").Add(float64(max(u.InputTokens+u.CacheCreationInputTokens+u.CacheReadInputTokens, 0)))
	m.agentTokens.WithLabelValues(step, "output").Add(float64(max(u.OutputTokens, 0)))
}
