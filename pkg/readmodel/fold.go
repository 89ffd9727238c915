package readmodel

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrInvalidEvent means an event cannot be folded: it has no stream
// sequence, names no work order or another one than the row's, or carries
// a payload of the wrong type. Stores still count such an event as applied, so one bad event
// cannot stall the projection; the projector logs it.
var ErrInvalidEvent = errors.New("event cannot be folded")

// Fold applies one event to a work order's row and step history and returns
// the new row and history. It is pure: the inputs are not modified, and the
// result shares no mutable memory with them that Fold would later write to.
//
// wo is the zero WorkOrder when the row does not exist yet. Only
// workorder.requested creates a row; any other event for a missing row is
// ignored (its requested event may have aged out of the stream).
//
// An event whose sequence is not newer than wo.Version changes nothing, so
// replays and duplicates are harmless.
func Fold(wo WorkOrder, steps []StepRecord, e events.Event) (WorkOrder, []StepRecord, error) {
	if e.Seq == 0 {
		return wo, steps, fmt.Errorf("%w: %s of %s has no stream sequence", ErrInvalidEvent, events.ShortName(e.Type), e.WorkOrderID)
	}
	if e.WorkOrderID == "" {
		return wo, steps, fmt.Errorf("%w: %s at seq %d names no work order (ce-subject)", ErrInvalidEvent, events.ShortName(e.Type), e.Seq)
	}
	if wo.AgentWorkOrderID == "" {
		if e.Type != events.TypeRequested {
			return wo, steps, nil
		}
		req, ok := e.Data.(*events.Requested)
		if !ok {
			return wo, steps, payloadError(e, req)
		}
		return created(e, req), []StepRecord{}, nil
	}
	if e.WorkOrderID != wo.AgentWorkOrderID {
		return wo, steps, fmt.Errorf("%w: event %s of %s folded into %s", ErrInvalidEvent, e.ID, e.WorkOrderID, wo.AgentWorkOrderID)
	}
	if e.Seq <= wo.Version {
		return wo, steps, nil
	}

	r, ok := rules[e.Type]
	if !ok {
		r = seen // a type added later: the row records it, nothing a client reads changes
	}
	var d any
	if r.decode != nil {
		var err error
		if d, err = r.decode(e); err != nil {
			return wo, steps, err
		}
	}
	next := wo
	// Clip so that appending never writes into the caller's backing array.
	nextSteps := slices.Clip(steps)
	if r.apply != nil && (r.from == nil || slices.Contains(r.from, wo.Status)) {
		// By value: a pointer through the table's func values would move
		// every row to the heap.
		next, nextSteps = r.apply(next, nextSteps, e, d)
	}
	next.TotalCostUSD = next.CostUSD
	next.UpdatedAt = e.Time
	next.Version = e.Seq
	return next, nextSteps, nil
}

// rule is what one event type does to a work order's row: the statuses in
// which it changes the row (nil: all) and how. In any other status, and for
// an event with no effect, the row only records that it saw the event (its
// version and updated_at move); a payload of the wrong type is refused in
// every status.
type rule struct {
	from   []workorder.Status
	decode func(events.Event) (any, error) // nil: no payload is read
	apply  func(wo WorkOrder, steps []StepRecord, e events.Event, d any) (WorkOrder, []StepRecord)
}

// on builds a rule whose apply gets the event's payload as a *T.
func on[T any](from []workorder.Status, apply func(wo WorkOrder, steps []StepRecord, e events.Event, d *T) (WorkOrder, []StepRecord)) rule {
	return rule{
		from: from,
		decode: func(e events.Event) (any, error) {
			d, ok := e.Data.(*T)
			if !ok {
				return nil, payloadError(e, d)
			}
			return d, nil
		},
		apply: func(wo WorkOrder, steps []StepRecord, e events.Event, d any) (WorkOrder, []StepRecord) {
			return apply(wo, steps, e, d.(*T))
		},
	}
}

// seen is the rule of an event that changes nothing a client reads.
var seen = rule{}

// rules is the read model: one entry per event type of the catalogue it
// folds. workorder.requested creates the row (see Fold); here it is a repeat.
var rules = map[string]rule{
	events.TypeRequested:       seen,
	events.TypeStarted:         on(nil, foldStarted),
	events.TypeStepDispatched:  seen,
	events.TypeStepStarted:     on([]workorder.Status{workorder.StatusPending, workorder.StatusRunning}, foldStepStarted),
	events.TypeStepCompleted:   on(nil, foldStepResult),
	events.TypeStepFailed:      on(nil, foldStepResult),
	events.TypeStepWaiting:     on([]workorder.Status{workorder.StatusRunning}, foldStepWaiting),
	events.TypeCompleted:       on(nil, foldCompleted),
	events.TypeFailed:          on(nil, foldFailed),
	events.TypeCancelRequested: seen,
	events.TypeCancelled:       on(nil, foldCancelled),
	// The orchestrator accepts a retry only of a work order that failed or
	// was cancelled (the gateway checks that it had started), or of a
	// running one whose step waits (retry now).
	events.TypeRetryRequested: on([]workorder.Status{workorder.StatusFailed, workorder.StatusCancelled, workorder.StatusRunning}, foldRetryRequested),
	// As the orchestrator: a follow-up of a completed or failed work order
	// that has a branch, and only the next round.
	events.TypeFollowUpRequested: on([]workorder.Status{workorder.StatusCompleted, workorder.StatusFailed}, foldFollowUpRequested),
}

func foldStarted(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.Started) (WorkOrder, []StepRecord) {
	// A late start never reopens a work order that already ended.
	if wo.Status == workorder.StatusPending {
		wo.Status = workorder.StatusRunning
	}
	if d.SandboxIdentifier != "" {
		wo.SandboxIdentifier = d.SandboxIdentifier
	}
	return wo, steps
}

func foldStepStarted(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.StepStarted) (WorkOrder, []StepRecord) {
	wo.CurrentPhase = ptr(string(d.Step))
	wo.WaitingUntil = nil
	return wo, steps
}

// foldStepWaiting shows that the step in hand waits, until when and why;
// the interrupted run's cost counts.
func foldStepWaiting(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.StepWaiting) (WorkOrder, []StepRecord) {
	until := d.WaitingUntil.UTC()
	wo.WaitingUntil = &until
	msg := d.Message
	if msg == "" {
		msg = fmt.Sprintf("waiting: trying %s again at %s", d.Step, until.Format(time.RFC3339))
	}
	wo.CurrentPhase = &msg
	wo.CostUSD += max(d.CostUSD, 0)
	return wo, steps
}

// notWaiting clears what a wait showed, once the step runs, ends or the
// work order does.
func (wo WorkOrder) notWaiting() WorkOrder {
	if wo.WaitingUntil != nil {
		wo.WaitingUntil, wo.CurrentPhase = nil, nil
	}
	return wo
}

func foldStepResult(wo WorkOrder, steps []StepRecord, e events.Event, d *events.StepResult) (WorkOrder, []StepRecord) {
	wo = withStepFacts(wo.notWaiting(), d)
	if !d.Step.Internal() {
		rec := stepRecord(e, d)
		rec.Round = wo.round()
		steps = append(steps, rec)
	}
	return wo, steps
}

func foldCompleted(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.Completed) (WorkOrder, []StepRecord) {
	wo.Status = workorder.StatusCompleted
	wo.CurrentPhase, wo.WaitingUntil = nil, nil
	if d.PullRequestURL != "" {
		wo.GitHubPullRequestURL = ptr(d.PullRequestURL)
	}
	return wo, steps
}

func foldFailed(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.Failed) (WorkOrder, []StepRecord) {
	wo = wo.notWaiting()
	wo.Status = workorder.StatusFailed
	msg := d.ErrorMessage
	if msg == "" {
		msg = "failed"
		if d.Step != "" {
			msg = fmt.Sprintf("step %s failed", d.Step)
		}
	}
	wo.ErrorMessage = ptr(msg)
	return wo, steps
}

func foldCancelled(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.Cancelled) (WorkOrder, []StepRecord) {
	wo.Status = workorder.StatusCancelled
	wo.CurrentPhase, wo.WaitingUntil = nil, nil
	reason := d.Reason
	if reason == "" {
		reason = "cancelled on request"
	}
	wo.ErrorMessage = ptr(reason)
	return wo, steps
}

// foldRetryRequested reopens the row: the old reason goes, the step history
// keeps every attempt. Of a running work order it only ends the wait of
// the step in hand, which is sent again at once.
func foldRetryRequested(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.RetryRequested) (WorkOrder, []StepRecord) {
	if wo.Status == workorder.StatusRunning {
		if wo.WaitingUntil == nil {
			return wo, steps
		}
		wo = wo.notWaiting()
		wo.MaxCostUSD = newCap(wo.MaxCostUSD, d.MaxCostUSD)
		return wo, steps
	}
	wo.Status = workorder.StatusRunning
	wo.MaxCostUSD = newCap(wo.MaxCostUSD, d.MaxCostUSD)
	wo.ErrorMessage = nil
	wo.CurrentPhase = nil
	return wo, steps
}

// foldFollowUpRequested reopens the row for the next round: the old
// reason goes, the step history keeps every round.
func foldFollowUpRequested(wo WorkOrder, steps []StepRecord, _ events.Event, d *events.FollowUpRequested) (WorkOrder, []StepRecord) {
	if wo.GitBranchName == nil || d.Round <= wo.round() {
		return wo, steps
	}
	wo.Status = workorder.StatusRunning
	wo.Round = d.Round
	wo.MaxCostUSD = newCap(wo.MaxCostUSD, d.MaxCostUSD)
	wo.ErrorMessage = nil
	wo.CurrentPhase = nil
	return wo, steps
}

// newCap is the cost cap after a retry or follow-up that may set one:
// usd when > 0, the old one otherwise.
func newCap(old *float64, usd float64) *float64 {
	if usd > 0 {
		return &usd
	}
	return old
}

// round is the row's run in hand, counting rows from before rounds as the
// first.
func (wo WorkOrder) round() int { return max(wo.Round, 1) }

func created(e events.Event, req *events.Requested) WorkOrder {
	wo := WorkOrder{
		AgentWorkOrderID:  e.WorkOrderID,
		RepositoryURL:     req.RepositoryURL,
		SandboxIdentifier: e.WorkOrderID.SandboxIdentifier(),
		SandboxType:       req.SandboxType,
		Status:            workorder.StatusPending,
		CreatedAt:         e.Time,
		UpdatedAt:         e.Time,
		UserRequest:       req.UserRequest,
		SelectedCommands:  slices.Clone(req.SelectedCommands),
		MaxCostUSD:        newCap(nil, req.MaxCostUSD),
		Version:           e.Seq,
	}
	if wo.SelectedCommands == nil {
		wo.SelectedCommands = []workorder.Step{}
	}
	if req.GitHubIssueNumber != "" {
		wo.GitHubIssueNumber = ptr(req.GitHubIssueNumber)
	}
	return wo
}

// withStepFacts records what a finished step established: the branch, the
// latest session, the PR, git counts and the running cost totals. Internal
// steps count too: their cost is real even though their record is hidden.
func withStepFacts(wo WorkOrder, r *events.StepResult) WorkOrder {
	if r.BranchName != "" {
		wo.GitBranchName = ptr(r.BranchName)
	}
	if r.BaseBranch != "" {
		wo.BaseBranch = ptr(r.BaseBranch)
	}
	if r.SessionID != "" {
		wo.AgentSessionID = ptr(r.SessionID)
	}
	if r.PullRequestURL != "" {
		wo.GitHubPullRequestURL = ptr(r.PullRequestURL)
	}
	if r.CommitCount != nil {
		wo.GitCommitCount = *r.CommitCount
	}
	if r.FilesChanged != nil {
		wo.GitFilesChanged = *r.FilesChanged
	}
	if r.LatestCommitMessage != "" {
		wo.LatestCommitMessage = ptr(r.LatestCommitMessage)
	}
	wo.CostUSD += r.CostUSD
	if r.Usage != nil {
		wo.InputTokens += r.Usage.InputTokens
		wo.OutputTokens += r.Usage.OutputTokens
	}
	return wo
}

func stepRecord(e events.Event, r *events.StepResult) StepRecord {
	rec := StepRecord{
		Step:            r.Step,
		AgentName:       r.AgentName,
		Success:         r.Success,
		Output:          nonEmpty(r.Output),
		ErrorMessage:    nonEmpty(r.ErrorMessage),
		DurationSeconds: r.DurationSeconds,
		SessionID:       nonEmpty(r.SessionID),
		Timestamp:       e.Time,
		Attempt:         r.Attempt,
		CostUSD:         r.CostUSD,
		NumTurns:        r.NumTurns,
	}
	if rec.AgentName == "" {
		rec.AgentName = r.Step.AgentName()
	}
	if r.Usage != nil {
		rec.InputTokens = r.Usage.InputTokens
		rec.OutputTokens = r.Usage.OutputTokens
	}
	return rec
}

func payloadError[T any](e events.Event, _ *T) error {
	var want *T
	return fmt.Errorf("%w: %s of %s carries %T, want %T", ErrInvalidEvent, events.ShortName(e.Type), e.WorkOrderID, e.Data, want)
}

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
