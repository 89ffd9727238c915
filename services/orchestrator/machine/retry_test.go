package machine_test

import (
	"slices"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

const ex = workorder.StepExecute

// failing answers like answer, except that step fails its first n attempts.
func failing(step workorder.Step, n int) worker {
	return func(cmd events.RunStep) events.Event {
		if cmd.Step == step && cmd.Attempt <= n {
			return stepFailed(cmd.Step, cmd.Attempt, "tests are red")
		}
		return answer(cmd)
	}
}

func lastEvent(r run) events.Event { return r.Events[len(r.Events)-1] }

func TestRetry_RunsTheFailedStepAgainAsTheNextAttempt(t *testing.T) {
	plan := []workorder.Step{cb, pl, ex, workorder.StepCommit}
	first := drive(t, failing(ex, 1), requested("", plan...))
	if first.State.Status != workorder.StatusFailed || lastEvent(first).ID != string(wo)+".failed" {
		t.Fatalf("first round ended %s with %s, want failed with the round-0 id", first.State, lastEvent(first).ID)
	}

	second := driveFrom(t, answer, first.State, retryRequested(1))

	// Only the failed step and the ones after it run again; the failed one
	// as attempt 2, with what the completed steps established.
	if got, want := second.commandSteps(), []workorder.Step{ex, workorder.StepCommit}; !slices.Equal(got, want) {
		t.Fatalf("commands after the retry = %v, want %v", got, want)
	}
	exec := second.command(t, ex)
	if exec.Attempt != 2 || exec.ID() != string(wo)+".execute.2" {
		t.Errorf("execute re-run as attempt %d (id %s), want attempt 2", exec.Attempt, exec.ID())
	}
	if exec.Args.BranchName != "feat/fix-auth" || exec.Args.PlanFile != "PRPs/fix-auth.md" {
		t.Errorf("re-run execute lacks the facts of the completed steps: %+v", exec.Args)
	}
	if second.command(t, workorder.StepCommit).Attempt != 1 {
		t.Errorf("commit never ran before; want attempt 1")
	}
	if second.State.Status != workorder.StatusCompleted || lastEvent(second).ID != string(wo)+".completed.r1" {
		t.Fatalf("second round ended %s with %s, want completed with id %s.completed.r1", second.State, lastEvent(second).ID, wo)
	}
	if second.State.Error != "" || second.State.FailedStep != "" {
		t.Errorf("the retried work order still carries the old failure: %q (%s)", second.State.Error, second.State.FailedStep)
	}
}

func TestRetry_EachRoundDecidesUnderItsOwnIDs(t *testing.T) {
	plan := []workorder.Step{cb, ex}
	round0 := drive(t, failing(ex, 2), requested("", plan...))
	round1 := driveFrom(t, failing(ex, 2), round0.State, retryRequested(1))
	// The stream drops an id it saw in the last 2 minutes, so the second
	// failure must not reuse the first one's id.
	if got := lastEvent(round1); got.Type != events.TypeFailed || got.ID != string(wo)+".failed.r1" {
		t.Fatalf("round 1 ended with %s %s, want workorder.failed %s.failed.r1", events.ShortName(got.Type), got.ID, wo)
	}
	if f := lastEvent(round1).Data.(*events.Failed); f.Step != ex || f.ErrorMessage != "execute failed: tests are red" {
		t.Errorf("round 1 failure = %+v", f)
	}

	// Round 2 is cancelled while execute attempt 3 is in hand.
	s := round1.State
	step := stepper(t, &s)
	if got := summary(step(retryRequested(2))); got != "step.dispatched(execute#3)" {
		t.Fatalf("after the second retry: %s", got)
	}
	step(dispatched(ex, 3))
	step(stepStarted(ex, 3))
	dec := step(ev(string(wo)+".cancel_requested.r2", events.TypeCancelRequested, &events.CancelRequested{Reason: "enough"}))
	if len(dec.Events) != 1 || dec.Events[0].ID != string(wo)+".cancelled.r2" {
		t.Fatalf("cancel in round 2 decided %s, want %s.cancelled.r2", summary(dec), wo)
	}
	c := dec.Events[0].Data.(*events.Cancelled)
	want := events.Cancelled{Reason: "enough", RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree, SandboxIdentifier: "sandbox-" + string(wo)}
	if *c != want {
		t.Errorf("cancelled = %+v, want %+v (the sandbox named for the executor's clean-up)", *c, want)
	}
	step(dec.Events[0])
	// The step cancelled in hand is the one a third retry runs again.
	if got := summary(step(retryRequested(3))); got != "step.dispatched(execute#4)" {
		t.Fatalf("retry after a cancel in hand: %s", got)
	}
}

func TestRetry_IsRejectedWhenThereIsNothingToRetry(t *testing.T) {
	for name, evs := range map[string][]events.Event{
		"running":                  {requested("", cb), started(cb)},
		"completed":                {requested("", cb), started(cb), dispatched(cb, 1), stepCompleted(cb, 1, events.StepResult{}), completed()},
		"failed before it started": {requested("")},
		"cancelled while pending":  {requested("", cb), cancelRequested()},
	} {
		t.Run(name, func(t *testing.T) {
			s := machine.Replay(machine.State{}, seq(evs)...)
			// Replay does not decide; append what the last state owes.
			for _, e := range machine.Pending(s, env).Events {
				e.Seq = s.LastSeq + 1
				s = machine.Replay(s, e)
			}
			e := retryRequested(1)
			e.Seq = s.LastSeq + 1
			next, dec, err := machine.Transition(s, e, env)
			if err == nil || !dec.Empty() || next.Status != s.Status {
				t.Fatalf("retry in %s: err=%v decision=%s status=%s", s, err, summary(dec), next.Status)
			}
		})
	}
}

func seq(evs []events.Event) []events.Event {
	out := slices.Clone(evs)
	for i := range out {
		out[i].Seq = uint64(i + 1)
	}
	return out
}
