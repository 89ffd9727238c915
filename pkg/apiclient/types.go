package apiclient

import (
	"encoding/json"
	"time"
)

// CreateRequest is the body of POST /api/agent-work-orders/; empty fields
// are left out so the server's defaults (and a configured repository's)
// apply.
type CreateRequest struct {
	RepositoryURL     string   `json:"repository_url,omitempty"`
	UserRequest       string   `json:"user_request"`
	SandboxType       string   `json:"sandbox_type,omitempty"`
	SelectedCommands  []string `json:"selected_commands,omitempty"`
	GitHubIssueNumber string   `json:"github_issue_number,omitempty"`
	// Agent is claude or codex; empty: the repository's default_agent,
	// else the server's AWO_DEFAULT_AGENT.
	Agent string `json:"agent,omitempty"`
	// MaxCostUSD caps what the work order's agent runs may cost; nil: the
	// server's AWO_MAX_COST_USD, if any.
	MaxCostUSD *float64 `json:"max_cost_usd,omitempty"`
}

// Created is the answer to a create.
type Created struct {
	AgentWorkOrderID string `json:"agent_work_order_id"`
	Status           string `json:"status"`
	Message          string `json:"message"`
}

// WorkOrder is one work order as the API shows it.
type WorkOrder struct {
	AgentWorkOrderID     string    `json:"agent_work_order_id"`
	RepositoryURL        string    `json:"repository_url"`
	SandboxIdentifier    string    `json:"sandbox_identifier"`
	GitBranchName        *string   `json:"git_branch_name"`
	AgentSessionID       *string   `json:"agent_session_id"`
	SandboxType          string    `json:"sandbox_type"`
	GitHubIssueNumber    *string   `json:"github_issue_number"`
	Status               string    `json:"status"`
	CurrentPhase         *string   `json:"current_phase"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
	GitHubPullRequestURL *string   `json:"github_pull_request_url"`
	GitCommitCount       int       `json:"git_commit_count"`
	GitFilesChanged      int       `json:"git_files_changed"`
	ErrorMessage         *string   `json:"error_message"`
	UserRequest          string    `json:"user_request"`
	SelectedCommands     []string  `json:"selected_commands"`
	BaseBranch           *string   `json:"base_branch"`
	// CostUSD and TotalCostUSD are nil when the cost is unknown (an agent
	// that reported tokens without a price configured for them).
	CostUSD      *float64 `json:"cost_usd"`
	TotalCostUSD *float64 `json:"total_cost_usd"`
	InputTokens  int64    `json:"input_tokens"`
	OutputTokens int64    `json:"output_tokens"`
	// MaxCostUSD is the work order's cost cap; nil: none.
	MaxCostUSD *float64 `json:"max_cost_usd"`
	// WaitingUntil is set while the step in hand waits (a usage limit, the
	// daily budget): when it is tried again; CurrentPhase then says why.
	WaitingUntil *time.Time `json:"waiting_until"`
	// Agent runs the work order's agent steps: claude or codex.
	Agent string `json:"agent"`
}

// Steps is the answer of …/{id}/steps: every attempt of every step.
type Steps struct {
	AgentWorkOrderID string `json:"agent_work_order_id"`
	Steps            []Step `json:"steps"`
}

// Step is one attempt of one step.
type Step struct {
	Step            string    `json:"step"`
	AgentName       string    `json:"agent_name"`
	Success         bool      `json:"success"`
	Output          *string   `json:"output"`
	ErrorMessage    *string   `json:"error_message"`
	DurationSeconds float64   `json:"duration_seconds"`
	SessionID       *string   `json:"session_id"`
	Timestamp       time.Time `json:"timestamp"`
	Attempt         int       `json:"attempt"`
	CostUSD         *float64  `json:"cost_usd"`
	InputTokens     int64     `json:"input_tokens"`
	OutputTokens    int64     `json:"output_tokens"`
	NumTurns        int       `json:"num_turns"`
	Round           int       `json:"round"`
}

// Logs is one page of …/{id}/logs.
type Logs struct {
	AgentWorkOrderID string     `json:"agent_work_order_id"`
	LogEntries       []LogEntry `json:"log_entries"`
	Total            int        `json:"total"`
	Limit            int        `json:"limit"`
	Offset           int        `json:"offset"`
}

// LogEntry is one live-log entry; the fields every entry has, plus the
// tool call's.
type LogEntry struct {
	Timestamp    time.Time `json:"timestamp"`
	Level        string    `json:"level"`
	Step         string    `json:"step,omitempty"`
	Event        string    `json:"event"`
	Message      string    `json:"message"`
	WorkOrderID  string    `json:"work_order_id"`
	Attempt      int       `json:"attempt,omitempty"`
	Tool         string    `json:"tool,omitempty"`
	InputSummary string    `json:"input_summary,omitempty"`
	// step_started's place in the selected steps ("2/5"); step_finished's
	// outcome and cost.
	Progress string   `json:"progress,omitempty"`
	Success  *bool    `json:"success,omitempty"`
	CostUSD  *float64 `json:"cost_usd,omitempty"`
}

// Repository is a configured repository.
type Repository struct {
	ID                 string     `json:"id"`
	RepositoryURL      string     `json:"repository_url"`
	DisplayName        *string    `json:"display_name"`
	Owner              *string    `json:"owner"`
	DefaultBranch      *string    `json:"default_branch"`
	IsVerified         bool       `json:"is_verified"`
	LastVerifiedAt     *time.Time `json:"last_verified_at"`
	DefaultSandboxType string     `json:"default_sandbox_type"`
	DefaultCommands    []string   `json:"default_commands"`
	DefaultAgent       *string    `json:"default_agent"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// Health is GET /health; each dependency is an object whose fields
// differ by dependency (available, version, error, …).
type Health struct {
	Status       string                                `json:"status"`
	Service      string                                `json:"service"`
	Version      string                                `json:"version"`
	StorageType  string                                `json:"storage_type"`
	Dependencies map[string]map[string]json.RawMessage `json:"dependencies"`
}
