// Package events is the catalogue of facts (events) and intents (commands)
// that flow between the services, each Go type next to its stable, versioned
// CloudEvents type string. Wire names are never derived from Go type names.
package events

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

const typePrefix = "io.archon.workorders."

// Event types. The short name (without prefix and version) is also the tail
// of the NATS subject: workorders.events.<woID>.<short>.
const (
	TypeRequested         = typePrefix + "workorder.requested.v1"
	TypeStarted           = typePrefix + "workorder.started.v1"
	TypeStepDispatched    = typePrefix + "step.dispatched.v1"
	TypeStepStarted       = typePrefix + "step.started.v1"
	TypeStepCompleted     = typePrefix + "step.completed.v1"
	TypeStepFailed        = typePrefix + "step.failed.v1"
	TypeCompleted         = typePrefix + "workorder.completed.v1"
	TypeFailed            = typePrefix + "workorder.failed.v1"
	TypeCancelRequested   = typePrefix + "workorder.cancel_requested.v1"
	TypeCancelled         = typePrefix + "workorder.cancelled.v1"
	TypeRetryRequested    = typePrefix + "workorder.retry_requested.v1"
	TypeFollowUpRequested = typePrefix + "workorder.follow_up_requested.v1"
	// TypeStepWaiting is a worker's report, instead of a result, that the
	// step in hand could not run now and waits (see StepWaiting).
	TypeStepWaiting = typePrefix + "step.waiting.v1"

	// TypeRunStep is the one command: run a step of a work order.
	TypeRunStep = typePrefix + "command.run_step.v1"
)

// Requested is published by the gateway when a client creates a work order.
type Requested struct {
	WorkOrderID       workorder.ID          `json:"agent_work_order_id"`
	RepositoryURL     string                `json:"repository_url"`
	SandboxType       workorder.SandboxType `json:"sandbox_type"`
	UserRequest       string                `json:"user_request"`
	SelectedCommands  []workorder.Step      `json:"selected_commands"`
	GitHubIssueNumber string                `json:"github_issue_number,omitempty"`
	// Origin is where the work order was asked for when a GitHub webhook
	// created it; nil for the API.
	Origin *Origin `json:"origin,omitempty"`
	// MaxCostUSD caps what the work order's agent runs may cost in all
	// (the request's max_cost_usd, or AWO_MAX_COST_USD); 0 is no cap.
	MaxCostUSD float64 `json:"max_cost_usd,omitempty"`
	// Agent is the agent CLI that runs the work order's agent steps
	// (AgentClaude, AgentCodex): the request's agent, else the
	// repository's default, else AWO_DEFAULT_AGENT. "" is AgentClaude.
	Agent string `json:"agent,omitempty"`
}

// Agents a work order can run with.
const (
	AgentClaude = "claude"
	AgentCodex  = "codex"
)

// Started is the orchestrator's acceptance of a work order: the full plan of
// steps it will run, internal ones included.
type Started struct {
	SandboxIdentifier string           `json:"sandbox_identifier"`
	Steps             []workorder.Step `json:"steps"`
}

// StepDispatched records the orchestrator's decision to run a step; the
// matching command is published in reaction to this event (an outbox).
type StepDispatched struct {
	Step      workorder.Step `json:"step"`
	Attempt   int            `json:"attempt"`
	CommandID string         `json:"command_id"`
}

// StepStarted is published by a worker when it begins a step.
type StepStarted struct {
	Step      workorder.Step `json:"step"`
	Attempt   int            `json:"attempt"`
	AgentName string         `json:"agent_name"`
	Worker    string         `json:"worker,omitempty"`
}

// Usage is the token usage the Claude Code CLI reports in its result line.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens,omitempty"`
}

// Issue is a GitHub issue as read by the github service.
type Issue struct {
	Number int    `json:"number"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	URL    string `json:"url,omitempty"`
}

// StepResult is the payload of both step.completed and step.failed.
type StepResult struct {
	Step            workorder.Step `json:"step"`
	Attempt         int            `json:"attempt"`
	AgentName       string         `json:"agent_name"`
	Success         bool           `json:"success"`
	Output          string         `json:"output,omitempty"`
	ErrorMessage    string         `json:"error_message,omitempty"`
	DurationSeconds float64        `json:"duration_seconds"`
	SessionID       string         `json:"session_id,omitempty"`
	CostUSD         float64        `json:"cost_usd,omitempty"`
	// CostUnknown: the agent reported tokens but no cost and no price was
	// configured for its model (codex without AWO_PRICES); CostUSD is 0.
	CostUnknown bool   `json:"cost_unknown,omitempty"`
	NumTurns    int    `json:"num_turns,omitempty"`
	Usage       *Usage `json:"usage,omitempty"`

	// Facts a step establishes for later steps and for the read model.
	BranchName          string `json:"branch_name,omitempty"`           // create-branch
	BaseBranch          string `json:"base_branch,omitempty"`           // create-branch
	PlanFile            string `json:"plan_file,omitempty"`             // planning
	PullRequestURL      string `json:"pull_request_url,omitempty"`      // create-pr
	CommitCount         *int   `json:"commit_count,omitempty"`          // against the base branch
	FilesChanged        *int   `json:"files_changed,omitempty"`         // against the base branch
	LatestCommitMessage string `json:"latest_commit_message,omitempty"` // git progress
	Issue               *Issue `json:"issue,omitempty"`                 // fetch-issue
	// PRTemplate is the repository's pull request template, read by the
	// commit step (which has the checkout) for create-pr to fill.
	PRTemplate string `json:"pr_template,omitempty"`
}

// StepWaiting is published by a worker instead of a result when the step
// in hand could not run now for a reason that passes by itself: the
// agent's account hit a usage or rate limit (WaitUsageLimit), or the
// day's budget across all work orders is used up (WaitDailyBudget). The
// step is neither completed nor failed: the orchestrator sends its
// command again, as the same attempt, at WaitingUntil (RunStep.Args.Waits
// counts the waits and makes the new command's id unique).
type StepWaiting struct {
	Step      workorder.Step `json:"step"`
	Attempt   int            `json:"attempt"`
	AgentName string         `json:"agent_name"`
	// WaitingUntil is when the step is tried again.
	WaitingUntil time.Time `json:"waiting_until"`
	// ResetKnown says the agent named when its limit resets; otherwise
	// WaitingUntil is awo's own backoff (AWO_USAGE_LIMIT_RETRY).
	ResetKnown bool `json:"reset_known,omitempty"`
	// Reason is WaitUsageLimit or WaitDailyBudget.
	Reason string `json:"reason"`
	// Message says why, for people: the work order's current_phase while
	// it waits, e.g. "waiting for Claude Code's usage limit to reset:
	// trying execute again at 04:35:00 UTC (429 rate_limit_error)".
	Message string `json:"message"`
	// Agent is the agent whose account is limited (AgentClaude, ...).
	Agent string `json:"agent,omitempty"`
	// SessionID is the session of the run the limit interrupted, resumed
	// by the step's next run where the agent can.
	SessionID string `json:"session_id,omitempty"`
	// CostUSD is what the interrupted run cost; it counts in the spend.
	CostUSD float64 `json:"cost_usd,omitempty"`
}

// Reasons a step waits.
const (
	WaitUsageLimit  = "usage_limit"
	WaitDailyBudget = "daily_budget"
)

// Completed ends a work order successfully.
type Completed struct {
	PullRequestURL string `json:"pull_request_url,omitempty"`
}

// Failed ends a work order with the step that failed and why.
type Failed struct {
	Step         workorder.Step `json:"step,omitempty"`
	ErrorMessage string         `json:"error_message"`
}

// CancelRequested asks the orchestrator to stop a work order.
type CancelRequested struct {
	Reason string `json:"reason,omitempty"`
}

// Cancelled ends a work order on request. It names the work order's
// sandbox, so whichever executor holds it can remove it without looking
// anything up.
type Cancelled struct {
	Reason            string                `json:"reason,omitempty"`
	RepositoryURL     string                `json:"repository_url,omitempty"`
	SandboxType       workorder.SandboxType `json:"sandbox_type,omitempty"`
	SandboxIdentifier string                `json:"sandbox_identifier,omitempty"`
}

// RetryRequested asks the orchestrator to run a failed or cancelled work
// order again from the step that failed (or was in hand when cancelled).
// Round numbers the requester's retries of the work order (1, 2, ...) and
// makes the request's event id unique, so a later round is never dropped as
// a duplicate of an earlier one.
type RetryRequested struct {
	Reason string `json:"reason,omitempty"`
	Round  int    `json:"round"`
	// MaxCostUSD, when > 0, replaces the work order's cost cap.
	MaxCostUSD float64 `json:"max_cost_usd,omitempty"`
}

// FollowUpRequested asks the orchestrator to run a follow-up round on a
// completed or failed work order whose branch exists (POST /{id}/prompt):
// the agent resumes its session with PromptText, commits to the same
// branch and updates the pull request. Round numbers the work order's runs
// (the first run is 1, so a follow-up is 2, 3, ...) and makes the event id
// unique per round.
type FollowUpRequested struct {
	PromptText string `json:"prompt_text"`
	Round      int    `json:"round"`
	// Origin is where the prompt was asked when it came from GitHub (a
	// /awo comment on awo's pull request); nil for the API.
	Origin *Origin `json:"origin,omitempty"`
	// MaxCostUSD, when > 0, replaces the work order's cost cap.
	MaxCostUSD float64 `json:"max_cost_usd,omitempty"`
}

// Origin is the GitHub place a work order or a follow-up round was asked
// for (a webhook trigger): the github service answers there, with the work
// order's id when it starts and its pull request or failure when it ends.
type Origin struct {
	// Kind is OriginIssueLabel, OriginIssueComment or OriginPullRequestComment.
	Kind string `json:"kind"`
	// Repository is "owner/name".
	Repository string `json:"repository"`
	// Number is the issue's or pull request's number, where the answers go.
	Number int `json:"number"`
	// CommentID is the triggering comment's id (0 for a label).
	CommentID int64 `json:"comment_id,omitempty"`
	// DeliveryID is GitHub's X-GitHub-Delivery of the webhook.
	DeliveryID string `json:"delivery_id"`
	// Sender is the login of who asked.
	Sender string `json:"sender,omitempty"`
}

// Origin kinds.
const (
	OriginIssueLabel         = "issue_label"
	OriginIssueComment       = "issue_comment"
	OriginPullRequestComment = "pull_request_comment"
)

// StepArgs is everything a worker needs to run a step without looking
// anything up.
type StepArgs struct {
	UserRequest  string                    `json:"user_request"`
	IssueNumber  string                    `json:"github_issue_number,omitempty"`
	Issue        *Issue                    `json:"issue,omitempty"`
	BranchName   string                    `json:"branch_name,omitempty"`
	BaseBranch   string                    `json:"base_branch,omitempty"`
	PlanFile     string                    `json:"plan_file,omitempty"`
	StepOutputs  map[workorder.Step]string `json:"step_outputs,omitempty"` // earlier steps' result texts (PR body)
	SelectedStep []workorder.Step          `json:"selected_steps,omitempty"`
	PRTemplate   string                    `json:"pr_template,omitempty"` // the repository's pull request template (create-pr fills it)

	// A follow-up round's (POST /{id}/prompt): its number (1 is the
	// work order's first run, which carries none of these), the reviewer's
	// prompt, the agent session to resume (the Implementor's: execute's or the previous round's follow-up) and the
	// pull request the round updates, when there is one.
	Round           int    `json:"round,omitempty"`
	FollowUpPrompt  string `json:"follow_up_prompt,omitempty"`
	ResumeSessionID string `json:"resume_session_id,omitempty"`
	// ResumeSessionCostUSD is what the session to resume has cost so far:
	// the CLI reports a resumed session's cost summed over all its runs,
	// so the follow-up takes this off to record its own.
	ResumeSessionCostUSD float64 `json:"resume_session_cost_usd,omitempty"`
	PullRequestURL       string  `json:"pull_request_url,omitempty"`

	// MaxCostUSD is the work order's cost cap (0: none) and SpentUSD what
	// its steps have reported so far: the agent run gets the difference.
	MaxCostUSD float64 `json:"max_cost_usd,omitempty"`
	SpentUSD   float64 `json:"spent_usd,omitempty"`

	// Agent is the work order's agent CLI (Requested.Agent; "" is claude).
	Agent string `json:"agent,omitempty"`
	// Waits counts how often the step in hand has waited (step.waiting)
	// before this command; > 0 on a command sent again after a wait, and
	// part of its id (RunStep.ID).
	Waits int `json:"waits,omitempty"`
	// WaitSessionID is the session of the run the last wait interrupted
	// (StepWaiting.SessionID): the next run resumes it where it can.
	WaitSessionID string `json:"wait_session_id,omitempty"`
	// IgnoreAccountLimit is set on a command sent again because a client
	// asked for a retry while the step waited: it runs now even when the
	// shared flag still says the account is limited.
	IgnoreAccountLimit bool `json:"ignore_account_limit,omitempty"`
}

// RunStep is the command to run one step of a work order.
type RunStep struct {
	WorkOrderID       workorder.ID          `json:"agent_work_order_id"`
	Step              workorder.Step        `json:"step"`
	Attempt           int                   `json:"attempt"`
	RepositoryURL     string                `json:"repository_url"`
	SandboxType       workorder.SandboxType `json:"sandbox_type"`
	SandboxIdentifier string                `json:"sandbox_identifier"`
	Args              StepArgs              `json:"args"`
	// DispatchSeq is the stream sequence of the step.dispatched event that
	// sent this command (0 when unknown: a command from an older
	// orchestrator). A worker appends step.started guarded by it, which
	// proves with no read that nothing happened to the work order since.
	DispatchSeq uint64 `json:"dispatch_seq,omitempty"`
}

// CommandID is deterministic so that re-emitting a command is harmless
// inside JetStream's duplicate window.
func CommandID(wo workorder.ID, step workorder.Step, attempt int) string {
	return fmt.Sprintf("%s.%s.%d", wo, step, attempt)
}

// ID returns the command's deterministic id: CommandID, with ".w<n>"
// after the step's n-th wait, so the command sent again after a wait is
// not dropped as a duplicate of the first.
func (c RunStep) ID() string {
	id := CommandID(c.WorkOrderID, c.Step, c.Attempt)
	if c.Args.Waits > 0 {
		id += fmt.Sprintf(".w%d", c.Args.Waits)
	}
	return id
}

// registry maps type strings to a constructor of the payload they carry.
var registry = map[string]func() any{
	TypeRequested:         func() any { return &Requested{} },
	TypeStarted:           func() any { return &Started{} },
	TypeStepDispatched:    func() any { return &StepDispatched{} },
	TypeStepStarted:       func() any { return &StepStarted{} },
	TypeStepCompleted:     func() any { return &StepResult{} },
	TypeStepFailed:        func() any { return &StepResult{} },
	TypeCompleted:         func() any { return &Completed{} },
	TypeFailed:            func() any { return &Failed{} },
	TypeCancelRequested:   func() any { return &CancelRequested{} },
	TypeCancelled:         func() any { return &Cancelled{} },
	TypeRetryRequested:    func() any { return &RetryRequested{} },
	TypeFollowUpRequested: func() any { return &FollowUpRequested{} },
	TypeStepWaiting:       func() any { return &StepWaiting{} },
	TypeRunStep:           func() any { return &RunStep{} },
}

// Known reports whether t is in the catalogue.
func Known(t string) bool { _, ok := registry[t]; return ok }

// Types lists every type of the catalogue, events and the command, sorted.
// A fold's table is checked against it, so a new type cannot be forgotten.
func Types() []string { return slices.Sorted(maps.Keys(registry)) }

// ShortName is the type without prefix and version, e.g. "step.completed".
// It is the last part of an event's subject.
func ShortName(t string) string {
	s := t
	if len(s) > len(typePrefix) && s[:len(typePrefix)] == typePrefix {
		s = s[len(typePrefix):]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			if len(s)-i > 1 && s[i+1] == 'v' {
				return s[:i]
			}
			break
		}
	}
	return s
}

// Event is a decoded event or command: the CloudEvents attributes that
// matter to services plus its typed payload and, when read from a stream,
// its stream sequence.
type Event struct {
	ID          string
	Type        string
	Source      string
	WorkOrderID workorder.ID
	Time        time.Time
	TraceParent string
	Data        any    // pointer to the payload type registered for Type
	Seq         uint64 // stream sequence; 0 when not read from a stream
	// Prev, when set, is the stream sequence of the work order's event
	// before this one, as the stream checked when it stored this one (its
	// append was guarded by it); nil when unknown.
	Prev *uint64
}

// New builds an event ready to publish. Its time is kept to the
// microsecond, the precision Postgres stores, so every read store shows the
// same timestamps for the same events.
func New(id, typ, source string, wo workorder.ID, at time.Time, data any) Event {
	return Event{ID: id, Type: typ, Source: source, WorkOrderID: wo, Time: at.UTC().Truncate(time.Microsecond), Data: data}
}
