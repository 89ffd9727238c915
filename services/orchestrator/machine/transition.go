package machine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrInvalidTransition is returned, wrapped with the source state, for an
// event that is not legal in the current state: stale, out of order, after
// the end, or carrying data that does not fit.
var ErrInvalidTransition = errors.New("invalid transition")

// ErrDuplicate is a kind of ErrInvalidTransition: the event's effect is
// already part of the state (a redelivered or re-published fact).
var ErrDuplicate = fmt.Errorf("%w: already applied", ErrInvalidTransition)

// Transition folds e into s and returns the new state and what must happen
// next. For an event that is not legal now it returns s unchanged and an
// error wrapping ErrInvalidTransition (ErrDuplicate for a repeat); callers
// treat those as harmless.
//
// The decision is always Pending of the new state: what a state owes does
// not depend on how it was reached, so a restarted orchestrator that rebuilt
// the state from history owes exactly what the live one did.
func Transition(s State, e events.Event, env Env) (State, Decision, error) {
	next, err := fold(s, e)
	if err != nil {
		return s, Decision{}, err
	}
	return next, Pending(next, env), nil
}

// Replay folds events that were already decided upon (a work order's
// history) into s, as a restarted orchestrator rebuilds what it knew.
// Illegal events are skipped, as they were when first delivered, but LastSeq
// still moves past them: it is the guard for the next append and must match
// the stream.
func Replay(s State, history ...events.Event) State {
	for _, e := range history {
		if next, err := fold(s, e); err == nil {
			s = next
		}
		s.LastSeq = max(s.LastSeq, e.Seq)
	}
	return s
}

// Pending is what a state still owes: the event that moves the work order
// on (started, the next dispatch, the terminal event), or, while a
// dispatched step has not started, its command. A waiting step owes a
// wake-up (a timer) until its time and its command again from then on. Commands are an outbox: they
// are owed because the dispatch is stored, so sending one again is always
// safe (its id is deterministic).
func Pending(s State, env Env) Decision {
	switch s.Status {
	case workorder.StatusPending:
		if s.CancelRequested {
			return s.decideCancelled(env)
		}
		if err := s.Request.validate(); err != nil {
			return s.decideEvent(env, s.id("failed"), events.TypeFailed, &events.Failed{
				// The parse errors start with "invalid value: "; once is enough.
				ErrorMessage: "invalid work order: " + strings.TrimPrefix(err.Error(), workorder.ErrInvalid.Error()+": "),
			})
		}
		plan, _ := Plan(s.Request.Selected, s.Request.IssueNumber)
		return s.decideEvent(env, s.id("started"), events.TypeStarted, &events.Started{
			SandboxIdentifier: s.WorkOrderID.SandboxIdentifier(),
			Steps:             plan,
		})

	case workorder.StatusRunning:
		if s.CancelRequested {
			return s.decideCancelled(env)
		}
		if len(s.Steps) == 0 {
			return s.decideEvent(env, s.id("failed"), events.TypeFailed, &events.Failed{ErrorMessage: "work order has no steps to run"})
		}
		cur, ok := s.Current()
		if !ok {
			// The round's first step; Attempt+1: after a retry or in a
			// follow-up round it may have run before.
			next := s.Steps[s.Dispatched]
			return s.dispatch(env, next.Step, next.Attempt+1)
		}
		switch cur.Status {
		case StepDispatched:
			return Decision{Commands: []events.RunStep{s.command(cur)}}
		case StepWaiting:
			// The timer fires at WaitingUntil and asks again; from then
			// on the command is owed, until a worker starts it.
			if env.Now.Before(cur.WaitingUntil) {
				return Decision{Wakes: []Wake{s.wake(cur)}}
			}
			return Decision{Commands: []events.RunStep{s.command(cur)}}
		case StepCompleted:
			if s.Dispatched == len(s.Steps) {
				return s.decideEvent(env, s.id("completed"), events.TypeCompleted, &events.Completed{PullRequestURL: s.Facts.PullRequestURL})
			}
			return s.dispatch(env, s.Steps[s.Dispatched].Step, s.Steps[s.Dispatched].Attempt+1)
		case StepFailed:
			return s.decideEvent(env, s.id("failed"), events.TypeFailed, &events.Failed{
				Step:         cur.Step,
				ErrorMessage: fmt.Sprintf("%s failed: %s", cur.Step, cur.Error),
			})
		}
	}
	return Decision{}
}

// Abort is the decision to end a work order that cannot go on (the service
// gave up on one of its events): workorder.failed with reason, unless it has
// already ended or never began.
func Abort(s State, reason string, env Env) Decision {
	if s.Status == "" || s.Status.Terminal() {
		return Decision{}
	}
	f := &events.Failed{ErrorMessage: reason}
	if cur, ok := s.Current(); ok && s.Status == workorder.StatusRunning {
		f.Step = cur.Step
	}
	return s.decideEvent(env, s.id("failed"), events.TypeFailed, f)
}

// DispatchEventID is the id of the step.dispatched event for one attempt.
func DispatchEventID(wo workorder.ID, step workorder.Step, attempt int) string {
	return events.CommandID(wo, step, attempt) + ".dispatched"
}

// id is the id of an event decided about the work order as a whole. The
// first run without retries keeps the plain ids, so existing streams replay
// as they always did; a follow-up round adds .f<round>, a retry .r<n>.
func (s State) id(suffix string) string {
	id := string(s.WorkOrderID) + "." + suffix
	if s.Round > firstRound {
		id += fmt.Sprintf(".f%d", s.Round)
	}
	if s.Retries > 0 {
		id += fmt.Sprintf(".r%d", s.Retries)
	}
	return id
}

// decideCancelled ends the work order on request, naming its sandbox so the
// executor that holds it can clean it up.
func (s State) decideCancelled(env Env) Decision {
	return s.decideEvent(env, s.id("cancelled"), events.TypeCancelled, &events.Cancelled{
		Reason:            s.CancelReason,
		RepositoryURL:     s.Request.RepositoryURL,
		SandboxType:       s.Request.SandboxType,
		SandboxIdentifier: s.SandboxIdentifier,
	})
}

func (s State) dispatch(env Env, step workorder.Step, attempt int) Decision {
	return s.decideEvent(env, DispatchEventID(s.WorkOrderID, step, attempt), events.TypeStepDispatched, &events.StepDispatched{
		Step:      step,
		Attempt:   attempt,
		CommandID: events.CommandID(s.WorkOrderID, step, attempt),
	})
}

// decideEvent builds a decided event. Its id is deterministic so that
// deciding the same thing twice (two replicas, a redelivery) stores it once.
func (s State) decideEvent(env Env, id, typ string, data any) Decision {
	e := events.New(id, typ, env.Source, s.WorkOrderID, env.Now, data)
	e.TraceParent = s.TraceParent
	return Decision{Events: []events.Event{e}}
}
