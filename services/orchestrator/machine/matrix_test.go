package machine_test

import (
	"errors"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

const (
	cb = workorder.StepCreateBranch
	pl = workorder.StepPlanning
)

// matrixStates are the states of a two-step work order (create-branch,
// planning), each built from the events that lead to it.
var matrixStates = []struct {
	name   string
	events []events.Event
}{
	{"new", nil},
	{"pending", []events.Event{requested("", cb, pl)}},
	{"running, nothing dispatched", []events.Event{requested("", cb, pl), started(cb, pl)}},
	{"step dispatched", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1)}},
	{"step running", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepStarted(cb, 1)}},
	{"step completed", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepStarted(cb, 1), stepCompleted(cb, 1, events.StepResult{BranchName: "b"})}},
	{"step failed", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepStarted(cb, 1), stepFailed(cb, 1, "boom")}},
	{"cancel requested", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), cancelRequested()}},
	{"completed", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepCompleted(cb, 1, events.StepResult{}),
		dispatched(pl, 1), stepCompleted(pl, 1, events.StepResult{}), completed()}},
	{"failed", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepFailed(cb, 1, "boom"), failed()}},
	{"cancelled", []events.Event{requested("", cb, pl), started(cb, pl), cancelRequested(), cancelled()}},
	{"failed before it started", []events.Event{requested(""), failed()}},
	{"cancelled while a step ran", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepStarted(cb, 1), cancelRequested(), cancelled()}},
	{"cancelled between steps", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepCompleted(cb, 1, events.StepResult{}), cancelRequested(), cancelled()}},
	{"retried", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepFailed(cb, 1, "boom"), failed(), retryRequested(1)}},
	{"completed with a branch", completedWithBranch()},
	{"failed after the branch", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepCompleted(cb, 1, events.StepResult{BranchName: "b"}),
		dispatched(pl, 1), stepFailed(pl, 1, "boom"), failed()}},
	{"followed up", append(completedWithBranch(), followUpRequested(2))},
	{"step waiting", []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepStarted(cb, 1), stepWaiting(cb, 1, 0)}},
	{"follow-up running", append(completedWithBranch(), followUpRequested(2), dispatched(fu, 1), stepStarted(fu, 1))},
	{"follow-up failed", append(completedWithBranch(), followUpRequested(2), dispatched(fu, 1), stepFailed(fu, 1, "boom"), failedIn(2))},
	{"follow-up completed", append(completedWithBranch(), followUpRequested(2), dispatched(fu, 1), stepCompleted(fu, 1, events.StepResult{}),
		dispatched(workorder.StepCommit, 1), stepCompleted(workorder.StepCommit, 1, events.StepResult{}), completedIn(2))},
}

const fu = workorder.StepFollowUp

// completedWithBranch is a two-step work order that created its branch
// and completed: one a follow-up may go on with.
func completedWithBranch() []events.Event {
	return []events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepCompleted(cb, 1, events.StepResult{BranchName: "b"}),
		dispatched(pl, 1), stepCompleted(pl, 1, events.StepResult{}), completed()}
}

// matrixEvents are the event kinds, each made the natural one for the state
// it is applied to: a dispatch of the next step of the plan, a worker's report
// about the step in hand.
var matrixEvents = []struct {
	name string
	want func(outcomes) string
	make func(s machine.State) events.Event
}{
	{"requested", func(o outcomes) string { return o.requested }, func(machine.State) events.Event { return requested("", cb, pl) }},
	{"started", func(o outcomes) string { return o.started }, func(machine.State) events.Event { return started(cb, pl) }},
	{"step.dispatched", func(o outcomes) string { return o.dispatched }, func(s machine.State) events.Event {
		if s.Dispatched < len(s.Steps) {
			return dispatched(s.Steps[s.Dispatched].Step, s.Steps[s.Dispatched].Attempt+1)
		}
		return dispatched(cb, 1)
	}},
	{"step.started", func(o outcomes) string { return o.stepStarted }, func(s machine.State) events.Event { st, a := inHand(s); return stepStarted(st, a) }},
	{"step.completed", func(o outcomes) string { return o.stepCompleted }, func(s machine.State) events.Event {
		st, a := inHand(s)
		return stepCompleted(st, a, events.StepResult{})
	}},
	{"step.failed", func(o outcomes) string { return o.stepFailed }, func(s machine.State) events.Event { st, a := inHand(s); return stepFailed(st, a, "boom") }},
	{"step.waiting", func(o outcomes) string { return o.stepWaiting }, func(s machine.State) events.Event { st, a := inHand(s); return stepWaiting(st, a, 0) }},
	{"workorder.completed", func(o outcomes) string { return o.completed }, func(machine.State) events.Event { return completed() }},
	{"workorder.failed", func(o outcomes) string { return o.failed }, func(machine.State) events.Event { return failed() }},
	{"cancel_requested", func(o outcomes) string { return o.cancelRequested }, func(machine.State) events.Event { return cancelRequested() }},
	{"workorder.cancelled", func(o outcomes) string { return o.cancelled }, func(machine.State) events.Event { return cancelled() }},
	{"retry_requested", func(o outcomes) string { return o.retryRequested }, func(machine.State) events.Event { return retryRequested(1) }},
	{"follow_up_requested", func(o outcomes) string { return o.followUp }, func(s machine.State) events.Event {
		return followUpRequested(max(s.Round, 1) + 1)
	}},
}

func inHand(s machine.State) (workorder.Step, int) {
	if cur, ok := s.Current(); ok {
		return cur.Step, cur.Attempt
	}
	return cb, 1
}

// outcomes is one row of the matrix, a field per event kind. "invalid" and
// "duplicate" are rejections (ErrInvalidTransition, and ErrDuplicate which is
// a kind of it); anything else is "<status after>: <decision>".
type outcomes struct {
	requested, started, dispatched, stepStarted, stepCompleted, stepFailed, stepWaiting,
	completed, failed, cancelRequested, cancelled, retryRequested, followUp string
}

const (
	inv = "invalid"
	dup = "duplicate"
)

var matrix = map[string]outcomes{
	"new": {
		requested: "pending: workorder.started", started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: inv, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"pending": {
		requested: dup, started: "running: step.dispatched(create-branch#1)", dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: "failed: -", cancelRequested: "pending: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"running, nothing dispatched": {
		requested: dup, started: dup, dispatched: "running: run(create-branch#1)",
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"step dispatched": {
		requested: dup, started: dup, dispatched: inv,
		stepStarted:   "running: -",
		stepCompleted: "running: step.dispatched(planning#1)",
		stepFailed:    "running: workorder.failed(create-branch failed: boom)",
		completed:     "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    "running: wake(create-branch#1.w1)",
		retryRequested: inv, followUp: inv,
	},
	"step running": {
		requested: dup, started: dup, dispatched: inv,
		stepStarted:   dup,
		stepCompleted: "running: step.dispatched(planning#1)",
		stepFailed:    "running: workorder.failed(create-branch failed: boom)",
		completed:     "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    "running: wake(create-branch#1.w1)",
		retryRequested: inv, followUp: inv,
	},
	"step completed": {
		requested: dup, started: dup, dispatched: "running: run(planning#1)",
		stepStarted: dup, stepCompleted: dup, stepFailed: inv,
		completed: "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"step failed": {
		requested: dup, started: dup, dispatched: inv,
		stepStarted: dup, stepCompleted: inv, stepFailed: dup,
		completed: "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"cancel requested": {
		requested: dup, started: dup, dispatched: inv,
		stepStarted:   "running: workorder.cancelled",
		stepCompleted: "running: workorder.cancelled",
		stepFailed:    "running: workorder.cancelled",
		completed:     "completed: -", failed: "failed: -", cancelRequested: dup, cancelled: "cancelled: -",
		stepWaiting:    "running: workorder.cancelled",
		retryRequested: inv, followUp: inv,
	},
	"completed": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: dup, failed: inv, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"failed": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: dup, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: "running: step.dispatched(create-branch#2)", followUp: inv,
	},
	"cancelled": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: inv, cancelRequested: inv, cancelled: dup,
		stepWaiting:    inv,
		retryRequested: "running: step.dispatched(create-branch#1)", followUp: inv,
	},
	"failed before it started": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: dup, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"cancelled while a step ran": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: inv, cancelRequested: inv, cancelled: dup,
		stepWaiting:    inv,
		retryRequested: "running: step.dispatched(create-branch#2)", followUp: inv,
	},
	"cancelled between steps": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: inv, cancelRequested: inv, cancelled: dup,
		stepWaiting:    inv,
		retryRequested: "running: step.dispatched(planning#1)", followUp: inv,
	},
	"retried": {
		requested: dup, started: dup, dispatched: "running: run(create-branch#2)",
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"completed with a branch": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: dup, failed: inv, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: inv, followUp: "running: step.dispatched(follow-up#1)",
	},
	"failed after the branch": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: dup, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: "running: step.dispatched(planning#2)", followUp: "running: step.dispatched(follow-up#1)",
	},
	"followed up": {
		requested: dup, started: dup, dispatched: "running: run(follow-up#1)",
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    inv,
		retryRequested: inv, followUp: inv,
	},
	"step waiting": {
		requested: dup, started: dup, dispatched: inv,
		stepStarted: "running: -", stepCompleted: inv, stepFailed: inv, stepWaiting: dup,
		completed: "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		retryRequested: "running: run(create-branch#1.w2 now)", followUp: inv,
	},
	"follow-up running": {
		requested: dup, started: dup, dispatched: inv,
		stepStarted:   dup,
		stepCompleted: "running: step.dispatched(commit#1)",
		stepFailed:    "running: workorder.failed(follow-up failed: boom)",
		completed:     "completed: -", failed: "failed: -", cancelRequested: "running: workorder.cancelled", cancelled: "cancelled: -",
		stepWaiting:    "running: wake(follow-up#1.w1)",
		retryRequested: inv, followUp: inv,
	},
	"follow-up failed": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: inv, failed: dup, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: "running: step.dispatched(follow-up#2)", followUp: "running: step.dispatched(follow-up#2)",
	},
	"follow-up completed": {
		requested: inv, started: inv, dispatched: inv,
		stepStarted: inv, stepCompleted: inv, stepFailed: inv,
		completed: dup, failed: inv, cancelRequested: inv, cancelled: inv,
		stepWaiting:    inv,
		retryRequested: inv, followUp: "running: step.dispatched(follow-up#2)",
	},
}

func TestTransition_EveryStateAndEventKind(t *testing.T) {
	if len(matrix) != len(matrixStates) {
		t.Fatalf("matrix has %d rows for %d states", len(matrix), len(matrixStates))
	}
	for _, st := range matrixStates {
		row, ok := matrix[st.name]
		if !ok {
			t.Fatalf("matrix has no row for %q", st.name)
		}
		for _, ek := range matrixEvents {
			t.Run(st.name+"/"+ek.name, func(t *testing.T) {
				s := fold(t, st.events...)
				e := ek.make(s)
				e.Seq = s.LastSeq + 1
				next, dec, err := machine.Transition(s, e, env)
				if got, want := outcome(next, dec, err), ek.want(row); got != want {
					t.Errorf("got %q, want %q (err: %v)", got, want, err)
				}
				if err != nil && next.LastSeq != s.LastSeq {
					t.Errorf("a rejected event moved LastSeq from %d to %d", s.LastSeq, next.LastSeq)
				}
				if err == nil && next.LastSeq != e.Seq {
					t.Errorf("LastSeq = %d after folding seq %d", next.LastSeq, e.Seq)
				}
			})
		}
	}
}

func outcome(s machine.State, d machine.Decision, err error) string {
	switch {
	case errors.Is(err, machine.ErrDuplicate):
		return "duplicate"
	case errors.Is(err, machine.ErrInvalidTransition):
		return "invalid"
	case err != nil:
		return "unexpected error " + err.Error()
	}
	return string(s.Status) + ": " + summary(d)
}
