// Package executor runs the agent steps of work orders: it takes step
// commands from JetStream, prepares the work order's git sandbox, runs the
// Claude Code CLI in it with the step's prompt, checks what the step must
// leave behind (a branch, a plan file, a pushed commit) and publishes the
// result as step.completed or step.failed.
package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// AgentRunner runs the Claude Code CLI once.
type AgentRunner interface {
	Run(ctx context.Context, req agent.Request) (agent.Result, error)
}

// Sandboxes prepares and inspects work-order checkouts.
type Sandboxes interface {
	Prepare(ctx context.Context, s sandbox.Spec) (sandbox.Sandbox, error)
	Progress(ctx context.Context, sb sandbox.Sandbox) (sandbox.Progress, error)
	CurrentBranch(ctx context.Context, dir string) (string, error)
	Push(ctx context.Context, sb sandbox.Sandbox, branch string) error
}

// Deps are the executor's collaborators; nil Agent, Sandboxes or Prompts
// are built from Config.
type Deps struct {
	Config    config.Config
	Bus       *bus.Bus
	Logger    *slog.Logger
	Agent     AgentRunner
	Sandboxes Sandboxes
	Prompts   *prompts.Set
}

// Run consumes step commands until ctx is cancelled. Steps in progress get
// Config.ShutdownGrace to finish; after that their agent is killed and the
// command handed back to JetStream, so the next executor re-runs it.
func Run(ctx context.Context, d Deps) error {
	x, err := newExecutor(d)
	if err != nil {
		return err
	}
	x.log.Info("executor consuming step commands", "concurrency", d.Config.ExecConcurrency)
	return d.Bus.ConsumeSteps(ctx, bus.StepWorker{
		Service:     "executor",
		Description: "Agent steps, shared by every executor replica",
		Workers:     d.Config.ExecConcurrency,
		AckWait:     d.Config.AckWait,
		MaxDeliver:  d.Config.MaxDeliver,
		Grace:       d.Config.ShutdownGrace,
		Logger:      d.Logger,
		Worker:      d.Config.WorkerIdentifier,
	}, x.runStep)
}

type executor struct {
	cfg       config.Config
	bus       *bus.Bus
	log       *slog.Logger
	agent     AgentRunner
	sandboxes Sandboxes
	prompts   *prompts.Set
}

func newExecutor(d Deps) (*executor, error) {
	x := &executor{cfg: d.Config, bus: d.Bus, log: d.Logger, agent: d.Agent, sandboxes: d.Sandboxes, prompts: d.Prompts}
	if x.log == nil {
		x.log = slog.Default()
	}
	if x.agent == nil {
		x.agent = &agent.Runner{CLIPath: d.Config.ClaudeCLIPath, Logger: x.log}
	}
	if x.sandboxes == nil {
		x.sandboxes = &sandbox.Manager{Root: d.Config.TempDir, AllowLocal: d.Config.AllowLocalRepos, Logger: x.log}
	}
	if x.prompts == nil {
		p, err := prompts.Load(d.Config.CommandsDir)
		if err != nil {
			return nil, err
		}
		x.prompts = p
	}
	return x, nil
}

// runStep does the step and reports the outcome. The error is reserved for
// "could not finish because we are shutting down"; every other failure is a
// failed step with a reason.
func (x *executor) runStep(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
	start := time.Now()
	fail := func(format string, a ...any) (events.StepResult, error) {
		return events.StepResult{ErrorMessage: fmt.Sprintf(format, a...), DurationSeconds: time.Since(start).Seconds()}, nil
	}
	sb, err := x.sandboxes.Prepare(ctx, sandbox.Spec{
		WorkOrderID: cmd.WorkOrderID, RepositoryURL: cmd.RepositoryURL,
		Type: cmd.SandboxType, Identifier: cmd.SandboxIdentifier,
	})
	if err != nil {
		if ctx.Err() != nil {
			return events.StepResult{}, ctx.Err()
		}
		return fail("preparing the %s sandbox: %v", cmd.SandboxType, err)
	}
	prompt, err := x.prompts.Render(cmd.Step, prompts.Arguments(cmd.Step, cmd.Args))
	if err != nil {
		return fail("rendering the %s prompt: %v", cmd.Step, err)
	}
	var env []string
	if x.cfg.GHToken != "" {
		env = append(env, "GH_TOKEN="+x.cfg.GHToken)
	}
	ar, err := x.agent.Run(ctx, agent.Request{
		Dir: sb.Dir, Prompt: prompt, Model: x.cfg.ClaudeModel, MaxTurns: x.cfg.ClaudeMaxTurns,
		SkipPermissions: x.cfg.ClaudeSkipPermissions, Timeout: x.cfg.StepTimeout, Env: env, Logger: log,
	})
	if err != nil {
		return events.StepResult{}, err
	}
	res := events.StepResult{
		Success:         ar.Success,
		Output:          ar.ResultText,
		ErrorMessage:    ar.ErrorMessage,
		SessionID:       ar.SessionID,
		CostUSD:         ar.CostUSD,
		NumTurns:        ar.NumTurns,
		Usage:           &ar.Usage,
		DurationSeconds: time.Since(start).Seconds(),
	}
	if res.Success {
		x.checkOutcome(ctx, cmd, sb, &res)
	}
	if res.Success || cmd.Step == workorder.StepCommit || cmd.Step == workorder.StepExecute {
		x.addProgress(ctx, sb, &res, log)
	}
	res.DurationSeconds = time.Since(start).Seconds()
	return res, nil
}

// checkOutcome verifies what the step promised to leave behind and records
// it for later steps; a broken promise fails the step with the reason.
func (x *executor) checkOutcome(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, res *events.StepResult) {
	failf := func(format string, a ...any) {
		res.Success = false
		res.ErrorMessage = fmt.Sprintf(format, a...)
	}
	switch cmd.Step {
	case workorder.StepCreateBranch:
		branch, err := x.sandboxes.CurrentBranch(ctx, sb.Dir)
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
			failf("planning finished but named no plan file that exists in the sandbox (result: %q)", truncate(res.Output, 200))
			return
		}
		res.PlanFile = plan
	case workorder.StepCommit:
		branch := cmd.Args.BranchName
		if branch == "" {
			b, err := x.sandboxes.CurrentBranch(ctx, sb.Dir)
			if err != nil {
				failf("commit: no branch to push: %v", err)
				return
			}
			branch = b
		}
		// The agent is asked to push; pushing again here makes the promise
		// hold even when it forgot, and is a no-op when it did not.
		if err := x.sandboxes.Push(ctx, sb, branch); err != nil {
			failf("pushing branch %s to origin: %v", branch, err)
			return
		}
		res.BranchName = branch
	}
}

func (x *executor) addProgress(ctx context.Context, sb sandbox.Sandbox, res *events.StepResult, log *slog.Logger) {
	p, err := x.sandboxes.Progress(ctx, sb)
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
