package workorder_test

import (
	"errors"
	"testing"

	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestNewID_IsValidAndUnique(t *testing.T) {
	seen := map[workorder.ID]bool{}
	for range 1000 {
		id := workorder.NewID()
		if _, err := workorder.ParseID(string(id)); err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

func TestParseID_RejectsWhatCannotBeASubjectToken(t *testing.T) {
	for _, s := range []string{"", "wo-", "wo-1234567", "wo-123456789", "wo-ABCDEF12", "wo-1234.678", "wo-1234*678", "wo-1234>678", "wo-1234 678", "xx-12345678"} {
		if _, err := workorder.ParseID(s); !errors.Is(err, workorder.ErrInvalid) {
			t.Errorf("ParseID(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestParseSandboxType_AcceptsSeedNamesAndShortForms(t *testing.T) {
	for in, want := range map[string]workorder.SandboxType{
		"": workorder.SandboxWorktree, "git_worktree": workorder.SandboxWorktree, "worktree": workorder.SandboxWorktree,
		"git_branch": workorder.SandboxBranch, "branch": workorder.SandboxBranch,
	} {
		got, err := workorder.ParseSandboxType(in)
		if err != nil || got != want {
			t.Errorf("ParseSandboxType(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"e2b", "dagger", "Git_Worktree", "docker"} {
		if _, err := workorder.ParseSandboxType(bad); !errors.Is(err, workorder.ErrInvalid) {
			t.Errorf("ParseSandboxType(%q) accepted", bad)
		}
	}
}

func TestSteps_AgentNamesAndServices(t *testing.T) {
	want := map[workorder.Step][2]string{
		workorder.StepCreateBranch: {"BranchCreator", "executor"},
		workorder.StepPlanning:     {"Planner", "executor"},
		workorder.StepExecute:      {"Implementor", "executor"},
		workorder.StepReview:       {"Reviewer", "executor"},
		workorder.StepCommit:       {"Committer", "executor"},
		workorder.StepCreatePR:     {"PrCreator", "github"},
		workorder.StepFetchIssue:   {"IssueReader", "github"},
	}
	for s, w := range want {
		if s.AgentName() != w[0] || s.Service() != w[1] {
			t.Errorf("%s: agent %s service %s", s, s.AgentName(), s.Service())
		}
	}
	if _, err := workorder.ParseStep("fetch-issue"); err == nil {
		t.Error("the internal step must not be user-selectable")
	}
	if _, err := workorder.ParseStep("deploy"); !errors.Is(err, workorder.ErrInvalid) {
		t.Error("unknown step accepted")
	}
}
