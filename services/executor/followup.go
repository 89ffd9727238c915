package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// followUpSandboxes is what a follow-up round asks of the sandbox: to
// stand on the branch as pushed, and what the branch changes (for an agent
// that has to start afresh).
type followUpSandboxes interface {
	CatchUp(ctx context.Context, sb sandbox.Sandbox, branch string) (moved bool, err error)
	Diff(ctx context.Context, sb sandbox.Sandbox) (string, error)
}

// What a fresh follow-up session gets of the earlier work, at most: the
// prompt goes on the CLI's stdin and into the model's context.
const (
	freshPlanBytes = 32 << 10
	freshDiffBytes = 64 << 10
)

// followUp runs a follow-up round's agent step: the reviewer's prompt
// given to the agent's earlier session, resumed (claude --resume), so it
// remembers the plan and what it did. When there is no session to resume,
// or the CLI cannot resume it here (sessions live on the disk of the
// executor that ran them), a fresh session gets the plan and the branch's
// diff with the prompt instead, and the live log says so.
func (x *executor) followUp(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, lb *logBuilder, log *slog.Logger) (events.StepResult, error) {
	a := cmd.Args
	if a.BranchName != "" {
		moved, err := x.sandboxes.CatchUp(ctx, sb, a.BranchName)
		if err != nil {
			if ctx.Err() != nil {
				return events.StepResult{}, ctx.Err()
			}
			return failed("follow-up: bringing the sandbox to origin's branch %s: %v", a.BranchName, err)
		}
		if moved {
			log.Info("sandbox moved to the branch as pushed", "branch", a.BranchName)
		}
	}
	prompt, err := x.prompts.Render(workorder.StepFollowUp, prompts.Arguments(workorder.StepFollowUp, a))
	if err != nil {
		return failed("rendering the %s prompt: %v", cmd.Step, err)
	}
	reason := "no agent session recorded to resume"
	// After a wait, the session the wait interrupted: the round's own.
	session, resumePrompt := a.ResumeSessionID, prompt
	if a.WaitSessionID != "" {
		session, resumePrompt = a.WaitSessionID, prompt+againNote
	}
	if session != "" {
		ar, err := x.agent.Run(ctx, x.resumeRequest(cmd, sb, resumePrompt, session, lb, log))
		if err != nil {
			return events.StepResult{}, err
		}
		if !ar.ResumeFailed {
			log.Info("agent session resumed", "session_id", session)
			// The CLI reports the session's cost over all its runs.
			return x.agentOutcome(ctx, cmd, ar, a.ResumeSessionCostUSD, log)
		}
		reason = fmt.Sprintf("session %s could not be resumed here: %s", session, ar.ErrorMessage)
	}
	log.Warn("running the follow-up in a fresh agent session, with the plan and the branch's diff", "reason", reason)
	x.liveLog.Publish(lb.entry(time.Now(), logentry.LevelWarn, "session_not_resumed",
		lb.text("a fresh agent session works on the follow-up, given the plan and the branch's diff: "+reason, 500)))
	return x.runAgent(ctx, cmd, sb, x.freshFollowUpPrompt(ctx, sb, a, prompt, log), lb, log)
}

// resumeRequest is the follow-up's run in the resumed session. A resume
// the CLI refuses ends with nothing but a failed result line, which the
// live log does not show: the fresh session that follows is not a failure.
func (x *executor) resumeRequest(cmd events.RunStep, sb sandbox.Sandbox, prompt, session string, lb *logBuilder, log *slog.Logger) agent.Request {
	req := x.agentRequest(cmd, sb, prompt, lb, log)
	req.Resume = session
	show, started := req.OnMessage, false
	req.OnMessage = func(m agent.Message) {
		started = started || m.Init != nil
		if started || m.Result == nil {
			show(m)
		}
	}
	return req
}

// freshFollowUpPrompt is the follow-up prompt for an agent that does not
// remember the work: the plan and what the branch changes so far come
// with it. Either may be missing (a work order without planning, a diff
// git cannot give); the agent then reads the branch itself.
func (x *executor) freshFollowUpPrompt(ctx context.Context, sb sandbox.Sandbox, a events.StepArgs, prompt string, log *slog.Logger) string {
	var b strings.Builder
	b.WriteString(prompt)
	b.WriteString("\n\n## The work so far\n\nYou did the work on this branch in an earlier session that cannot be resumed; here is what it was based on and what it changed.\n")
	if plan, ok := readPlan(sb.Dir, a.PlanFile); ok {
		fmt.Fprintf(&b, "\n### The plan (`%s`)\n\n````markdown\n%s\n````\n", a.PlanFile, textcut.Bytes(plan, freshPlanBytes, "\n… (cut; read the file for the rest)"))
	}
	diff, err := x.sandboxes.Diff(ctx, sb)
	switch {
	case err != nil:
		log.Warn("reading the branch's diff for a fresh follow-up session", "err", err)
		b.WriteString("\n### The branch's changes\n\nNot available here: read them with `git log` and `git diff` against the base branch.\n")
	case strings.TrimSpace(diff) == "":
		b.WriteString("\n### The branch's changes\n\nNone yet: the branch holds nothing beyond the base branch.\n")
	default:
		fmt.Fprintf(&b, "\n### The branch's changes (against origin/%s)\n\n````diff\n%s\n````\n", sb.BaseBranch,
			textcut.Bytes(diff, freshDiffBytes, "\n… (cut; run git diff for the rest)"))
	}
	return b.String()
}

// readPlan reads the plan file named by planning, when it is a regular
// file inside the sandbox. The executor may read what the agent may not
// (AWO_AGENT_USER): a plan path that leads out of the sandbox through a
// link is not followed.
func readPlan(dir, plan string) (string, bool) {
	if plan == "" {
		return "", false
	}
	rel, ok := findPlanFile(dir, plan)
	if !ok {
		return "", false
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, rel))
	if err != nil || !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return "", false
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return "", false
	}
	return string(b), true
}
