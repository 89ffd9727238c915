package pgstore

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// metadata holds the fields of readmodel.WorkOrder that have no column of
// their own, under the Python service's key names where the Python service has them
// (sandbox_type … error_message); the rest are this system's additions.
// Its own type on purpose: the stored jsonb shape must not follow changes
// to the API struct silently.
type metadata struct {
	SandboxType          workorder.SandboxType `json:"sandbox_type"`
	GitHubIssueNumber    *string               `json:"github_issue_number"`
	CurrentPhase         *string               `json:"current_phase"`
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
	// Absent from rows written before it existed, which read as nil.
	LatestCommitMessage *string `json:"latest_commit_message,omitempty"`
	// The follow-up round in hand; absent (0, the first run) until one.
	Round int `json:"round,omitempty"`
	// The cost cap; absent when there is none.
	MaxCostUSD *float64 `json:"max_cost_usd,omitempty"`
	// Set while the step in hand waits; absent otherwise.
	WaitingUntil *time.Time `json:"waiting_until,omitempty"`
}

func metadataOf(wo readmodel.WorkOrder) metadata {
	return metadata{
		SandboxType:          wo.SandboxType,
		GitHubIssueNumber:    wo.GitHubIssueNumber,
		CurrentPhase:         wo.CurrentPhase,
		GitHubPullRequestURL: wo.GitHubPullRequestURL,
		GitCommitCount:       wo.GitCommitCount,
		GitFilesChanged:      wo.GitFilesChanged,
		ErrorMessage:         wo.ErrorMessage,
		UserRequest:          wo.UserRequest,
		SelectedCommands:     wo.SelectedCommands,
		BaseBranch:           wo.BaseBranch,
		CostUSD:              wo.CostUSD,
		InputTokens:          wo.InputTokens,
		OutputTokens:         wo.OutputTokens,
		LatestCommitMessage:  wo.LatestCommitMessage,
		Round:                wo.Round,
		MaxCostUSD:           wo.MaxCostUSD,
		WaitingUntil:         wo.WaitingUntil,
	}
}

const selectWorkOrder = `SELECT agent_work_order_id, repository_url, sandbox_identifier, git_branch_name,
	agent_session_id, status, coalesce(metadata, '{}'::jsonb), created_at, updated_at, version
	FROM archon_agent_work_orders`

// scanWorkOrder reads one row of selectWorkOrder.
func scanWorkOrder(row pgx.Row) (readmodel.WorkOrder, error) {
	var (
		wo         readmodel.WorkOrder
		id, status string
		md         metadata
		version    int64
	)
	if err := row.Scan(&id, &wo.RepositoryURL, &wo.SandboxIdentifier, &wo.GitBranchName,
		&wo.AgentSessionID, &status, &md, &wo.CreatedAt, &wo.UpdatedAt, &version); err != nil {
		return readmodel.WorkOrder{}, err
	}
	// The status column's CHECK constraint keeps it to known statuses.
	wo.AgentWorkOrderID, wo.Status, wo.Version = workorder.ID(id), workorder.Status(status), uint64(version)
	wo.CreatedAt, wo.UpdatedAt = wo.CreatedAt.UTC(), wo.UpdatedAt.UTC()

	wo.SandboxType = md.SandboxType
	wo.GitHubIssueNumber = md.GitHubIssueNumber
	wo.CurrentPhase = md.CurrentPhase
	wo.GitHubPullRequestURL = md.GitHubPullRequestURL
	wo.GitCommitCount = md.GitCommitCount
	wo.GitFilesChanged = md.GitFilesChanged
	wo.ErrorMessage = md.ErrorMessage
	wo.UserRequest = md.UserRequest
	wo.SelectedCommands = md.SelectedCommands
	if wo.SelectedCommands == nil {
		// Rows the Python service wrote have none; clients expect a list.
		wo.SelectedCommands = []workorder.Step{}
	}
	wo.BaseBranch = md.BaseBranch
	wo.CostUSD = md.CostUSD
	wo.TotalCostUSD = md.CostUSD // one amount, stored once (see readmodel.WorkOrder)
	wo.InputTokens = md.InputTokens
	wo.OutputTokens = md.OutputTokens
	wo.LatestCommitMessage = md.LatestCommitMessage
	wo.Round = md.Round
	wo.MaxCostUSD = md.MaxCostUSD
	if md.WaitingUntil != nil {
		until := md.WaitingUntil.UTC()
		wo.WaitingUntil = &until
	}
	return wo, nil
}
