package readmodel

import (
	"errors"
	"fmt"
	"slices"

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

	next := wo
	// Clip so that appending never writes into the caller's backing array.
	nextSteps := slices.Clip(steps)

	switch e.Type {
	case events.TypeStarted:
		d, ok := e.Data.(*events.Started)
		if !ok {
			return wo, steps, payloadError(e, d)
		}
		// A late start never reopens a work order that already ended.
		if next.Status == workorder.StatusPending {
			next.Status = workorder.StatusRunning
		}
		if d.SandboxIdentifier != "" {
			next.SandboxIdentifier = d.SandboxIdentifier
		}

	case events.TypeStepStarted:
		d, ok := e.Data.(*events.StepStarted)
		if !ok {
			return wo, steps, payloadError(e, d)
		}
		if !next.Status.Terminal() {
			next.CurrentPhase = ptr(string(d.Step))
		}

	case events.TypeStepCompleted, events.TypeStepFailed:
		d, ok := e.Data.(*events.StepResult)
		if !ok {
			return wo, steps, payloadError(e, d)
		}
		next = withStepFacts(next, d)
		if !d.Step.Internal() {
			nextSteps = append(nextSteps, stepRecord(e, d))
		}

	case events.TypeCompleted:
		d, ok := e.Data.(*events.Completed)
		if !ok {
			return wo, steps, payloadError(e, d)
		}
		next.Status = workorder.StatusCompleted
		next.CurrentPhase = nil
		if d.PullRequestURL != "" {
			next.GitHubPullRequestURL = ptr(d.PullRequestURL)
		}

	case events.TypeFailed:
		d, ok := e.Data.(*events.Failed)
		if !ok {
			return wo, steps, payloadError(e, d)
		}
		next.Status = workorder.StatusFailed
		msg := d.ErrorMessage
		if msg == "" {
			msg = "failed"
			if d.Step != "" {
				msg = fmt.Sprintf("step %s failed", d.Step)
			}
		}
		next.ErrorMessage = ptr(msg)

	case events.TypeCancelled:
		d, ok := e.Data.(*events.Cancelled)
		if !ok {
			return wo, steps, payloadError(e, d)
		}
		next.Status = workorder.StatusCancelled
		next.CurrentPhase = nil
		reason := d.Reason
		if reason == "" {
			reason = "cancelled on request"
		}
		next.ErrorMessage = ptr(reason)

	case events.TypeRetryRequested:
		if _, ok := e.Data.(*events.RetryRequested); !ok {
			return wo, steps, payloadError(e, (*events.RetryRequested)(nil))
		}
		// The orchestrator accepts a retry only of a work order that failed
		// or was cancelled (the gateway checks that it had started); the
		// old reason goes, the step history keeps every attempt.
		if next.Status == workorder.StatusFailed || next.Status == workorder.StatusCancelled {
			next.Status = workorder.StatusRunning
			next.ErrorMessage = nil
			next.CurrentPhase = nil
		}

	default:
		// requested again, step.dispatched, cancel_requested and types added
		// later change nothing a client reads; the row still records that it
		// has seen the event.
	}

	next.UpdatedAt = e.Time
	next.Version = e.Seq
	return next, nextSteps, nil
}

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
