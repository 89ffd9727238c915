package machine_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

const wo = workorder.ID("wo-1a2b3c4d")

var env = machine.Env{Source: "awo/orchestrator", Now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}

// Event builders. Each carries the payload type the codec decodes to (a
// pointer), so the machine sees what it sees in production.

func ev(id, typ string, data any) events.Event {
	return events.New(id, typ, "test", wo, env.Now, data)
}

func requested(issue string, steps ...workorder.Step) events.Event {
	return ev(string(wo)+".requested", events.TypeRequested, &events.Requested{
		WorkOrderID: wo, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix authentication bug", SelectedCommands: steps, GitHubIssueNumber: issue,
	})
}

func started(steps ...workorder.Step) events.Event {
	return ev(string(wo)+".started", events.TypeStarted, &events.Started{SandboxIdentifier: wo.SandboxIdentifier(), Steps: steps})
}

func dispatched(step workorder.Step, attempt int) events.Event {
	return ev(machine.DispatchEventID(wo, step, attempt), events.TypeStepDispatched,
		&events.StepDispatched{Step: step, Attempt: attempt, CommandID: events.CommandID(wo, step, attempt)})
}

func stepStarted(step workorder.Step, attempt int) events.Event {
	return ev(events.CommandID(wo, step, attempt)+".started", events.TypeStepStarted,
		&events.StepStarted{Step: step, Attempt: attempt, AgentName: step.AgentName()})
}

func stepCompleted(step workorder.Step, attempt int, r events.StepResult) events.Event {
	r.Step, r.Attempt, r.Success = step, attempt, true
	return ev(events.CommandID(wo, step, attempt)+".completed", events.TypeStepCompleted, &r)
}

func stepFailed(step workorder.Step, attempt int, reason string) events.Event {
	return ev(events.CommandID(wo, step, attempt)+".failed", events.TypeStepFailed,
		&events.StepResult{Step: step, Attempt: attempt, ErrorMessage: reason})
}

// waitFor is how long a step reports it waits in these tests.
const waitFor = time.Hour

// stepWaiting is a worker's step.waiting for the command of step's attempt
// that had waited waits times before, until env.Now+waitFor.
func stepWaiting(step workorder.Step, attempt, waits int) events.Event {
	cmd := events.RunStep{WorkOrderID: wo, Step: step, Attempt: attempt, Args: events.StepArgs{Waits: waits}}
	return ev(cmd.ID()+".waiting", events.TypeStepWaiting, &events.StepWaiting{
		Step: step, Attempt: attempt, AgentName: step.AgentName(), WaitingUntil: env.Now.Add(waitFor),
		Reason: events.WaitUsageLimit, Message: "waiting for Claude Code's usage limit to reset",
		Agent: events.AgentClaude, SessionID: fmt.Sprintf("sess-%d", waits+1), CostUSD: 0.25,
	})
}

func completed() events.Event {
	return ev(string(wo)+".completed", events.TypeCompleted, &events.Completed{})
}

func failed() events.Event {
	return ev(string(wo)+".failed", events.TypeFailed, &events.Failed{ErrorMessage: "boom"})
}

func cancelRequested() events.Event {
	return ev(string(wo)+".cancel_requested", events.TypeCancelRequested, &events.CancelRequested{Reason: "client asked"})
}

func cancelled() events.Event {
	return ev(string(wo)+".cancelled", events.TypeCancelled, &events.Cancelled{Reason: "client asked"})
}

func retryRequested(round int) events.Event {
	return ev(fmt.Sprintf("%s.retry_requested.r%d", wo, round), events.TypeRetryRequested, &events.RetryRequested{Reason: "try again", Round: round})
}

func followUpRequested(round int) events.Event {
	return ev(fmt.Sprintf("%s.follow_up_requested.%d", wo, round), events.TypeFollowUpRequested,
		&events.FollowUpRequested{PromptText: "also handle the empty case", Round: round})
}

// failedIn and completedIn are the terminal events of a follow-up round,
// under its ids.
func failedIn(round int) events.Event {
	return ev(fmt.Sprintf("%s.failed.f%d", wo, round), events.TypeFailed, &events.Failed{ErrorMessage: "boom"})
}

func completedIn(round int) events.Event {
	return ev(fmt.Sprintf("%s.completed.f%d", wo, round), events.TypeCompleted, &events.Completed{})
}

// fold applies events in order, numbering them as a stream would, and fails
// the test on any rejection.
func fold(t *testing.T, evs ...events.Event) machine.State {
	t.Helper()
	var s machine.State
	for _, e := range evs {
		e.Seq = s.LastSeq + 1
		next, _, err := machine.Transition(s, e, env)
		if err != nil {
			t.Fatalf("building state: %v", err)
		}
		s = next
	}
	return s
}

// stepper returns a function that feeds one event at a time into *s, as
// the next of the stream, and returns the decision; a rejection fails the
// test.
func stepper(t *testing.T, s *machine.State) func(events.Event) machine.Decision {
	return func(e events.Event) machine.Decision {
		t.Helper()
		e.Seq = s.LastSeq + 1
		next, dec, err := machine.Transition(*s, e, env)
		if err != nil {
			t.Fatalf("%s: %v", events.ShortName(e.Type), err)
		}
		*s = next
		return dec
	}
}

// summary renders a decision compactly: "step.dispatched(planning#1)",
// "run(execute#1)", "workorder.failed(execute failed: boom)".
func summary(d machine.Decision) string {
	var parts []string
	for _, e := range d.Events {
		switch p := e.Data.(type) {
		case *events.StepDispatched:
			parts = append(parts, fmt.Sprintf("step.dispatched(%s#%d)", p.Step, p.Attempt))
		case *events.Failed:
			parts = append(parts, fmt.Sprintf("workorder.failed(%s)", p.ErrorMessage))
		default:
			parts = append(parts, events.ShortName(e.Type))
		}
	}
	for _, c := range d.Commands {
		switch {
		case c.Args.IgnoreAccountLimit:
			parts = append(parts, fmt.Sprintf("run(%s#%d.w%d now)", c.Step, c.Attempt, c.Args.Waits))
		case c.Args.Waits > 0:
			parts = append(parts, fmt.Sprintf("run(%s#%d.w%d)", c.Step, c.Attempt, c.Args.Waits))
		default:
			parts = append(parts, fmt.Sprintf("run(%s#%d)", c.Step, c.Attempt))
		}
	}
	for _, w := range d.Wakes {
		parts = append(parts, fmt.Sprintf("wake(%s#%d.w%d)", w.Step, w.Attempt, w.Waits))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// worker plays the executor and github service in drive: it answers a
// command with the events a real worker would publish.
type worker func(cmd events.RunStep) events.Event

// prTemplate is the pull request template answer's commit step reports.
const prTemplate = "## Description\n\n## Checklist\n- [ ] Tests\n"

// answer is the default worker: every step succeeds and reports the facts
// the real one would.
func answer(cmd events.RunStep) events.Event {
	var r events.StepResult
	switch cmd.Step {
	case workorder.StepCreateBranch:
		r = events.StepResult{Output: "feat/fix-auth", BranchName: "feat/fix-auth", BaseBranch: "main"}
	case workorder.StepFetchIssue:
		r = events.StepResult{Issue: &events.Issue{Number: 42, Title: "Login fails", Body: "Token expires early"}}
	case workorder.StepPlanning:
		r = events.StepResult{Output: "PRPs/fix-auth.md", PlanFile: "PRPs/fix-auth.md"}
	case workorder.StepCommit:
		r = events.StepResult{Output: "commit done", PRTemplate: prTemplate}
	case workorder.StepCreatePR:
		r = events.StepResult{Output: "https://github.com/acme/demo/pull/7", PullRequestURL: "https://github.com/acme/demo/pull/7"}
	default:
		r = events.StepResult{Output: string(cmd.Step) + " done"}
	}
	return stepCompleted(cmd.Step, cmd.Attempt, r)
}

// run is a drive of a whole work order through the pure machine: it feeds
// every decided event back in, as the stream would deliver it, and answers
// every command with step.started and the worker's result. Every event is
// delivered twice, as an at-least-once stream may, and the second delivery
// must be rejected without changing anything.
type run struct {
	State    machine.State
	Commands []events.RunStep
	Events   []events.Event // in stream order
}

func drive(t *testing.T, w worker, first events.Event) run {
	t.Helper()
	return driveFrom(t, w, machine.State{}, first)
}

// driveFrom is drive starting from a state built earlier (e.g. a failed
// work order that first is a retry of).
func driveFrom(t *testing.T, w worker, from machine.State, first events.Event) run {
	t.Helper()
	r := run{State: from}
	queue := []events.Event{first}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		e.Seq = r.State.LastSeq + 1
		r.Events = append(r.Events, e)

		next, dec, err := machine.Transition(r.State, e, env)
		if err != nil {
			t.Fatalf("%s in %s: %v", events.ShortName(e.Type), r.State, err)
		}
		// A state owes the same whether it was reached live or rebuilt.
		if want := machine.Pending(next, env); !reflect.DeepEqual(dec, want) {
			t.Fatalf("decision after %s = %s, Pending = %s", events.ShortName(e.Type), summary(dec), summary(want))
		}
		again, redec, err := machine.Transition(next, e, env)
		if !errors.Is(err, machine.ErrInvalidTransition) || !redec.Empty() || !reflect.DeepEqual(again, next) {
			t.Fatalf("redelivered %s: err=%v decision=%s", events.ShortName(e.Type), err, summary(redec))
		}
		r.State = next

		queue = append(queue, dec.Events...)
		for _, cmd := range dec.Commands {
			r.Commands = append(r.Commands, cmd)
			queue = append(queue, stepStarted(cmd.Step, cmd.Attempt), w(cmd))
		}
	}
	return r
}

func (r run) commandSteps() []workorder.Step {
	var out []workorder.Step
	for _, c := range r.Commands {
		out = append(out, c.Step)
	}
	return out
}

func (r run) command(t *testing.T, step workorder.Step) events.RunStep {
	t.Helper()
	for _, c := range r.Commands {
		if c.Step == step {
			return c
		}
	}
	t.Fatalf("no command for %s among %v", step, r.commandSteps())
	return events.RunStep{}
}

func (r run) count(typ string) int {
	n := 0
	for _, e := range r.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}
