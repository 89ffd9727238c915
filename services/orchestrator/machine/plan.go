package machine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// Plan returns the steps a work order runs, in the order the client chose
// them, with the internal fetch-issue inserted before planning when an issue
// is named: the planner then gets the issue's text without calling GitHub
// itself. Without planning there is nothing to read the issue for.
func Plan(selected []workorder.Step, issueNumber string) ([]workorder.Step, error) {
	if len(selected) == 0 {
		return nil, errors.New("no commands selected")
	}
	plan := make([]workorder.Step, 0, len(selected)+1)
	for i, st := range selected {
		if _, err := workorder.ParseStep(string(st)); err != nil {
			return nil, err
		}
		if slices.Contains(selected[:i], st) {
			return nil, fmt.Errorf("command %q is selected twice", st)
		}
		if st == workorder.StepPlanning && strings.TrimSpace(issueNumber) != "" {
			plan = append(plan, workorder.StepFetchIssue)
		}
		plan = append(plan, st)
	}
	return plan, nil
}

// validate checks what the gateway should already have checked: the
// orchestrator may be fed by other producers, and an invalid request must
// end in a visible failure rather than a work order stuck in pending.
func (r Request) validate() error {
	if strings.TrimSpace(r.RepositoryURL) == "" {
		return errors.New("repository_url is empty")
	}
	if _, err := workorder.ParseSandboxType(string(r.SandboxType)); err != nil {
		return err
	}
	_, err := Plan(r.Selected, r.IssueNumber)
	return err
}
