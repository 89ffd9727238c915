// Package readmodel is the query side: the work-order rows clients read over
// REST, the pure fold that turns events into rows, and the Store port with
// its implementations (memory here; Postgres later).
package readmodel

import (
	"context"
	"errors"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrNotFound is returned for an unknown work-order id.
var ErrNotFound = errors.New("work order not found")

// ErrUnavailable wraps store failures that are not the caller's fault
// (database down); the gateway answers 503.
var ErrUnavailable = errors.New("read store unavailable")

// ErrRejected wraps an Apply failure that is the event's fault, not the
// store's: the store refuses its content as data (Postgres: a NUL byte in
// a text field, a number out of range, a violated constraint). Retrying
// cannot help, so the event still counts as applied (AppliedSequence moves
// past it) and the projector dead-letters it instead of stalling on it.
// An outage is ErrUnavailable, never ErrRejected.
var ErrRejected = errors.New("event rejected by the read store")

// WorkOrder is a work order as clients read it. JSON names are the Python service's
// AgentWorkOrder model; fields after ErrorMessage are additions.
type WorkOrder struct {
	AgentWorkOrderID     workorder.ID          `json:"agent_work_order_id"`
	RepositoryURL        string                `json:"repository_url"`
	SandboxIdentifier    string                `json:"sandbox_identifier"`
	GitBranchName        *string               `json:"git_branch_name"`
	AgentSessionID       *string               `json:"agent_session_id"`
	SandboxType          workorder.SandboxType `json:"sandbox_type"`
	GitHubIssueNumber    *string               `json:"github_issue_number"`
	Status               workorder.Status      `json:"status"`
	CurrentPhase         *string               `json:"current_phase"`
	CreatedAt            time.Time             `json:"created_at"`
	UpdatedAt            time.Time             `json:"updated_at"`
	GitHubPullRequestURL *string               `json:"github_pull_request_url"`
	GitCommitCount       int                   `json:"git_commit_count"`
	GitFilesChanged      int                   `json:"git_files_changed"`
	ErrorMessage         *string               `json:"error_message"`

	UserRequest      string           `json:"user_request"`
	SelectedCommands []workorder.Step `json:"selected_commands"`
	BaseBranch       *string          `json:"base_branch"`
	CostUSD          float64          `json:"cost_usd"`
	InputTokens      int64            `json:"input_tokens"`
	OutputTokens     int64            `json:"output_tokens"`
	// TotalCostUSD is what the work order's agent runs have cost in all:
	// the sum of its step results' cost_usd (every attempt and round), what
	// max_cost_usd is held against. The same amount as CostUSD, under the
	// name the budget documentation uses; Fold keeps the two equal.
	TotalCostUSD float64 `json:"total_cost_usd"`
	// MaxCostUSD is the work order's cost cap (max_cost_usd, or
	// AWO_MAX_COST_USD when the create set none); nil: no cap.
	MaxCostUSD *float64 `json:"max_cost_usd"`
	// WaitingUntil is set while the step in hand waits (step.waiting: a
	// usage limit, the daily budget): when it is tried again. The status
	// stays running; current_phase then says why it waits. nil otherwise.
	WaitingUntil *time.Time `json:"waiting_until"`
	// Agent runs the work order's agent steps: claude or codex.
	Agent string `json:"agent"`
	// CostUnknown is set once a step reported tokens without a cost (codex
	// without a price in AWO_PRICES): cost_usd is then null, since the sum
	// would understate it.
	CostUnknown bool `json:"-"`
	// Round is the work order's run in hand or last: 1 for the first, 2, 3,
	// ... for follow-up rounds (POST /{id}/prompt); 0 in rows written
	// before rounds existed, which means 1.
	Round int `json:"-"`
	// LatestCommitMessage is the subject of the sandbox's newest commit,
	// shown by git-progress rather than in the Python service's work-order shape.
	LatestCommitMessage *string `json:"-"`
	// Version is the stream sequence of the last event folded into the row.
	Version uint64 `json:"-"`
}

// StepRecord is one entry of a work order's step history (Python service:
// StepExecutionResult) plus attempt, cost and tokens.
type StepRecord struct {
	Step            workorder.Step `json:"step"`
	AgentName       string         `json:"agent_name"`
	Success         bool           `json:"success"`
	Output          *string        `json:"output"`
	ErrorMessage    *string        `json:"error_message"`
	DurationSeconds float64        `json:"duration_seconds"`
	SessionID       *string        `json:"session_id"`
	Timestamp       time.Time      `json:"timestamp"`
	Attempt         int            `json:"attempt"`
	CostUSD         float64        `json:"cost_usd"`
	InputTokens     int64          `json:"input_tokens"`
	OutputTokens    int64          `json:"output_tokens"`
	NumTurns        int            `json:"num_turns"`
	// CostUnknown: the step's agent reported tokens but no cost, and no
	// price was configured; cost_usd is null.
	CostUnknown bool `json:"-"`
	// Round is the run the step belongs to: 1 for the work order's first,
	// 2, 3, ... for follow-up rounds.
	Round int `json:"round"`
}

// Filter narrows List. Zero values match everything.
type Filter struct {
	Status        workorder.Status
	RepositoryURL string
	Limit, Offset int
}

// Store is the port the projector writes and the gateway reads.
type Store interface {
	// Apply folds one event (with its stream sequence set) into the read
	// model. Applying an event whose sequence the store has already seen
	// changes nothing. An event the store cannot fold (ErrInvalidEvent) or
	// refuses as data (ErrRejected) still counts as applied.
	Apply(ctx context.Context, e events.Event) error
	// AppliedSequence is the highest stream sequence applied so far; the
	// projector resumes after it.
	AppliedSequence(ctx context.Context) (uint64, error)
	Get(ctx context.Context, id workorder.ID) (WorkOrder, error)
	// List returns work orders newest first.
	List(ctx context.Context, f Filter) ([]WorkOrder, error)
	// Count is how many work orders match f's Status and RepositoryURL;
	// Limit and Offset are ignored, so it is the total a page belongs to.
	Count(ctx context.Context, f Filter) (int, error)
	// Steps returns the step history in execution order.
	Steps(ctx context.Context, id workorder.ID) ([]StepRecord, error)
}

// BatchApplier is a Store that can fold many events in one go, which a
// replay of a long stream (awo rebuild-read-model) uses when the store
// offers it. ApplyBatch leaves what Apply event by event would; when it
// returns an error wrapping ErrNotBatchable it has changed nothing, and the
// caller applies those events one at a time instead.
type BatchApplier interface {
	ApplyBatch(ctx context.Context, evs []events.Event) error
}

// ErrNotBatchable says a batch holds an event that must be applied on its
// own (it cannot be folded, or the store refuses its content).
var ErrNotBatchable = errors.New("events must be applied one at a time")
