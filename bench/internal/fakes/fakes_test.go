package fakes

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/prompts"
)

// The fakes recognise steps by the embedded prompts' headings; a prompt
// rewritten without updating them must fail here, not in the middle of a
// benchmark.
func TestStepOf_RecognisesEveryAgentStepsEmbeddedPrompt(t *testing.T) {
	set, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	args := events.StepArgs{UserRequest: "Fix it", BranchName: "feat/x", PlanFile: PlanFile}
	for _, step := range []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute, workorder.StepReview, workorder.StepCommit} {
		prompt, err := set.Render(step, prompts.Arguments(step, args))
		if err != nil {
			t.Fatalf("rendering %s: %v", step, err)
		}
		got, err := stepOf(prompt)
		if err != nil || got != step {
			t.Errorf("stepOf(%s prompt) = %q, %v", step, got, err)
		}
	}
	if _, err := stepOf("# Something else\n"); err == nil {
		t.Error("an unknown prompt was taken for a step")
	}
}
