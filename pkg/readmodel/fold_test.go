package readmodel

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

const woID = workorder.ID("wo-1a2b3c4d")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ev builds the n-th event of woID: sequence n, n seconds after t0.
func ev(n uint64, typ string, data any) events.Event {
	e := events.New(string(woID)+"."+events.ShortName(typ), typ, "test", woID, t0.Add(time.Duration(n)*time.Second), data)
	e.Seq = n
	return e
}

func at(n uint64) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func intp(n int) *int { return &n }

func requested(n uint64) events.Event {
	return ev(n, events.TypeRequested, &events.Requested{
		WorkOrderID:       woID,
		RepositoryURL:     "https://github.com/acme/demo",
		SandboxType:       workorder.SandboxWorktree,
		UserRequest:       "Fix authentication bug (issue #42)",
		SelectedCommands:  []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning},
		GitHubIssueNumber: "42",
	})
}

func stepDone(n uint64, r events.StepResult) events.Event {
	typ := events.TypeStepCompleted
	if !r.Success {
		typ = events.TypeStepFailed
	}
	return ev(n, typ, &r)
}

func TestFold(t *testing.T) {
	running := []events.Event{
		requested(1),
		ev(2, events.TypeStarted, &events.Started{SandboxIdentifier: "sandbox-" + string(woID)}),
	}
	branchDone := append(slices.Clone(running),
		ev(3, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreateBranch, Attempt: 1}),
		stepDone(4, events.StepResult{
			Step: workorder.StepCreateBranch, Attempt: 1, AgentName: "BranchCreator", Success: true,
			Output: "feat/auth", SessionID: "s-1", CostUSD: 0.5, BranchName: "feat/auth", BaseBranch: "main",
			Usage: &events.Usage{InputTokens: 100, OutputTokens: 10},
		}),
	)

	tests := []struct {
		name    string
		history []events.Event
		event   events.Event
		wantErr error
		// want edits a copy of the state after history into the expected
		// state; everything it does not touch must stay as it was.
		want func(wo *WorkOrder, steps *[]StepRecord)
	}{
		{
			name:  "Requested_CreatesPendingRow",
			event: requested(1),
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				*wo = WorkOrder{
					AgentWorkOrderID:  woID,
					RepositoryURL:     "https://github.com/acme/demo",
					SandboxIdentifier: "sandbox-wo-1a2b3c4d",
					SandboxType:       workorder.SandboxWorktree,
					GitHubIssueNumber: ptr("42"),
					Status:            workorder.StatusPending,
					CreatedAt:         at(1),
					UpdatedAt:         at(1),
					UserRequest:       "Fix authentication bug (issue #42)",
					SelectedCommands:  []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning},
					Version:           1,
				}
				*steps = []StepRecord{}
			},
		},
		{
			name: "RequestedWithoutIssue_LeavesIssueNull",
			event: ev(1, events.TypeRequested, &events.Requested{
				RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxBranch,
				UserRequest: "x", SelectedCommands: []workorder.Step{workorder.StepExecute},
			}),
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				*wo = WorkOrder{
					AgentWorkOrderID: woID, RepositoryURL: "https://github.com/acme/demo",
					SandboxIdentifier: "sandbox-wo-1a2b3c4d", SandboxType: workorder.SandboxBranch,
					Status: workorder.StatusPending, CreatedAt: at(1), UpdatedAt: at(1), UserRequest: "x",
					SelectedCommands: []workorder.Step{workorder.StepExecute}, Version: 1,
				}
				*steps = []StepRecord{}
			},
		},
		{
			name:    "Started_MakesItRunning",
			history: running[:1],
			event:   running[1],
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusRunning
				wo.UpdatedAt, wo.Version = at(2), 2
			},
		},
		{
			name:    "StepStarted_SetsCurrentPhase",
			history: running,
			event:   ev(3, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.CurrentPhase = ptr("planning")
				wo.UpdatedAt, wo.Version = at(3), 3
			},
		},
		{
			name:    "StepCompleted_AppendsRecordAndRecordsFacts",
			history: branchDone[:3],
			event:   branchDone[3],
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				wo.GitBranchName, wo.BaseBranch, wo.AgentSessionID = ptr("feat/auth"), ptr("main"), ptr("s-1")
				wo.CostUSD, wo.InputTokens, wo.OutputTokens = 0.5, 100, 10
				wo.TotalCostUSD = 0.5
				wo.UpdatedAt, wo.Version = at(4), 4
				*steps = append(*steps, StepRecord{
					Step: workorder.StepCreateBranch, AgentName: "BranchCreator", Success: true,
					Output: ptr("feat/auth"), SessionID: ptr("s-1"), Timestamp: at(4), Attempt: 1,
					CostUSD: 0.5, InputTokens: 100, OutputTokens: 10, Round: 1,
				})
			},
		},
		{
			name:    "StepCompleted_AddsCostAndTakesLatestSession",
			history: branchDone,
			event: stepDone(5, events.StepResult{
				Step: workorder.StepPlanning, Attempt: 1, Success: true, Output: "PRPs/features/auth.md",
				DurationSeconds: 12.5, SessionID: "s-2", CostUSD: 0.25, NumTurns: 3,
				Usage: &events.Usage{InputTokens: 50, OutputTokens: 5},
			}),
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				wo.AgentSessionID = ptr("s-2")
				wo.CostUSD, wo.InputTokens, wo.OutputTokens = 0.75, 150, 15
				wo.TotalCostUSD = 0.75
				wo.UpdatedAt, wo.Version = at(5), 5
				*steps = append(*steps, StepRecord{
					Step: workorder.StepPlanning, AgentName: "Planner", Success: true,
					Output: ptr("PRPs/features/auth.md"), DurationSeconds: 12.5, SessionID: ptr("s-2"),
					Timestamp: at(5), Attempt: 1, CostUSD: 0.25, InputTokens: 50, OutputTokens: 5, NumTurns: 3, Round: 1,
				})
			},
		},
		{
			name:    "StepFailed_AppendsFailedRecord_RowErrorWaitsForWorkOrderFailed",
			history: branchDone,
			event: stepDone(5, events.StepResult{
				Step: workorder.StepExecute, Attempt: 2, AgentName: "Implementor",
				ErrorMessage: "claude exited 1: api_error", DurationSeconds: 1,
			}),
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(5), 5
				*steps = append(*steps, StepRecord{
					Step: workorder.StepExecute, AgentName: "Implementor", ErrorMessage: ptr("claude exited 1: api_error"),
					DurationSeconds: 1, Timestamp: at(5), Attempt: 2, Round: 1,
				})
			},
		},
		{
			name:    "CommitCompleted_SetsGitCounts",
			history: branchDone,
			event: stepDone(5, events.StepResult{
				Step: workorder.StepCommit, Attempt: 1, AgentName: "Committer", Success: true,
				CommitCount: intp(2), FilesChanged: intp(5), LatestCommitMessage: "feat: greet",
			}),
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				wo.GitCommitCount, wo.GitFilesChanged = 2, 5
				wo.LatestCommitMessage = ptr("feat: greet")
				wo.UpdatedAt, wo.Version = at(5), 5
				*steps = append(*steps, StepRecord{
					Step: workorder.StepCommit, AgentName: "Committer", Success: true, Timestamp: at(5), Attempt: 1, Round: 1,
				})
			},
		},
		{
			name: "StepWithoutCounts_KeepsEarlierCounts",
			history: append(slices.Clone(branchDone), stepDone(5, events.StepResult{
				Step: workorder.StepCommit, Attempt: 1, Success: true, CommitCount: intp(2), FilesChanged: intp(5),
			})),
			event: stepDone(6, events.StepResult{
				Step: workorder.StepCreatePR, Attempt: 1, AgentName: "PrCreator", Success: true,
				PullRequestURL: "https://github.com/acme/demo/pull/7",
			}),
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				wo.GitHubPullRequestURL = ptr("https://github.com/acme/demo/pull/7")
				wo.UpdatedAt, wo.Version = at(6), 6
				*steps = append(*steps, StepRecord{
					Step: workorder.StepCreatePR, AgentName: "PrCreator", Success: true, Timestamp: at(6), Attempt: 1, Round: 1,
				})
			},
		},
		{
			name:    "InternalStepCompleted_HiddenFromHistory",
			history: running,
			event: stepDone(3, events.StepResult{
				Step: workorder.StepFetchIssue, Attempt: 1, AgentName: "IssueReader", Success: true,
				Issue: &events.Issue{Number: 42, Title: "Auth"},
			}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(3), 3
			},
		},
		{
			name:    "InternalStepFailed_HiddenFromHistory",
			history: running,
			event: stepDone(3, events.StepResult{
				Step: workorder.StepFetchIssue, Attempt: 1, ErrorMessage: "issue 42 not found",
			}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(3), 3
			},
		},
		{
			name: "WorkOrderFailedAfterInternalFailure_SetsErrorMessage",
			history: append(slices.Clone(running), stepDone(3, events.StepResult{
				Step: workorder.StepFetchIssue, Attempt: 1, ErrorMessage: "issue 42 not found",
			})),
			event: ev(4, events.TypeFailed, &events.Failed{Step: workorder.StepFetchIssue, ErrorMessage: "fetch-issue: issue 42 not found"}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusFailed
				wo.ErrorMessage = ptr("fetch-issue: issue 42 not found")
				wo.UpdatedAt, wo.Version = at(4), 4
			},
		},
		{
			name:    "WorkOrderFailedWithoutMessage_NamesTheStep",
			history: branchDone,
			event:   ev(5, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusFailed
				wo.ErrorMessage = ptr("step planning failed")
				wo.UpdatedAt, wo.Version = at(5), 5
			},
		},
		{
			name: "Completed_ClearsPhaseAndKeepsPR",
			history: append(slices.Clone(branchDone),
				ev(5, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreatePR, Attempt: 1})),
			event: ev(6, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusCompleted
				wo.CurrentPhase = nil
				wo.GitHubPullRequestURL = ptr("https://github.com/acme/demo/pull/7")
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name:    "Cancelled_RecordsReason",
			history: branchDone,
			event:   ev(5, events.TypeCancelled, &events.Cancelled{Reason: "requested by user"}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusCancelled
				wo.CurrentPhase = nil
				wo.ErrorMessage = ptr("requested by user")
				wo.UpdatedAt, wo.Version = at(5), 5
			},
		},
		{
			name:    "CancelledWithoutReason_SaysSo",
			history: running,
			event:   ev(3, events.TypeCancelled, &events.Cancelled{}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusCancelled
				wo.ErrorMessage = ptr("cancelled on request")
				wo.UpdatedAt, wo.Version = at(3), 3
			},
		},
		{
			name:    "RetryRequested_AfterFailure_ReopensAsRunningAndKeepsTheHistory",
			history: append(slices.Clone(branchDone), ev(5, events.TypeFailed, &events.Failed{ErrorMessage: "planning failed: boom"})),
			event:   ev(6, events.TypeRetryRequested, &events.RetryRequested{Round: 1}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusRunning
				wo.ErrorMessage = nil
				wo.CurrentPhase = nil
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name:    "RetryRequested_AfterCancel_ReopensAsRunning",
			history: append(slices.Clone(branchDone), ev(5, events.TypeCancelled, &events.Cancelled{Reason: "stop"})),
			event:   ev(6, events.TypeRetryRequested, &events.RetryRequested{Round: 1}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusRunning
				wo.ErrorMessage = nil
				wo.CurrentPhase = nil
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name:    "RetryRequested_OfCompleted_ChangesNothing",
			history: append(slices.Clone(branchDone), ev(5, events.TypeCompleted, &events.Completed{})),
			event:   ev(6, events.TypeRetryRequested, &events.RetryRequested{Round: 1}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name:    "FollowUpRequested_AfterCompletion_ReopensAsRunningInTheNextRound",
			history: append(slices.Clone(branchDone), ev(5, events.TypeCompleted, &events.Completed{})),
			event:   ev(6, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "also the empty case", Round: 2}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusRunning
				wo.Round = 2
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name:    "FollowUpRequested_AfterFailure_DropsTheOldReason",
			history: append(slices.Clone(branchDone), ev(5, events.TypeFailed, &events.Failed{ErrorMessage: "execute failed: boom"})),
			event:   ev(6, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "try it this way", Round: 2}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.Status = workorder.StatusRunning
				wo.Round = 2
				wo.ErrorMessage, wo.CurrentPhase = nil, nil
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name:    "FollowUpRequested_WithoutABranch_ChangesNothing",
			history: append(slices.Clone(running), ev(3, events.TypeFailed, &events.Failed{ErrorMessage: "create-branch failed"})),
			event:   ev(4, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "x", Round: 2}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(4), 4
			},
		},
		{
			name:    "FollowUpRequested_OfCancelled_ChangesNothing",
			history: append(slices.Clone(branchDone), ev(5, events.TypeCancelled, &events.Cancelled{Reason: "stop"})),
			event:   ev(6, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "x", Round: 2}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name:    "FollowUpRequested_OfAnEarlierRound_ChangesNothing",
			history: append(slices.Clone(branchDone), ev(5, events.TypeCompleted, &events.Completed{})),
			event:   ev(6, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "x", Round: 1}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(6), 6
			},
		},
		{
			name: "FollowUpRound_StepsCarryTheRound",
			history: append(slices.Clone(branchDone), ev(5, events.TypeCompleted, &events.Completed{}),
				ev(6, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "x", Round: 2}),
				ev(7, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepFollowUp, Attempt: 1})),
			event: stepDone(8, events.StepResult{Step: workorder.StepFollowUp, Attempt: 1, Success: true, Output: "handled", SessionID: "s-1"}),
			want: func(wo *WorkOrder, steps *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(8), 8
				*steps = append(*steps, StepRecord{
					Step: workorder.StepFollowUp, AgentName: "Implementor", Success: true, Output: ptr("handled"),
					SessionID: ptr("s-1"), Timestamp: at(8), Attempt: 1, Round: 2,
				})
			},
		},
		{
			name:    "Dispatched_OnlyAdvancesVersion",
			history: running,
			event:   ev(3, events.TypeStepDispatched, &events.StepDispatched{Step: workorder.StepCreateBranch, Attempt: 1}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(3), 3
			},
		},
		{
			name:    "StartedAfterCancel_DoesNotReopen",
			history: []events.Event{requested(1), ev(2, events.TypeCancelled, &events.Cancelled{Reason: "r"})},
			event:   ev(3, events.TypeStarted, &events.Started{}),
			want: func(wo *WorkOrder, _ *[]StepRecord) {
				wo.UpdatedAt, wo.Version = at(3), 3
			},
		},
		{
			name:    "ReplayedEvent_ChangesNothing",
			history: branchDone,
			event:   branchDone[3],
			want:    func(*WorkOrder, *[]StepRecord) {},
		},
		{
			name:    "OlderEvent_ChangesNothing",
			history: branchDone,
			event:   ev(2, events.TypeFailed, &events.Failed{ErrorMessage: "late"}),
			want:    func(*WorkOrder, *[]StepRecord) {},
		},
		{
			name:  "EventBeforeRequested_IsIgnored",
			event: ev(5, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning}),
			want:  func(*WorkOrder, *[]StepRecord) {},
		},
		{
			name:    "EventWithoutSequence_IsInvalid",
			history: running,
			event:   ev(0, events.TypeCompleted, &events.Completed{}),
			wantErr: ErrInvalidEvent,
			want:    func(*WorkOrder, *[]StepRecord) {},
		},
		{
			name: "EventWithoutWorkOrder_IsInvalid",
			event: func() events.Event {
				e := requested(1)
				e.WorkOrderID = ""
				return e
			}(),
			wantErr: ErrInvalidEvent,
			want:    func(*WorkOrder, *[]StepRecord) {},
		},
		{
			name:    "PayloadOfWrongType_IsInvalid",
			history: running,
			event:   ev(3, events.TypeStepCompleted, &events.Completed{}),
			wantErr: ErrInvalidEvent,
			want:    func(*WorkOrder, *[]StepRecord) {},
		},
		{
			name:    "RequestedWithWrongPayload_IsInvalid",
			event:   ev(1, events.TypeRequested, &events.Started{}),
			wantErr: ErrInvalidEvent,
			want:    func(*WorkOrder, *[]StepRecord) {},
		},
		{
			name:    "AnotherWorkOrdersEvent_IsInvalid",
			history: running,
			event: func() events.Event {
				e := ev(3, events.TypeCompleted, &events.Completed{})
				e.WorkOrderID = "wo-99999999"
				return e
			}(),
			wantErr: ErrInvalidEvent,
			want:    func(*WorkOrder, *[]StepRecord) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wo, steps := foldAll(t, tc.history)
			wantWO, wantSteps := deepCopy(wo, steps)
			tc.want(&wantWO, &wantSteps)

			gotWO, gotSteps, err := Fold(wo, steps, tc.event)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Fold error = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(gotWO, wantWO) {
				t.Errorf("work order:\n got  %s\n want %s", dump(gotWO), dump(wantWO))
			}
			if !reflect.DeepEqual(gotSteps, wantSteps) {
				t.Errorf("steps:\n got  %s\n want %s", dump(gotSteps), dump(wantSteps))
			}
		})
	}
}

// Two folds from the same state must not see each other's appends, even
// when the history slice has spare capacity.
func TestFold_DoesNotWriteIntoItsInputs(t *testing.T) {
	wo, steps := foldAll(t, []events.Event{requested(1)})
	steps = make([]StepRecord, 0, 8)
	before, beforeSteps := deepCopy(wo, steps)

	_, a, err := Fold(wo, steps, stepDone(2, events.StepResult{Step: workorder.StepPlanning, Success: true, Output: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := Fold(wo, steps, stepDone(2, events.StepResult{Step: workorder.StepExecute, Success: true, Output: "b"}))
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Step != workorder.StepPlanning || b[0].Step != workorder.StepExecute {
		t.Fatalf("folds share memory: a=%s b=%s", dump(a), dump(b))
	}
	if !reflect.DeepEqual(wo, before) || !reflect.DeepEqual(steps, beforeSteps) {
		t.Fatal("Fold modified its inputs")
	}
}

func foldAll(t *testing.T, history []events.Event) (WorkOrder, []StepRecord) {
	t.Helper()
	var wo WorkOrder
	var steps []StepRecord
	for _, e := range history {
		var err error
		if wo, steps, err = Fold(wo, steps, e); err != nil {
			t.Fatalf("folding history event %s: %v", e.ID, err)
		}
	}
	return wo, steps
}

func deepCopy(wo WorkOrder, steps []StepRecord) (WorkOrder, []StepRecord) {
	if steps != nil {
		out := make([]StepRecord, len(steps))
		for i, s := range steps {
			out[i] = s.clone()
		}
		steps = out
	}
	return wo.clone(), steps
}

// dump renders a value for failure messages; pointers are followed.
func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
