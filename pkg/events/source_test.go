package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestCheckSource(t *testing.T) {
	at := time.Now()
	ev := func(typ, source string, data any) events.Event {
		return events.New("id", typ, source, "wo-00000001", at, data)
	}
	result := func(step workorder.Step) *events.StepResult { return &events.StepResult{Step: step} }
	cases := []struct {
		e      events.Event
		forged bool
	}{
		{ev(events.TypeRequested, "awo/gateway", &events.Requested{}), false},
		{ev(events.TypeRequested, "awo/executor", &events.Requested{}), true},
		{ev(events.TypeCancelRequested, "awo/gateway", &events.CancelRequested{}), false},
		{ev(events.TypeCancelRequested, "awo/orchestrator", &events.CancelRequested{}), true},
		{ev(events.TypeRetryRequested, "awo/gateway", &events.RetryRequested{}), false},
		{ev(events.TypeRetryRequested, "awo/github", &events.RetryRequested{}), true},
		{ev(events.TypeFollowUpRequested, "awo/gateway", &events.FollowUpRequested{}), false},
		{ev(events.TypeFollowUpRequested, "awo/executor", &events.FollowUpRequested{}), true},
		{ev(events.TypeStarted, "awo/orchestrator", &events.Started{}), false},
		{ev(events.TypeStarted, "awo/gateway", &events.Started{}), true},
		{ev(events.TypeStepDispatched, "awo/orchestrator", &events.StepDispatched{}), false},
		{ev(events.TypeStepDispatched, "awo/executor", &events.StepDispatched{}), true},
		{ev(events.TypeCompleted, "awo/orchestrator", &events.Completed{}), false},
		{ev(events.TypeCompleted, "awo/github", &events.Completed{}), true},
		{ev(events.TypeFailed, "awo/orchestrator", &events.Failed{}), false},
		{ev(events.TypeFailed, "awo/executor", &events.Failed{}), true},
		{ev(events.TypeCancelled, "awo/orchestrator", &events.Cancelled{}), false},
		{ev(events.TypeCancelled, "awo/gateway", &events.Cancelled{}), true},
		{ev(events.TypeRunStep, "awo/orchestrator", &events.RunStep{}), false},
		{ev(events.TypeRunStep, "awo/gateway", &events.RunStep{}), true},
		// Step events: the worker that runs the step's kind.
		{ev(events.TypeStepStarted, "awo/executor", &events.StepStarted{Step: workorder.StepPlanning}), false},
		{ev(events.TypeStepStarted, "awo/github", &events.StepStarted{Step: workorder.StepPlanning}), true},
		{ev(events.TypeStepStarted, "awo/github", &events.StepStarted{Step: workorder.StepCreatePR}), false},
		{ev(events.TypeStepCompleted, "awo/executor", result(workorder.StepCommit)), false},
		{ev(events.TypeStepCompleted, "awo/gateway", result(workorder.StepCommit)), true},
		{ev(events.TypeStepCompleted, "awo/orchestrator", result(workorder.StepCommit)), true},
		{ev(events.TypeStepCompleted, "awo/executor", result(workorder.StepCreatePR)), true},
		{ev(events.TypeStepCompleted, "awo/github", result(workorder.StepFetchIssue)), false},
		{ev(events.TypeStepFailed, "awo/github", result(workorder.StepCreatePR)), false},
		{ev(events.TypeStepFailed, "awo/executor", result(workorder.StepCreatePR)), true},
		{ev(events.TypeStepFailed, "awo/executor", events.StepResult{Step: workorder.StepExecute}), false},
		{ev(events.TypeStepFailed, "awo/executor", result("")), true},
		{ev(events.TypeStepCompleted, "", result(workorder.StepCommit)), true},
		{ev(events.TypeStepWaiting, "awo/executor", &events.StepWaiting{Step: workorder.StepExecute}), false},
		{ev(events.TypeStepWaiting, "awo/gateway", &events.StepWaiting{Step: workorder.StepExecute}), true},
		{ev(events.TypeStepWaiting, "awo/executor", &events.StepWaiting{}), true},
		// Types outside the catalogue are not this check's business.
		{ev("io.archon.workorders.budget.exceeded.v1", "anyone", nil), false},
	}
	for _, tc := range cases {
		err := events.CheckSource(tc.e)
		if tc.forged != (err != nil) || (err != nil && !errors.Is(err, events.ErrForged)) {
			t.Errorf("%s from %q (%+v): err = %v, forged %v", events.ShortName(tc.e.Type), tc.e.Source, tc.e.Data, err, tc.forged)
		}
	}
}
