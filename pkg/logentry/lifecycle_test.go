package logentry_test

import (
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestLifecycle_RendersTheWorkOrdersEvents(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		data         any
		event, level string
		message      string
	}{
		{&events.Started{Steps: []workorder.Step{workorder.StepPlanning, workorder.StepExecute}}, "workflow_started", "info", "work order started: 2 steps (planning, execute)"},
		{&events.RetryRequested{Round: 2, Reason: "flaky"}, "workflow_started", "info", "work order retried (round 2): flaky"},
		{&events.Completed{}, "workflow_completed", "info", "work order completed"},
		{&events.Failed{Step: workorder.StepExecute, ErrorMessage: "boom"}, "workflow_failed", "error", "work order failed: boom"},
		{&events.Cancelled{Reason: "wrong repository"}, "workflow_cancelled", "warning", "work order cancelled: wrong repository"},
	}
	for _, tc := range tests {
		e, ok := logentry.Lifecycle(events.Event{WorkOrderID: "wo-00000001", Time: t0, Data: tc.data}, nil)
		if !ok || e.Event != tc.event || string(e.Level) != tc.level || e.Message != tc.message || e.WorkOrderID != "wo-00000001" || !e.Timestamp.Equal(t0) {
			t.Errorf("%T: %+v, want %s %s %q", tc.data, e, tc.event, tc.level, tc.message)
		}
	}
	if _, ok := logentry.Lifecycle(events.Event{Type: events.TypeStepStarted, Data: &events.StepStarted{Step: workorder.StepExecute}}, workorder.DefaultSteps); ok {
		t.Error("a step event rendered as a lifecycle entry")
	}
}

func TestMerge_OrdersByTimeAndStampsElapsed(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	at := func(d time.Duration, event string) logentry.Entry {
		return logentry.Entry{Timestamp: t0.Add(d), Event: event}
	}
	logs := []logentry.Entry{at(0, "step_started"), at(90*time.Second, "step_finished")}
	life := []logentry.Entry{at(90*time.Second, "workflow_completed"), at(0, "workflow_started")}
	got := logentry.Merge(logs, life)
	want := []struct {
		event   string
		elapsed int
	}{{"workflow_started", 0}, {"step_started", 0}, {"step_finished", 90}, {"workflow_completed", 90}}
	for i, w := range want {
		if got[i].Event != w.event || got[i].ElapsedSeconds == nil || *got[i].ElapsedSeconds != w.elapsed {
			t.Errorf("entry %d = %s elapsed %v, want %s %d", i, got[i].Event, got[i].ElapsedSeconds, w.event, w.elapsed)
		}
	}
}

func TestSetProgressAndLevels(t *testing.T) {
	var e logentry.Entry
	e.SetProgress(2, 5)
	if e.StepNumber != 2 || e.TotalSteps != 5 || e.Progress != "2/5" || *e.ProgressPct != 20 {
		t.Errorf("SetProgress(2, 5) = %+v", e)
	}
	var outside logentry.Entry
	outside.SetProgress(0, 5)
	if outside.StepNumber != 0 || outside.ProgressPct != nil {
		t.Errorf("a step outside the plan got progress: %+v", outside)
	}
	for in, want := range map[string]logentry.Level{"warn": logentry.LevelWarn, "WARNING": logentry.LevelWarn, "error": logentry.LevelError} {
		if l, err := logentry.ParseLevel(in); err != nil || l != want {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q", in, l, err, want)
		}
	}
	if e, err := logentry.Decode([]byte(`{"level":"warn","event":"tool_result"}`)); err != nil || e.Level != "warning" {
		t.Errorf("an entry stored as warn decodes as %q, %v; want warning", e.Level, err)
	}
}

// The github service keeps no live log, so its steps' boundaries come
// from their events, numbered in the plan as the executor numbers its own.
func TestLifecycle_GithubStepsFromTheirEvents(t *testing.T) {
	plan := workorder.DefaultSteps // create-branch, planning, execute, commit, create-pr
	started, ok := logentry.Lifecycle(events.Event{Type: events.TypeStepStarted,
		Data: &events.StepStarted{Step: workorder.StepCreatePR, Attempt: 1}}, plan)
	if !ok || started.Event != "step_started" || started.StepNumber != 5 || started.TotalSteps != 5 || *started.ProgressPct != 80 {
		t.Errorf("create-pr started: %+v, %v; want step_started 5/5 at 80%%", started, ok)
	}
	done, ok := logentry.Lifecycle(events.Event{Type: events.TypeStepCompleted,
		Data: &events.StepResult{Step: workorder.StepCreatePR, Attempt: 1, Success: true, DurationSeconds: 2}}, plan)
	if !ok || done.Event != "step_completed" || done.StepNumber != 5 || *done.ProgressPct != 100 || !*done.Success {
		t.Errorf("create-pr completed: %+v, %v; want step_completed 5/5 at 100%%", done, ok)
	}
	for _, ev := range []events.Event{
		{Type: events.TypeStepStarted, Data: &events.StepStarted{Step: workorder.StepFetchIssue}},
		{Type: events.TypeStepFailed, Data: &events.StepResult{Step: workorder.StepCreatePR}},
		{Type: events.TypeStepCompleted, Data: &events.StepResult{Step: workorder.StepCommit, Success: true}},
	} {
		if e, ok := logentry.Lifecycle(ev, plan); ok {
			t.Errorf("%s rendered: %+v", ev.Type, e)
		}
	}
}
