package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// base is a fixed instant with microsecond precision, which every store
// (Postgres timestamptz included) keeps exactly.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stream hands out events with increasing sequences and times, as the
// WORKORDERS_EVENTS stream would.
type stream struct{ seq uint64 }

func (s *stream) next(wo workorder.ID, typ string, data any) events.Event {
	s.seq++
	e := events.New(fmt.Sprintf("%s.%s.%d", wo, events.ShortName(typ), s.seq), typ, "storetest", wo,
		base.Add(time.Duration(s.seq)*time.Second), data)
	e.Seq = s.seq
	return e
}

func (s *stream) requested(wo workorder.ID, repo string) events.Event {
	return s.next(wo, events.TypeRequested, &events.Requested{
		WorkOrderID:       wo,
		RepositoryURL:     repo,
		SandboxType:       workorder.SandboxWorktree,
		UserRequest:       "Fix authentication bug in " + repo,
		SelectedCommands:  []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepCreatePR},
		GitHubIssueNumber: "42",
	})
}

func (s *stream) stepResult(wo workorder.ID, r events.StepResult) events.Event {
	typ := events.TypeStepCompleted
	if !r.Success {
		typ = events.TypeStepFailed
	}
	if r.AgentName == "" {
		r.AgentName = r.Step.AgentName()
	}
	return s.next(wo, typ, &r)
}

// lifecycle is a whole successful work order, with a hidden internal step,
// a failed attempt that was retried, and cost on every agent step.
func (s *stream) lifecycle(wo workorder.ID, repo string) []events.Event {
	two, five := 2, 5
	return []events.Event{
		s.requested(wo, repo),
		s.next(wo, events.TypeStarted, &events.Started{SandboxIdentifier: wo.SandboxIdentifier()}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepFetchIssue, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepFetchIssue, Attempt: 1, Success: true,
			Issue: &events.Issue{Number: 42, Title: "Login fails"}}),
		s.next(wo, events.TypeStepDispatched, &events.StepDispatched{Step: workorder.StepCreateBranch, Attempt: 1}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreateBranch, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true,
			Output: "fix/login", DurationSeconds: 2.5, SessionID: "session-1", CostUSD: 0.5,
			Usage: &events.Usage{InputTokens: 1000, OutputTokens: 100}, BranchName: "fix/login", BaseBranch: "main"}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepPlanning, Attempt: 1,
			ErrorMessage: "claude exited 1", DurationSeconds: 1, SessionID: "session-2"}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepPlanning, Attempt: 2, Success: true,
			Output: "PRPs/features/login.md", DurationSeconds: 30, SessionID: "session-3", CostUSD: 0.25, NumTurns: 7,
			Usage: &events.Usage{InputTokens: 500, OutputTokens: 50}, CommitCount: &two, FilesChanged: &five, LatestCommitMessage: "feat: log in"}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreatePR, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepCreatePR, Attempt: 1, Success: true,
			PullRequestURL: "https://github.com/acme/demo/pull/7", Output: "https://github.com/acme/demo/pull/7"}),
		s.next(wo, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"}),
	}
}

// fold is the reference: what a store must hold after evs.
func fold(t *testing.T, evs []events.Event) (readmodel.WorkOrder, []readmodel.StepRecord) {
	t.Helper()
	var wo readmodel.WorkOrder
	var steps []readmodel.StepRecord
	for _, e := range evs {
		var err error
		if wo, steps, err = readmodel.Fold(wo, steps, e); err != nil {
			t.Fatalf("Fold(%s): %v", e.ID, err)
		}
	}
	return wo, steps
}
