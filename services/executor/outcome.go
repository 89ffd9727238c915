package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// outcomeSandboxes is what the outcome check asks of the sandbox: which
// branch it is on, what the branch holds, and the push a commit promises.
type outcomeSandboxes interface {
	Progress(ctx context.Context, sb sandbox.Sandbox) (sandbox.Progress, error)
	CurrentBranch(ctx context.Context, dir string) (string, error)
	// Push pushes HEAD as branch; rerunFrom, when set, is the commit a
	// redelivered step began at, so its earlier run's push can be replaced
	// (see sandbox.Manager.Push).
	Push(ctx context.Context, sb sandbox.Sandbox, branch, rerunFrom string) error
}

// outcomeStage checks, after the agent ran, what the step must leave
// behind, and adds the sandbox's git progress to the result.
type outcomeStage struct {
	sandboxes outcomeSandboxes
}

// check verifies what a successful step promised (a broken promise fails
// it with the reason) and records what later steps need; then it reports
// the branch's progress when the step succeeded or was one whose progress
// matters even when it failed (execute, follow-up, commit). rerunFrom is passed to a
// commit's push.
func (o outcomeStage) check(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, rerunFrom string, res *events.StepResult, log *slog.Logger) {
	if res.Success {
		o.checkPromise(ctx, cmd, sb, rerunFrom, res)
	}
	if res.CommitCount == nil && (res.Success || cmd.Step == workorder.StepCommit || cmd.Step == workorder.StepExecute || cmd.Step == workorder.StepFollowUp) {
		o.addProgress(ctx, sb, res, log)
	}
}

// checkPromise verifies what the step promised to leave behind and records
// it for later steps; a broken promise fails the step with the reason.
func (o outcomeStage) checkPromise(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, rerunFrom string, res *events.StepResult) {
	failf := func(format string, a ...any) {
		res.Success = false
		res.ErrorMessage = fmt.Sprintf(format, a...)
	}
	switch cmd.Step {
	case workorder.StepCreateBranch:
		branch, err := o.sandboxes.CurrentBranch(ctx, sb.Dir)
		if err != nil {
			failf("create-branch finished but the sandbox is not on a branch: %v", err)
			return
		}
		if branch == sb.BaseBranch {
			failf("create-branch finished but the sandbox is still on the base branch %q", branch)
			return
		}
		res.BranchName, res.BaseBranch = branch, sb.BaseBranch
	case workorder.StepPlanning:
		plan, ok := findPlanFile(sb.Dir, res.Output)
		if !ok {
			failf("planning finished but named no plan file that exists in the sandbox (result: %q)", textcut.Bytes(res.Output, 200, "…"))
			return
		}
		res.PlanFile = plan
	case workorder.StepCommit:
		branch := cmd.Args.BranchName
		if branch == "" {
			b, err := o.sandboxes.CurrentBranch(ctx, sb.Dir)
			if err != nil {
				failf("commit: no branch to push: %v", err)
				return
			}
			branch = b
		}
		// Pushing a branch without a commit of its own would open an empty
		// pull request, or none at all: the step did not do its job.
		p, err := o.sandboxes.Progress(ctx, sb)
		if err != nil {
			failf("commit: reading what the branch holds: %v", err)
			return
		}
		// Pushing changes no commit: this is the step's progress too.
		res.CommitCount, res.FilesChanged, res.LatestCommitMessage = &p.CommitCount, &p.FilesChanged, p.LatestCommitMessage
		if p.CommitCount == 0 {
			failf("commit finished but branch %s has no commit beyond origin/%s: nothing was committed", branch, sb.BaseBranch)
			return
		}
		// The agent is asked to push; pushing again here makes the promise
		// hold even when it forgot, and is a no-op when it did not.
		if err := o.sandboxes.Push(ctx, sb, branch, rerunFrom); err != nil {
			failf("pushing branch %s to origin: %v", branch, err)
			return
		}
		res.BranchName = branch
		// create-pr runs elsewhere, without the checkout: it gets the
		// repository's pull request template from here.
		res.PRTemplate = findPRTemplate(sb.Dir)
	}
}

// rerunFrom is the commit a redelivered step began at (its command's
// earlier delivery may have pushed before its executor died; this one
// started again from the latest checkpoint), whose push it may then
// replace; "" otherwise. Not for a new attempt: between a failure and the
// client's retry, someone may have pushed to the branch on purpose.
func rerunFrom(delivered int, latest checkpoint.Saved) string {
	if delivered > 1 {
		return latest.Head
	}
	return ""
}

func (o outcomeStage) addProgress(ctx context.Context, sb sandbox.Sandbox, res *events.StepResult, log *slog.Logger) {
	p, err := o.sandboxes.Progress(ctx, sb)
	if err != nil {
		log.Warn("reading git progress", "err", err)
		return
	}
	res.CommitCount, res.FilesChanged = &p.CommitCount, &p.FilesChanged
	res.LatestCommitMessage = p.LatestCommitMessage
}

var planPathPattern = regexp.MustCompile("[^\\s`'\"()<>\\[\\]]+\\.md")

// findPlanFile picks the plan path out of the planner's answer: the last
// mentioned markdown path that exists inside the sandbox. The answer should
// be the bare path, but models add words around it.
func findPlanFile(dir, output string) (string, bool) {
	candidates := planPathPattern.FindAllString(output, -1)
	for i := len(candidates) - 1; i >= 0; i-- {
		p := strings.TrimPrefix(candidates[i], "./")
		abs := p
		if !filepath.IsAbs(p) {
			abs = filepath.Join(dir, p)
		}
		rel, err := filepath.Rel(dir, abs)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // outside the sandbox
		}
		if st, err := os.Stat(abs); err == nil && st.Mode().IsRegular() {
			return rel, true
		}
	}
	return "", false
}
