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
// dispatched step has not started, its command. Commands are an outbox: they
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
			// Attempt+1: after a retry the first step may have run before.
			return s.dispatch(env, s.Steps[0].Step, s.Steps[0].Attempt+1)
		}
		switch cur.Status {
		case StepDispatched:
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

// id is the id of an event decided about the work order as a whole. Round
// 0 keeps the plain ids, so existing streams replay as they always did.
func (s State) id(suffix string) string {
	id := string(s.WorkOrderID) + "." + suffix
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

// fold applies e to a copy of s. Each case states the source states it is
// legal from, after the checks every event shares.
func fold(s State, e events.Event) (State, error) {
	short := events.ShortName(e.Type)
	if s.Status != "" && e.WorkOrderID != s.WorkOrderID {
		return s, reject(s, short, fmt.Errorf("event is about %s", e.WorkOrderID))
	}
	if s.Status.Terminal() && e.Type != events.TypeRetryRequested {
		if isTerminalType(e.Type) && terminalStatus(e.Type) == s.Status {
			return s, duplicate(s, short)
		}
		return s, reject(s, short, errors.New("the work order has ended"))
	}
	s = s.clone()

	switch e.Type {
	case events.TypeRequested:
		r, err := payload[events.Requested](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		if s.Status != "" {
			return s, duplicate(s, short)
		}
		sandbox, err := workorder.ParseSandboxType(string(r.SandboxType))
		if err != nil {
			sandbox = r.SandboxType // kept as given; Pending fails the work order with the reason
		}
		s.WorkOrderID = e.WorkOrderID
		s.Status = workorder.StatusPending
		s.TraceParent = e.TraceParent
		s.Request = Request{
			RepositoryURL: r.RepositoryURL,
			SandboxType:   sandbox,
			UserRequest:   r.UserRequest,
			Selected:      append([]workorder.Step(nil), r.SelectedCommands...),
			IssueNumber:   strings.TrimSpace(r.GitHubIssueNumber),
		}

	case events.TypeStarted:
		st, err := payload[events.Started](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		switch s.Status {
		case workorder.StatusPending:
		case workorder.StatusRunning:
			return s, duplicate(s, short)
		default:
			return s, reject(s, short, errors.New("the work order was not requested"))
		}
		s.Status = workorder.StatusRunning
		s.SandboxIdentifier = st.SandboxIdentifier
		s.Steps = make([]StepState, len(st.Steps))
		for i, step := range st.Steps {
			s.Steps[i] = StepState{Step: step, Status: StepPending}
		}

	case events.TypeStepDispatched:
		d, err := payload[events.StepDispatched](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		if s.Status != workorder.StatusRunning {
			return s, reject(s, short, errors.New("the work order is not running"))
		}
		if cur, ok := s.Current(); ok && cur.Step == d.Step && cur.Attempt == d.Attempt {
			return s, duplicate(s, short)
		}
		next := s.Dispatched
		if cur, ok := s.Current(); ok && cur.Status != StepCompleted {
			return s, reject(s, short, fmt.Errorf("%s attempt %d dispatched while %s is %s", d.Step, d.Attempt, cur.Step, cur.Status))
		}
		if next >= len(s.Steps) || s.Steps[next].Step != d.Step || d.Attempt != s.Steps[next].Attempt+1 {
			return s, reject(s, short, fmt.Errorf("%s attempt %d is not the next step of the plan", d.Step, d.Attempt))
		}
		s.Steps[next].Status = StepDispatched
		s.Steps[next].Attempt = d.Attempt
		s.Steps[next].DispatchSeq = e.Seq
		s.Dispatched++

	case events.TypeStepStarted:
		st, err := payload[events.StepStarted](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		cur, err := s.stepInHand(short, st.Step, st.Attempt)
		if err != nil {
			return s, err
		}
		if cur.Status != StepDispatched {
			return s, duplicate(s, short)
		}
		cur.Status = StepRunning

	case events.TypeStepCompleted, events.TypeStepFailed:
		r, err := payload[events.StepResult](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		cur, err := s.stepInHand(short, r.Step, r.Attempt)
		if err != nil {
			return s, err
		}
		outcome := StepCompleted
		if e.Type == events.TypeStepFailed {
			outcome = StepFailed
		}
		switch cur.Status {
		case StepDispatched, StepRunning:
		case outcome:
			return s, duplicate(s, short)
		default:
			return s, reject(s, short, fmt.Errorf("%s attempt %d has already %s", r.Step, r.Attempt, cur.Status))
		}
		cur.Status = outcome
		if outcome == StepFailed {
			cur.Error = failureReason(r)
			break
		}
		cur.Output = r.Output
		s.Facts.record(r)

	case events.TypeCompleted:
		c, err := payload[events.Completed](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		if s.Status != workorder.StatusRunning {
			return s, reject(s, short, errors.New("the work order is not running"))
		}
		s.Status = workorder.StatusCompleted
		if c.PullRequestURL != "" {
			s.Facts.PullRequestURL = c.PullRequestURL
		}

	case events.TypeFailed:
		f, err := payload[events.Failed](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		if s.Status == "" {
			return s, reject(s, short, errors.New("the work order was not requested"))
		}
		s.Status = workorder.StatusFailed
		s.FailedStep = f.Step
		s.Error = f.ErrorMessage

	case events.TypeCancelRequested:
		c, err := payload[events.CancelRequested](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		if s.Status == "" {
			return s, reject(s, short, errors.New("the work order was not requested"))
		}
		if s.CancelRequested {
			return s, duplicate(s, short)
		}
		s.CancelRequested = true
		s.CancelReason = c.Reason

	case events.TypeCancelled:
		c, err := payload[events.Cancelled](e)
		if err != nil {
			return s, reject(s, short, err)
		}
		if s.Status == "" {
			return s, reject(s, short, errors.New("the work order was not requested"))
		}
		s.Status = workorder.StatusCancelled
		if c.Reason != "" {
			s.CancelReason = c.Reason
		}

	case events.TypeRetryRequested:
		if _, err := payload[events.RetryRequested](e); err != nil {
			return s, reject(s, short, err)
		}
		if s.Status != workorder.StatusFailed && s.Status != workorder.StatusCancelled {
			return s, reject(s, short, errors.New("only a failed or cancelled work order can be retried"))
		}
		if len(s.Steps) == 0 {
			return s, reject(s, short, errors.New("nothing to retry: the work order ended before it started"))
		}
		s.retry()

	default:
		return s, reject(s, short, errors.New("not an event the orchestrator folds"))
	}

	s.LastSeq = max(s.LastSeq, e.Seq)
	return s, nil
}

// retry reopens a failed or cancelled work order for another round: the
// steps that completed stay completed, and the step in hand (failed, or
// dispatched or running when cancelled) goes back to pending, so Pending
// dispatches it again with the next attempt number.
func (s *State) retry() {
	s.Status = workorder.StatusRunning
	s.Retries++
	s.CancelRequested, s.CancelReason = false, ""
	s.FailedStep, s.Error = "", ""
	if cur, ok := s.Current(); ok && cur.Status != StepCompleted {
		s.Steps[s.Dispatched-1].Status = StepPending
		s.Steps[s.Dispatched-1].Error = ""
		s.Dispatched--
	}
}

// stepInHand returns the step a worker's event is about, which must be the
// one most recently dispatched, at the same attempt: anything else is a late
// or misdirected report.
func (s *State) stepInHand(short string, step workorder.Step, attempt int) (*StepState, error) {
	if s.Status != workorder.StatusRunning {
		return nil, reject(*s, short, errors.New("the work order is not running"))
	}
	if s.stepIndex(step) < 0 {
		return nil, reject(*s, short, fmt.Errorf("step %q is not in the plan", step))
	}
	cur, ok := s.Current()
	if !ok || cur.Step != step || cur.Attempt != attempt {
		return nil, reject(*s, short, fmt.Errorf("%s attempt %d is not the step in hand", step, attempt))
	}
	return &s.Steps[s.Dispatched-1], nil
}

// record keeps the facts a finished step established. Only non-empty values
// count: a step that does not know the branch must not erase it.
func (f *Facts) record(r *events.StepResult) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&f.BranchName, r.BranchName)
	set(&f.BaseBranch, r.BaseBranch)
	set(&f.PlanFile, r.PlanFile)
	set(&f.PullRequestURL, r.PullRequestURL)
	if r.Issue != nil {
		f.Issue = cloneIssue(r.Issue)
	}
}

func failureReason(r *events.StepResult) string {
	for _, s := range []string{r.ErrorMessage, r.Output} {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return "no reason given"
}

func isTerminalType(t string) bool {
	return t == events.TypeCompleted || t == events.TypeFailed || t == events.TypeCancelled
}

func terminalStatus(t string) workorder.Status {
	switch t {
	case events.TypeCompleted:
		return workorder.StatusCompleted
	case events.TypeFailed:
		return workorder.StatusFailed
	case events.TypeCancelled:
		return workorder.StatusCancelled
	}
	return ""
}

// payload returns e's data as a T. Decoded events carry a *T; events built
// in memory may carry a T. Anything else is a malformed event, not a panic.
func payload[T any](e events.Event) (*T, error) {
	switch d := e.Data.(type) {
	case *T:
		if d != nil {
			return d, nil
		}
	case T:
		return &d, nil
	}
	var zero T
	return nil, fmt.Errorf("event data is %T, want %T", e.Data, &zero)
}

func reject(s State, short string, why error) error {
	return fmt.Errorf("%w: %s in state %s: %v", ErrInvalidTransition, short, s, why)
}

func duplicate(s State, short string) error {
	return fmt.Errorf("%w: %s in state %s", ErrDuplicate, short, s)
}
