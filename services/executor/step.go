package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// sandboxHolder marks a sandbox in use for the length of a step, so
// housekeeping leaves it alone.
type sandboxHolder interface {
	Use(ctx context.Context, s sandbox.Spec) (release func(), err error)
}

// runStep does the step, reports the outcome, and tells live viewers where
// the step begins and ends. The error is reserved for "could not finish
// because we are shutting down"; every other failure is a failed step with
// a reason.
func (x *executor) runStep(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
	lb := newLogBuilder(cmd, x.red)
	x.liveLog.Publish(lb.stepStarted(time.Now()))
	res, err := x.doStep(ctx, cmd, log, lb)
	// Whatever the step reports (the agent's answer, git's or the CLI's
	// complaint) is an event others read: no secret in it.
	res.Output, res.ErrorMessage = x.red.String(res.Output), x.red.String(res.ErrorMessage)
	res.PRTemplate = x.red.String(res.PRTemplate)
	x.liveLog.Publish(lb.stepFinished(res, err, time.Now()))
	if e, ok := lb.stepCompleted(res, err, time.Now()); ok {
		x.liveLog.Publish(e)
	}
	// Stored before the result is published, so a viewer sees the step's
	// last lines before the work order ends; a shutdown still gets them.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logFlushTimeout)
	defer cancel()
	if ferr := x.liveLog.Flush(fctx); ferr != nil {
		log.Warn("live log not flushed before reporting the step", "err", ferr)
	}
	return res, err
}

// doStep is one step from top to bottom: hold the sandbox, restore it to
// the work order's latest checkpoint, run the agent, check the outcome,
// and save the sandbox as the next checkpoint. A failure of the step is a
// result with its reason; an error hands the command back (a shutdown, a
// cancel, an unreachable checkpoint store).
func (x *executor) doStep(ctx context.Context, cmd events.RunStep, log *slog.Logger, lb *logBuilder) (events.StepResult, error) {
	start := stepStart(time.Now())
	spec := sandbox.Spec{
		WorkOrderID: cmd.WorkOrderID, RepositoryURL: cmd.RepositoryURL,
		Type: cmd.SandboxType, Identifier: cmd.SandboxIdentifier,
	}
	// Both waits come before the sandbox is prepared: a step that waits
	// has no use for it.
	if err := x.dailyBudgetWait(ctx, cmd, log); err != nil {
		return events.StepResult{}, err
	}
	if res, stop, err := x.accountLimited(ctx, cmd, log); stop {
		return start.finish(res, err)
	}
	delivered := worker.Delivered(ctx)
	release, err := x.sandboxes.Use(ctx, spec) // held to the end of the step
	if err != nil {
		return start.finish(preparingFailed(ctx, cmd, err))
	}
	defer release()
	in, err := x.restoreStage().run(ctx, cmd, spec, delivered, log)
	if err != nil {
		return start.finish(preparingFailed(ctx, cmd, err))
	}
	res, err := x.runStepAgent(ctx, cmd, in.sandbox, lb, log)
	if err != nil {
		return events.StepResult{}, err
	}
	x.outcomeStage().check(ctx, cmd, in.sandbox, rerunFrom(delivered, in.latest), &res, log)
	if res.Success {
		if err := x.saveStage(lb).run(ctx, cmd, spec, in.sandbox, in.latest, log); err != nil {
			return events.StepResult{}, err
		}
	}
	return start.finish(res, nil)
}

// stepStart is when a step began.
type stepStart time.Time

// finish stamps a step's result with its duration; a step handed back
// reports no result.
func (s stepStart) finish(res events.StepResult, err error) (events.StepResult, error) {
	if err != nil {
		return events.StepResult{}, err
	}
	res.DurationSeconds = time.Since(time.Time(s)).Seconds()
	return res, nil
}

// failed is a step failed for the reason given.
func failed(format string, a ...any) (events.StepResult, error) {
	return events.StepResult{ErrorMessage: fmt.Sprintf(format, a...)}, nil
}

// preparingFailed is what becomes of a step whose sandbox could not be
// made ready: handed back when the step is stopping or the checkpoint
// store is unreachable (see errCheckpointStore), failed otherwise.
func preparingFailed(ctx context.Context, cmd events.RunStep, err error) (events.StepResult, error) {
	if ctx.Err() != nil {
		return events.StepResult{}, ctx.Err()
	}
	if errors.Is(err, errCheckpointStore) {
		return events.StepResult{}, err
	}
	return failed("preparing the %s sandbox: %v", cmd.SandboxType, err)
}

// runStepAgent runs the step's agent with the step's prompt; a follow-up
// has its own way (followUp). A prompt that cannot be rendered fails the
// step; an error is a run that did not finish.
func (x *executor) runStepAgent(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, lb *logBuilder, log *slog.Logger) (events.StepResult, error) {
	if msg := budgetUsedUp(cmd); msg != "" {
		log.Warn("step not run: the work order's budget is used up", "max_cost_usd", cmd.Args.MaxCostUSD, "spent_usd", cmd.Args.SpentUSD)
		return failed("%s", msg)
	}
	res, err := x.runStepAgentUncapped(ctx, cmd, sb, lb, log)
	x.countSpend(ctx, res, err, log) // before the result is recorded: see dailybudget.go
	if err != nil {
		return res, err
	}
	if msg := budgetCrossed(cmd, res); msg != "" {
		log.Warn("step failed: it used up the work order's budget", "max_cost_usd", cmd.Args.MaxCostUSD, "spent_usd", cmd.Args.SpentUSD+res.CostUSD)
		res.Success, res.ErrorMessage = false, msg
	}
	return res, nil
}

// runStepAgentUncapped is runStepAgent without the budget's checks.
func (x *executor) runStepAgentUncapped(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, lb *logBuilder, log *slog.Logger) (events.StepResult, error) {
	if cmd.Step == workorder.StepFollowUp {
		return x.followUp(ctx, cmd, sb, lb, log)
	}
	prompt, err := x.prompts.Render(cmd.Step, prompts.Arguments(cmd.Step, cmd.Args))
	if err != nil {
		return failed("rendering the %s prompt: %v", cmd.Step, err)
	}
	return x.runAgent(ctx, cmd, sb, prompt, lb, log)
}

// runAgent runs the agent on prompt in the sandbox, showing what it does
// in the live log, and returns its answer as the step's result. An error
// is a run that did not finish (a shutdown, a cancel).
func (x *executor) runAgent(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, prompt string, lb *logBuilder, log *slog.Logger) (events.StepResult, error) {
	if cmd.Args.WaitSessionID != "" && cmd.Step != workorder.StepFollowUp {
		if res, resumed, err := x.resumeAfterWait(ctx, cmd, sb, prompt, lb, log); err != nil || resumed {
			return res, err
		}
	}
	ar, err := x.agent.Run(ctx, x.agentRequest(cmd, sb, prompt, lb, log))
	if err != nil {
		return events.StepResult{}, err
	}
	return x.agentOutcome(ctx, cmd, ar, 0, log)
}

// agentRequest is the CLI run of the step: prompt in the sandbox, with
// what the agent does shown in the live log.
func (x *executor) agentRequest(cmd events.RunStep, sb sandbox.Sandbox, prompt string, lb *logBuilder, log *slog.Logger) agent.Request {
	gitHub := stepUsesGitHub[cmd.Step]
	timeout, limit := stepTimeout(x.cfg.StepTimeout, x.cfg.StepTimeouts, cmd.Step)
	var env []string
	if gitHub && x.cfg.GHToken != "" {
		env = append(env, "GH_TOKEN="+x.cfg.GHToken)
	}
	return agent.Request{
		Agent: cmd.Args.Agent,
		Dir:   sb.Dir, Prompt: prompt, Model: x.cfg.ClaudeModel, MaxTurns: x.cfg.ClaudeMaxTurns,
		SkipPermissions: x.cfg.ClaudeSkipPermissions, Env: env, Logger: log,
		MaxBudgetUSD: remainingBudget(cmd.Args),
		PassEnv:      x.cfg.AgentEnv, GitHub: gitHub,
		Timeout: timeout, TimeoutLimit: limit,
		OnMessage: func(m agent.Message) {
			for _, e := range lb.fromMessage(m, time.Now()) {
				x.liveLog.Publish(e)
			}
		},
	}
}

// stepResult is the agent's answer as the step's result.
func stepResult(ar agent.Result) events.StepResult {
	return events.StepResult{
		Success:      ar.Success,
		Output:       ar.ResultText,
		ErrorMessage: ar.ErrorMessage,
		SessionID:    ar.SessionID,
		CostUSD:      ar.CostUSD,
		CostUnknown:  ar.CostUnknown,
		NumTurns:     ar.NumTurns,
		Usage:        &ar.Usage,
	}
}

// stepUsesGitHub is, per step, whether its agent pushes or calls GitHub and
// so gets the GitHub credentials (GH_TOKEN and friends, see agent.Environ).
// The others work in the sandbox alone: a prompt injected through an issue
// or a file in the repository cannot make them push or publish elsewhere
// with the service's token. create-pr runs in the github service, which
// calls gh itself; it is here should an agent ever run it.
var stepUsesGitHub = map[workorder.Step]bool{
	workorder.StepCreateBranch: false,
	workorder.StepPlanning:     false,
	workorder.StepExecute:      false,
	workorder.StepReview:       false,
	workorder.StepCommit:       true,
	workorder.StepCreatePR:     true,
	workorder.StepFollowUp:     false, // the round's commit pushes
}

// The stages of a step, each given only what it uses of the executor's
// collaborators. Built per step: they are a few interface values.

func (x *executor) restoreStage() restoreStage {
	return restoreStage{sandboxes: x.sandboxes, checkpoints: x.checkpoints, scratch: x.scratchFile}
}

func (x *executor) outcomeStage() outcomeStage {
	return outcomeStage{sandboxes: x.sandboxes}
}

func (x *executor) saveStage(lb *logBuilder) saveStage {
	return saveStage{sandboxes: x.sandboxes, checkpoints: x.checkpoints, scratch: x.scratchFile,
		maxBytes: x.cfg.CheckpointMaxBytes,
		warn: func(msg string) {
			// The paths are the agent's own file names: redacted like its output.
			x.liveLog.Publish(lb.entry(time.Now(), logentry.LevelWarn, logentry.EventCheckpointLeftOut, lb.text(msg, logentry.MaxTextBytes)))
		}}
}

// stepTimeout is how long step's agent may run: AGENT_WORK_ORDER_TIMEOUT,
// or the step's own AWO_STEP_TIMEOUTS limit when that is smaller, with the
// setting it comes from for the message of a run that times out.
func stepTimeout(all time.Duration, perStep map[workorder.Step]time.Duration, step workorder.Step) (time.Duration, string) {
	if d, ok := perStep[step]; ok && d > 0 && (all <= 0 || d < all) {
		return d, fmt.Sprintf("AWO_STEP_TIMEOUTS %s=%s", step, d)
	}
	return all, fmt.Sprintf("AGENT_WORK_ORDER_TIMEOUT=%ds", int(all.Seconds()))
}
