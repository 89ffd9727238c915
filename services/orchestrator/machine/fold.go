package machine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// statuses is a set of work-order statuses; "" is a work order nothing has
// happened to yet.
type statuses []workorder.Status

var (
	running = statuses{workorder.StatusRunning}
	live    = statuses{workorder.StatusPending, workorder.StatusRunning} // requested and not ended
)

// rule is what one event type does to a work order: the statuses it applies
// in, the statuses in which its effect is already there (a duplicate), why it
// is refused in any other, and its effect. Status is checked once, in fold,
// before apply runs; apply checks only what the status does not tell (the
// step in hand, the plan) and then changes s.
type rule struct {
	from    statuses
	already statuses
	why     string // refusal in a live status outside from and already; an ended work order "has ended"
	decode  func(events.Event) (any, error)
	apply   func(s State, e events.Event, data any) (State, error)
}

// on builds a rule whose apply gets the event's payload as a *T.
func on[T any](from, already statuses, why string, apply func(s State, e events.Event, d *T) (State, error)) rule {
	return rule{
		from: from, already: already, why: why,
		decode: func(e events.Event) (any, error) { return payload[T](e) },
		apply:  func(s State, e events.Event, d any) (State, error) { return apply(s, e, d.(*T)) },
	}
}

const (
	notRequested = "the work order was not requested"
	notRunning   = "the work order is not running"
	notRetryable = "only a failed or cancelled work order, or a running one whose step waits, can be retried"
)

// rules is the machine: one entry per event type it folds. Types not here
// (the run_step command) are refused.
var rules = map[string]rule{
	events.TypeRequested:       on(statuses{""}, live, "", applyRequested),
	events.TypeStarted:         on(statuses{workorder.StatusPending}, running, notRequested, applyStarted),
	events.TypeStepDispatched:  on(running, nil, notRunning, applyDispatched),
	events.TypeStepStarted:     on(running, nil, notRunning, applyStepStarted),
	events.TypeStepCompleted:   on(running, nil, notRunning, finished(StepCompleted)),
	events.TypeStepFailed:      on(running, nil, notRunning, finished(StepFailed)),
	events.TypeStepWaiting:     on(running, nil, notRunning, applyStepWaiting),
	events.TypeCompleted:       on(running, statuses{workorder.StatusCompleted}, notRunning, applyCompleted),
	events.TypeFailed:          on(live, statuses{workorder.StatusFailed}, notRequested, applyFailed),
	events.TypeCancelRequested: on(live, nil, notRequested, applyCancelRequested),
	events.TypeCancelled:       on(live, statuses{workorder.StatusCancelled}, notRequested, applyCancelled),
	// A running work order only while its step waits (retry now).
	events.TypeRetryRequested: on(statuses{workorder.StatusFailed, workorder.StatusCancelled, workorder.StatusRunning}, nil,
		notRetryable, applyRetryRequested),
	// A cancelled work order's sandbox is gone: it can be retried, not followed up.
	events.TypeFollowUpRequested: on(statuses{workorder.StatusCompleted, workorder.StatusFailed}, nil,
		"only a completed or failed work order can be followed up", applyFollowUpRequested),
}

// fold applies e to a copy of s, as its rule says. An ended work order
// refuses every event whose rule does not apply to an ended one before its
// payload is looked at; every other refusal comes after it.
func fold(s State, e events.Event) (State, error) {
	short := events.ShortName(e.Type)
	if s.Status != "" && e.WorkOrderID != s.WorkOrderID {
		return s, reject(s, short, fmt.Errorf("event is about %s", e.WorkOrderID))
	}
	r, ok := rules[e.Type]
	if !ok {
		return s, reject(s, short, errors.New("not an event the orchestrator folds"))
	}
	if s.Status.Terminal() && !slices.ContainsFunc(r.from, workorder.Status.Terminal) {
		return s, r.refuse(s, short, "the work order has ended")
	}
	d, err := r.decode(e)
	if err != nil {
		return s, reject(s, short, err)
	}
	if !slices.Contains(r.from, s.Status) {
		return s, r.refuse(s, short, r.why)
	}
	// s goes to apply and back by value: a pointer through the table's
	// func values would move every State to the heap.
	s, err = r.apply(s.clone(), e, d)
	if err != nil {
		return s, err
	}
	s.LastSeq = max(s.LastSeq, e.Seq)
	return s, nil
}

// refuse is the error for an event whose rule does not apply in s.
func (r rule) refuse(s State, short, why string) error {
	if slices.Contains(r.already, s.Status) {
		return duplicate(s, short)
	}
	return reject(s, short, errors.New(why))
}

func applyRequested(s State, e events.Event, r *events.Requested) (State, error) {
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
		MaxCostUSD:    max(r.MaxCostUSD, 0),
		Agent:         r.Agent,
	}
	return s, nil
}

func applyStarted(s State, _ events.Event, st *events.Started) (State, error) {
	s.Status = workorder.StatusRunning
	s.SandboxIdentifier = st.SandboxIdentifier
	s.Steps = make([]StepState, len(st.Steps))
	for i, step := range st.Steps {
		s.Steps[i] = StepState{Step: step, Status: StepPending}
	}
	return s, nil
}

// applyDispatched accepts only the next step of the plan at its next
// attempt, and only once the step in hand has completed.
func applyDispatched(s State, e events.Event, d *events.StepDispatched) (State, error) {
	short := events.ShortName(e.Type)
	cur, ok := s.Current()
	if ok && cur.Step == d.Step && cur.Attempt == d.Attempt {
		return s, duplicate(s, short)
	}
	if ok && cur.Status != StepCompleted {
		return s, reject(s, short, fmt.Errorf("%s attempt %d dispatched while %s is %s", d.Step, d.Attempt, cur.Step, cur.Status))
	}
	next := s.Dispatched
	if next >= len(s.Steps) || s.Steps[next].Step != d.Step || d.Attempt != s.Steps[next].Attempt+1 {
		return s, reject(s, short, fmt.Errorf("%s attempt %d is not the next step of the plan", d.Step, d.Attempt))
	}
	s.Steps[next].Status = StepDispatched
	s.Steps[next].Attempt = d.Attempt
	s.Steps[next].DispatchSeq = e.Seq
	s.Steps[next].Wait = Wait{} // a new attempt has not waited
	s.Dispatched++
	return s, nil
}

func applyStepStarted(s State, e events.Event, st *events.StepStarted) (State, error) {
	short := events.ShortName(e.Type)
	cur, err := s.stepInHand(short, st.Step, st.Attempt)
	if err != nil {
		return s, err
	}
	switch cur.Status {
	case StepDispatched:
	case StepWaiting:
		// The command sent again after the wait started; what the wait
		// was is history, its count stays for the ids of later waits.
		cur.WaitingUntil, cur.WaitReason, cur.WaitMessage = time.Time{}, "", ""
	default:
		return s, duplicate(s, short)
	}
	cur.Status = StepRunning
	return s, nil
}

// applyStepWaiting parks the step in hand: it could not run now (a usage
// limit, the daily budget) and is neither completed nor failed. Its
// command is owed again at WaitingUntil, as the same attempt; that command
// proves itself fresh with the waiting event's sequence (DispatchSeq), as
// a first command does with its dispatch's.
func applyStepWaiting(s State, e events.Event, w *events.StepWaiting) (State, error) {
	short := events.ShortName(e.Type)
	cur, err := s.stepInHand(short, w.Step, w.Attempt)
	if err != nil {
		return s, err
	}
	switch cur.Status {
	case StepDispatched, StepRunning:
	case StepWaiting:
		return s, duplicate(s, short)
	default:
		return s, reject(s, short, fmt.Errorf("%s attempt %d has already %s", w.Step, w.Attempt, cur.Status))
	}
	cur.Status = StepWaiting
	cur.DispatchSeq = e.Seq
	cur.Waits++
	cur.WaitingUntil, cur.WaitReason, cur.WaitMessage = w.WaitingUntil, w.Reason, w.Message
	if w.SessionID != "" {
		// What the session had cost before this run: a run resumed after
		// an earlier wait, or a follow-up resuming the round's session,
		// reports only its own part.
		prior := 0.0
		switch w.SessionID {
		case cur.WaitSessionID:
			prior = cur.WaitSessionCostUSD
		case s.Facts.SessionID:
			prior = s.Facts.SessionCostUSD
		}
		cur.WaitSessionID, cur.WaitSessionCostUSD = w.SessionID, prior+max(w.CostUSD, 0)
	}
	cur.IgnoreAccountLimit = false
	// The interrupted run cost what it cost.
	s.SpentUSD += max(w.CostUSD, 0)
	return s, nil
}

// finished is the effect of a worker's result, step.completed or
// step.failed, on the step in hand.
func finished(outcome StepStatus) func(State, events.Event, *events.StepResult) (State, error) {
	return func(s State, e events.Event, r *events.StepResult) (State, error) {
		short := events.ShortName(e.Type)
		cur, err := s.stepInHand(short, r.Step, r.Attempt)
		if err != nil {
			return s, err
		}
		switch cur.Status {
		case StepDispatched, StepRunning:
		case outcome:
			return s, duplicate(s, short)
		case StepWaiting:
			return s, reject(s, short, fmt.Errorf("%s attempt %d waits; its result comes from the command sent again", r.Step, r.Attempt))
		default:
			return s, reject(s, short, fmt.Errorf("%s attempt %d has already %s", r.Step, r.Attempt, cur.Status))
		}
		cur.Status = outcome
		s.SpentUSD += max(r.CostUSD, 0)
		if outcome == StepFailed {
			cur.Error = failureReason(r)
			return s, nil
		}
		cur.Output = r.Output
		s.Facts.record(r)
		if r.SessionID != "" && r.SessionID == cur.WaitSessionID && r.SessionID == s.Facts.SessionID {
			// The session's earlier runs were cut short by waits: they
			// count in what a later resume takes off.
			s.Facts.SessionCostUSD = cur.WaitSessionCostUSD + r.CostUSD
		}
		return s, nil
	}
}

func applyCompleted(s State, _ events.Event, c *events.Completed) (State, error) {
	s.Status = workorder.StatusCompleted
	if c.PullRequestURL != "" {
		s.Facts.PullRequestURL = c.PullRequestURL
	}
	return s, nil
}

func applyFailed(s State, _ events.Event, f *events.Failed) (State, error) {
	s.Status = workorder.StatusFailed
	s.FailedStep = f.Step
	s.Error = f.ErrorMessage
	return s, nil
}

func applyCancelRequested(s State, e events.Event, c *events.CancelRequested) (State, error) {
	if s.CancelRequested {
		return s, duplicate(s, events.ShortName(e.Type))
	}
	s.CancelRequested = true
	s.CancelReason = c.Reason
	return s, nil
}

func applyCancelled(s State, _ events.Event, c *events.Cancelled) (State, error) {
	s.Status = workorder.StatusCancelled
	if c.Reason != "" {
		s.CancelReason = c.Reason
	}
	return s, nil
}

func applyRetryRequested(s State, e events.Event, r *events.RetryRequested) (State, error) {
	if s.Status == workorder.StatusRunning {
		return s.retryNow(e, r)
	}
	if len(s.Steps) == 0 {
		return s, reject(s, events.ShortName(e.Type), errors.New("nothing to retry: the work order ended before it started"))
	}
	s.retry()
	if r.MaxCostUSD > 0 {
		s.Request.MaxCostUSD = r.MaxCostUSD
	}
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

// retryNow accepts a retry of a running work order whose step waits: the
// step's command is sent again at once, as the same attempt, marked to run
// even though the account may still be limited. Waits goes up as for a
// wait, so the command gets an id of its own (a command sent when the
// timer fired may still sit in the queue under the previous one), and the
// retry event's sequence proves the new command fresh. The work order
// never ended, so nothing else reopens; Retries still counts the retry,
// as the gateway numbers it.
func (s State) retryNow(e events.Event, r *events.RetryRequested) (State, error) {
	short := events.ShortName(e.Type)
	cur, ok := s.Waiting()
	if !ok {
		return s, reject(s, short, errors.New(notRetryable))
	}
	if s.CancelRequested {
		return s, reject(s, short, errors.New("a cancel was requested"))
	}
	st := &s.Steps[s.Dispatched-1]
	st.Status = StepDispatched
	st.DispatchSeq = e.Seq
	st.Waits = cur.Waits + 1
	st.WaitingUntil, st.WaitReason, st.WaitMessage = time.Time{}, "", ""
	st.IgnoreAccountLimit = true
	s.Retries++
	if r.MaxCostUSD > 0 {
		s.Request.MaxCostUSD = r.MaxCostUSD
	}
	return s, nil
}

// stepInHand returns the step a worker's event is about, which must be the
// one most recently dispatched, at the same attempt: anything else is a late
// or misdirected report. The rule has already checked that s is running.
func (s *State) stepInHand(short string, step workorder.Step, attempt int) (*StepState, error) {
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
	if r.SessionID != "" {
		implementor := r.Step.AgentName() == workorder.StepExecute.AgentName()
		if implementor || !f.implementorSession {
			// A resumed session's step records its own run's cost.
			if r.SessionID != f.SessionID {
				f.SessionCostUSD = 0
			}
			f.SessionID, f.implementorSession = r.SessionID, implementor
			f.SessionCostUSD += r.CostUSD
		}
	}
	set(&f.PRTemplate, r.PRTemplate)
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
