package readmodel

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// BenchmarkFold folds a whole work order (requested, started, each step's
// dispatch, start and result, completed) into its row, one op per work order.
func BenchmarkFold(b *testing.B) {
	evs := []events.Event{requested(1), ev(2, events.TypeStarted, &events.Started{SandboxIdentifier: "sandbox-" + string(woID)})}
	for _, st := range []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute, workorder.StepCommit} {
		n := uint64(len(evs))
		evs = append(evs,
			ev(n+1, events.TypeStepDispatched, &events.StepDispatched{Step: st, Attempt: 1}),
			ev(n+2, events.TypeStepStarted, &events.StepStarted{Step: st, Attempt: 1}),
			stepDone(n+3, events.StepResult{Step: st, Attempt: 1, Success: true, Output: "done", CostUSD: 0.1, Usage: &events.Usage{InputTokens: 10}}))
	}
	evs = append(evs, ev(uint64(len(evs))+1, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"}))
	b.ReportAllocs()
	for b.Loop() {
		var wo WorkOrder
		var steps []StepRecord
		for _, e := range evs {
			var err error
			if wo, steps, err = Fold(wo, steps, e); err != nil {
				b.Fatal(err)
			}
		}
		if wo.Status != workorder.StatusCompleted || len(steps) != 4 {
			b.Fatalf("folded to %s with %d steps", wo.Status, len(steps))
		}
	}
}
