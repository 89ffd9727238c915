package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Over a real stream with its 2-minute duplicate window: every round of a
// retried work order is decided and stored, the failed step runs again as
// the next attempt, and the steps that completed never run again.
func TestRun_Retry_EachRoundRunsTheFailedStepAgainUntilItCompletes(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	w := h.startWorkers(func(cmd events.RunStep) (events.StepResult, bool) {
		if cmd.Step == workorder.StepExecute && cmd.Attempt <= 2 {
			return events.StepResult{ErrorMessage: fmt.Sprintf("tests are red (attempt %d)", cmd.Attempt)}, true
		}
		return succeed(cmd)
	})
	wo := workorder.ID("wo-0000a001")
	h.request(wo, "", workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute, workorder.StepCommit)

	ends := func() []string {
		var ids []string
		for _, e := range h.history(wo) {
			switch e.Type {
			case events.TypeCompleted, events.TypeFailed, events.TypeCancelled:
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	retry := func(round int) {
		t.Helper()
		e := h.ext.Event(fmt.Sprintf("%s.retry_requested.r%d", wo, round), events.TypeRetryRequested, wo, &events.RetryRequested{Round: round})
		if _, err := h.ext.PublishEvent(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	h.waitFor("the first failure", func() bool { return len(ends()) == 1 })
	retry(1)
	h.waitFor("the second failure", func() bool { return len(ends()) == 2 })
	retry(2)
	h.waitFor("the completion", func() bool { return len(ends()) == 3 })
	h.waitIdle()

	want := []string{string(wo) + ".failed", string(wo) + ".failed.r1", string(wo) + ".completed.r2"}
	if got := ends(); !slices.Equal(got, want) {
		t.Fatalf("ends = %v, want %v", got, want)
	}
	var got []string
	for _, c := range w.receivedFor(wo) {
		got = append(got, fmt.Sprintf("%s#%d", c.Step, c.Attempt))
	}
	if want := []string{"create-branch#1", "planning#1", "execute#1", "execute#2", "execute#3", "commit#1"}; !slices.Equal(got, want) {
		t.Fatalf("commands = %v, want %v", got, want)
	}
}
