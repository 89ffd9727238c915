// Package executor runs the agent steps of work orders: it takes step
// commands from JetStream, prepares the work order's git sandbox, runs the
// Claude Code CLI in it with the step's prompt, checks what the step must
// leave behind (a branch, a plan file, a pushed commit) and publishes the
// result as step.completed or step.failed.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/agentuser"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
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
	// Push pushes HEAD as branch; rerunFrom, when set, is the commit a
	// redelivered step began at, so its earlier run's push can be replaced
	// (see sandbox.Manager.Push).
	Push(ctx context.Context, sb sandbox.Sandbox, branch, rerunFrom string) error
	// Snapshot, Bundle, Restore, Marker and Mark carry a sandbox from one
	// executor to another (see checkpoint.go).
	Snapshot(ctx context.Context, s sandbox.Spec, sb sandbox.Sandbox) (sandbox.Checkpoint, error)
	Bundle(ctx context.Context, s sandbox.Spec, sb sandbox.Sandbox, cp sandbox.Checkpoint, bundle string) error
	Restore(ctx context.Context, s sandbox.Spec, cp sandbox.Checkpoint, bundle string) (sandbox.Sandbox, error)
	Marker(ctx context.Context, s sandbox.Spec) (string, error)
	Mark(s sandbox.Spec, id string) error
	// Marked is the sandbox Marker has just vouched for, on baseBranch,
	// without asking git again.
	Marked(s sandbox.Spec, baseBranch string) (sandbox.Sandbox, error)
	// Remove deletes a work order's sandbox; one that is not here is no error.
	Remove(ctx context.Context, s sandbox.Spec) error
}

// LiveLog receives what the agent does as it happens; *logentry.Publisher
// is one. Publish must not block.
type LiveLog interface {
	Publish(logentry.Entry)
	// Flush waits until the entries handed over so far are stored.
	Flush(ctx context.Context) error
}

// Deps are the executor's collaborators; nil Agent, Sandboxes or Prompts
// are built from Config. A nil LiveLog is a publisher on Bus for Run, and
// no live log for tests that build the executor directly.
type Deps struct {
	Config    config.Config
	Bus       *bus.Bus
	Logger    *slog.Logger
	Agent     AgentRunner
	Sandboxes Sandboxes
	Prompts   *prompts.Set
	LiveLog   LiveLog
	// Checkpoints, when set, stores the sandbox after each successful step
	// and brings it back wherever the next step runs; Run opens the
	// WORKORDERS_CHECKPOINTS stream when Config.Checkpoints is on.
	Checkpoints Checkpoints
	// Metrics, when set, records step durations, agent cost and tokens,
	// deliveries and the consumer's backlog.
	Metrics *metrics.Metrics
	// FreeSpace measures free disk for the AWO_MIN_FREE_DISK guard; nil is
	// statfs(2).
	FreeSpace FreeSpaceFunc
	// Redactor takes secrets out of the live log, the agent's output and
	// every step result; nil is redact.Default().
	Redactor *redact.Redactor
}

// logFlushTimeout bounds how long a finished step waits for its live log
// to be stored before reporting: long enough that viewers see the last
// lines before the work order's end, short enough not to matter when the
// broker is slow.
const logFlushTimeout = 2 * time.Second

// Micro service identity, as `nats micro ls` shows it.
const (
	MicroName        = "awo-executor"
	MicroDescription = "Runs the agent steps of work orders with the Claude Code CLI"
)

// consumerName is the durable consumer every executor replica shares; the
// commands it takes carry the same name in their subject.
const consumerName = "executor"

// Run consumes step commands until ctx is cancelled. Steps in progress get
// Config.ShutdownGrace to finish; after that their agent is killed and the
// command handed back to JetStream, so the next executor re-runs it.
func Run(ctx context.Context, d Deps) error {
	if d.LiveLog == nil {
		logger := d.Logger
		if logger == nil {
			logger = slog.Default()
		}
		p := logentry.NewPublisher(d.Bus.JS, logger, 0, d.Redactor)
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logFlushTimeout)
			defer cancel()
			_ = p.Close(cctx) // what is not stored by then is dropped
			if n := p.Dropped(); n > 0 {
				logger.Warn("live log entries dropped", "dropped_total", n, "failed_total", p.Failed())
			}
		}()
		d.LiveLog = p
	}
	if d.Checkpoints == nil && d.Config.Checkpoints {
		store, err := checkpoint.Open(ctx, d.Bus.JS)
		if err != nil {
			return err
		}
		d.Checkpoints = store
	}
	x, err := newExecutor(d)
	if err != nil {
		return err
	}
	x.log.Info("executor consuming step commands", "concurrency", d.Config.ExecConcurrency)
	d.Metrics.WatchConsumer(d.Bus.JS, bus.StreamCommands, consumerName)
	d.Metrics.WatchFreeDisk(x.disk.measure)
	defer x.startHousekeeping(ctx, d)()
	return worker.Run(ctx, d.Bus, worker.Config{
		Service:     consumerName,
		Description: "Agent steps, shared by every executor replica",
		Workers:     d.Config.ExecConcurrency,
		AckWait:     d.Config.AckWait,
		MaxDeliver:  d.Config.MaxDeliver,
		Grace:       d.Config.ShutdownGrace,
		Logger:      d.Logger,
		Worker:      d.Config.WorkerIdentifier,
		Observe:     d.Metrics.ObserveDelivery(),
		Admit:       x.admit,
		OnCancelled: x.removeCancelled,
	}, d.Metrics.ObserveSteps(x.runStep))
}

type executor struct {
	cfg       config.Config
	bus       *bus.Bus
	log       *slog.Logger
	agent     AgentRunner
	sandboxes Sandboxes
	prompts   *prompts.Set
	liveLog   LiveLog
	// checkpoints is nil when checkpointing is off.
	checkpoints Checkpoints
	disk        diskGuard
	refused     func(reason string) // counts refused steps; may be nil
	red         *redact.Redactor

	scratchOnce sync.Once // the checkpoint scratch directory, made once
	scratchErr  error
	scratchSeq  atomic.Uint64
}

func newExecutor(d Deps) (*executor, error) {
	x := &executor{cfg: d.Config, bus: d.Bus, log: d.Logger, agent: d.Agent, sandboxes: d.Sandboxes, prompts: d.Prompts, liveLog: d.LiveLog,
		checkpoints: d.Checkpoints,
		disk:        diskGuard{dir: d.Config.TempDir, min: d.Config.MinFreeDisk, free: d.FreeSpace}, refused: d.Metrics.StepRefusals(),
		red: redact.Or(d.Redactor)}
	if x.disk.free == nil {
		x.disk.free = statfsFree
	}
	if x.log == nil {
		x.log = slog.Default()
	}
	if x.liveLog == nil {
		x.liveLog = noLiveLog{}
	}
	if x.agent == nil {
		x.agent = &agent.Runner{CLIPath: d.Config.ClaudeCLIPath, Logger: x.log, Redactor: x.red}
	}
	if x.sandboxes == nil {
		x.sandboxes = &sandbox.Manager{Root: d.Config.TempDir, AllowLocal: d.Config.AllowLocalRepos, Logger: x.log,
			Allowed: d.Config.AllowedRepositories, GitTimeout: d.Config.GitTimeout}
	}
	if err := x.useAgentUser(d.Config.AgentUser); err != nil {
		return nil, err
	}
	x.agent = tracedAgent{x.agent}
	if x.prompts == nil {
		p, err := prompts.Load(d.Config.CommandsDir)
		if err != nil {
			return nil, err
		}
		x.prompts = p
	}
	return x, nil
}

// useAgentUser resolves AWO_AGENT_USER and hands it to the CLI runner
// and the sandbox manager, when they are the real ones. An executor that
// cannot switch to that user refuses to start: running the agent as
// itself instead would silently drop the separation asked for.
func (x *executor) useAgentUser(spec string) error {
	if spec == "" {
		return nil
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%s=%s: running the agent as another user is supported on Linux only", agentuser.Variable, spec)
	}
	euid := os.Geteuid()
	id, err := agentuser.Resolve(spec, euid)
	if err != nil {
		return err
	}
	if !id.Switches(euid) {
		x.log.Warn("AWO_AGENT_USER is the executor's own user: the agent is not kept from the executor's files", "user", id.Name, "uid", id.UID)
		return nil
	}
	// The agent must reach its sandbox: the directory (0711: entered, not
	// listed) and every one above it.
	if err := os.MkdirAll(x.cfg.TempDir, 0o711); err != nil {
		return fmt.Errorf("creating AGENT_WORK_ORDER_TEMP_DIR=%s: %w", x.cfg.TempDir, err)
	}
	if err := id.CanTraverse(x.cfg.TempDir); err != nil {
		return fmt.Errorf("%s=%s: the agent cannot reach its sandboxes under AGENT_WORK_ORDER_TEMP_DIR=%s: %w (let others enter it: chmod o+x)", agentuser.Variable, spec, x.cfg.TempDir, err)
	}
	if r, ok := x.agent.(*agent.Runner); ok && r.User == nil {
		r.User = id
	}
	if m, ok := x.sandboxes.(*sandbox.Manager); ok && m.Owner == nil {
		m.Owner = id
	}
	if p := id.HomeProblem(); p != "" {
		x.log.Warn("the agent user's home may not do", "user", id.Name, "problem", p)
	}
	x.log.Info("agents run as another user", "user", id.Name, "uid", id.UID, "gid", id.GID, "home", id.Home)
	return nil
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
	x.liveLog.Publish(lb.stepFinished(res, err, time.Now()))
	// Stored before the result is published, so a viewer sees the step's
	// last lines before the work order ends; a shutdown still gets them.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logFlushTimeout)
	defer cancel()
	if ferr := x.liveLog.Flush(fctx); ferr != nil {
		log.Warn("live log not flushed before reporting the step", "err", ferr)
	}
	return res, err
}

func (x *executor) doStep(ctx context.Context, cmd events.RunStep, log *slog.Logger, lb *logBuilder) (events.StepResult, error) {
	start := time.Now()
	fail := func(format string, a ...any) (events.StepResult, error) {
		return events.StepResult{ErrorMessage: fmt.Sprintf(format, a...), DurationSeconds: time.Since(start).Seconds()}, nil
	}
	spec := sandbox.Spec{
		WorkOrderID: cmd.WorkOrderID, RepositoryURL: cmd.RepositoryURL,
		Type: cmd.SandboxType, Identifier: cmd.SandboxIdentifier,
	}
	if u, ok := x.sandboxes.(sandboxUser); ok {
		// Held to the end of the step, so housekeeping leaves it alone.
		release, err := u.Use(ctx, spec)
		if err != nil {
			if ctx.Err() != nil {
				return events.StepResult{}, ctx.Err()
			}
			return fail("preparing the %s sandbox: %v", cmd.SandboxType, err)
		}
		defer release()
	}
	sb, latest, err := x.prepareSandbox(ctx, cmd, spec, log)
	if err != nil {
		if ctx.Err() != nil {
			return events.StepResult{}, ctx.Err()
		}
		if errors.Is(err, errCheckpointStore) {
			return events.StepResult{}, err // handed back: see errCheckpointStore
		}
		return fail("preparing the %s sandbox: %v", cmd.SandboxType, err)
	}
	prompt, err := x.prompts.Render(cmd.Step, prompts.Arguments(cmd.Step, cmd.Args))
	if err != nil {
		return fail("rendering the %s prompt: %v", cmd.Step, err)
	}
	gitHub := stepUsesGitHub[cmd.Step]
	var env []string
	if gitHub && x.cfg.GHToken != "" {
		env = append(env, "GH_TOKEN="+x.cfg.GHToken)
	}
	ar, err := x.agent.Run(ctx, agent.Request{
		Dir: sb.Dir, Prompt: prompt, Model: x.cfg.ClaudeModel, MaxTurns: x.cfg.ClaudeMaxTurns,
		SkipPermissions: x.cfg.ClaudeSkipPermissions, Timeout: x.cfg.StepTimeout, Env: env, Logger: log,
		PassEnv: x.cfg.AgentEnv, GitHub: gitHub,
		OnMessage: func(m agent.Message) {
			for _, e := range lb.fromMessage(m, time.Now()) {
				x.liveLog.Publish(e)
			}
		},
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
		x.checkOutcome(ctx, cmd, sb, rerunFrom(ctx, latest), &res)
	}
	if res.CommitCount == nil && (res.Success || cmd.Step == workorder.StepCommit || cmd.Step == workorder.StepExecute) {
		x.addProgress(ctx, sb, &res, log)
	}
	if res.Success {
		if err := x.saveCheckpoint(ctx, cmd, spec, sb, latest.ID, log); err != nil {
			return events.StepResult{}, err
		}
	}
	res.DurationSeconds = time.Since(start).Seconds()
	return res, nil
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
}

// checkOutcome verifies what the step promised to leave behind and records
// it for later steps; a broken promise fails the step with the reason.
func (x *executor) checkOutcome(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, rerunFrom string, res *events.StepResult) {
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
			failf("planning finished but named no plan file that exists in the sandbox (result: %q)", textcut.Bytes(res.Output, 200, "…"))
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
		// Pushing a branch without a commit of its own would open an empty
		// pull request, or none at all: the step did not do its job.
		p, err := x.sandboxes.Progress(ctx, sb)
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
		if err := x.sandboxes.Push(ctx, sb, branch, rerunFrom); err != nil {
			failf("pushing branch %s to origin: %v", branch, err)
			return
		}
		res.BranchName = branch
	}
}

// rerunFrom is the commit a redelivered step began at (its command's
// earlier delivery may have pushed before its executor died; this one
// started again from the latest checkpoint), whose push it may then
// replace; "" otherwise. Not for a new attempt: between a failure and the
// client's retry, someone may have pushed to the branch on purpose.
func rerunFrom(ctx context.Context, latest checkpoint.Saved) string {
	if worker.Delivered(ctx) > 1 {
		return latest.Head
	}
	return ""
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

// noLiveLog is the live log of an executor built without one.
type noLiveLog struct{}

func (noLiveLog) Publish(logentry.Entry)      {}
func (noLiveLog) Flush(context.Context) error { return nil }

// logBuilder turns one step's CLI output into live log entries. It
// remembers tool names by call id, because a tool's result names only the
// call it answers.
type logBuilder struct {
	base  logentry.Entry
	tools map[string]string
	red   *redact.Redactor
}

func newLogBuilder(cmd events.RunStep, red *redact.Redactor) *logBuilder {
	return &logBuilder{
		base:  logentry.Entry{WorkOrderID: cmd.WorkOrderID, Step: cmd.Step, Attempt: cmd.Attempt},
		tools: map[string]string{},
		red:   red,
	}
}

// text is s redacted, then cut to n bytes: in that order, so that a cut
// cannot leave the head of a secret that its shape no longer matches. The
// publisher redacts every entry again; that second pass finds nothing.
func (b *logBuilder) text(s string, n int) string {
	return logentry.Truncate(b.red.String(s), n)
}

func (b *logBuilder) entry(now time.Time, level logentry.Level, event, message string) logentry.Entry {
	e := b.base
	e.Timestamp, e.Level, e.Event, e.Message = now.UTC(), level, event, message
	return e
}

func (b *logBuilder) stepStarted(now time.Time) logentry.Entry {
	return b.entry(now, logentry.LevelInfo, logentry.EventStepStarted,
		fmt.Sprintf("step %s started (attempt %d)", b.base.Step, b.base.Attempt))
}

// stepFinished reports the step's outcome; err is a step interrupted by a
// shutdown, which is handed back and run again.
func (b *logBuilder) stepFinished(res events.StepResult, err error, now time.Time) logentry.Entry {
	if errors.Is(err, worker.ErrWorkOrderCancelled) {
		e := b.entry(now, logentry.LevelWarn, logentry.EventStepFinished,
			fmt.Sprintf("step %s stopped: %v", b.base.Step, err))
		e.Success = ptr(false)
		return e
	}
	if err != nil {
		e := b.entry(now, logentry.LevelWarn, logentry.EventStepFinished,
			fmt.Sprintf("step %s interrupted, to be run again: %v", b.base.Step, err))
		e.Success = ptr(false)
		return e
	}
	e := b.entry(now, logentry.LevelInfo, logentry.EventStepFinished,
		fmt.Sprintf("step %s completed in %.1fs", b.base.Step, res.DurationSeconds))
	if !res.Success {
		e.Level = logentry.LevelError
		e.Message = b.text(fmt.Sprintf("step %s failed: %s", b.base.Step, res.ErrorMessage), logentry.MaxTextBytes)
	}
	e.Success = ptr(res.Success)
	e.CostUSD = ptr(res.CostUSD)
	e.NumTurns, e.SessionID = res.NumTurns, res.SessionID
	e.DurationMS = int64(res.DurationSeconds * 1000)
	return e
}

// fromMessage is what a viewer should see of one stream-json line: one
// entry per text, thinking or tool block, one per tool result, and the
// run's final result with its cost. Lines without news for a person
// (hooks, rate-limit notices and types added later) become debug entries.
func (b *logBuilder) fromMessage(m agent.Message, now time.Time) []logentry.Entry {
	var out []logentry.Entry
	switch {
	case m.Init != nil:
		e := b.entry(now, logentry.LevelInfo, logentry.EventSessionInit,
			fmt.Sprintf("agent session started (model %s)", m.Init.Model))
		e.SessionID = m.SessionID
		out = append(out, e)
	case m.Type == agent.TypeAssistant:
		for _, blk := range m.Content {
			switch blk.Type {
			case "text":
				if strings.TrimSpace(blk.Text) == "" {
					continue
				}
				out = append(out, b.entry(now, logentry.LevelInfo, logentry.EventAssistantText, b.text(blk.Text, logentry.MaxTextBytes)))
			case "thinking":
				out = append(out, b.entry(now, logentry.LevelDebug, logentry.EventThinking, b.text(blk.Text, logentry.MaxTextBytes)))
			case "tool_use", "server_tool_use":
				b.tools[blk.ToolUseID] = blk.ToolName
				summary := logentry.SummarizeInput(b.red.JSON(blk.Input))
				e := b.entry(now, logentry.LevelInfo, logentry.EventToolCall, blk.ToolName+": "+summary)
				e.Tool, e.ToolUseID, e.InputSummary = blk.ToolName, blk.ToolUseID, summary
				out = append(out, e)
			}
		}
	case m.Type == agent.TypeUser:
		for _, tr := range m.ToolResults {
			level := logentry.LevelInfo
			if tr.IsError {
				level = logentry.LevelWarn
			}
			e := b.entry(now, level, logentry.EventToolResult, b.text(tr.Content, logentry.MaxSummaryBytes))
			e.Tool, e.ToolUseID, e.IsError = b.tools[tr.ToolUseID], tr.ToolUseID, ptr(tr.IsError)
			out = append(out, e)
		}
	case m.Result != nil:
		r := m.Result
		e := b.entry(now, logentry.LevelInfo, logentry.EventResult,
			fmt.Sprintf("agent finished after %d turns, $%.4f", r.NumTurns, r.TotalCostUSD))
		if r.IsError {
			e.Level = logentry.LevelError
			detail := r.Result
			if detail == "" {
				detail = strings.Join(r.Errors, "; ")
			}
			e.Message = b.text(fmt.Sprintf("agent failed (%s): %s", r.TerminalReason, detail), logentry.MaxTextBytes)
		}
		e.IsError, e.CostUSD = ptr(r.IsError), ptr(r.TotalCostUSD)
		e.NumTurns, e.SessionID, e.DurationMS = r.NumTurns, m.SessionID, r.DurationMS
		out = append(out, e)
	default:
		msg := m.Type
		if m.Subtype != "" {
			msg += "/" + m.Subtype
		}
		out = append(out, b.entry(now, logentry.LevelDebug, "cli_"+m.Type, msg))
	}
	return out
}

func ptr[T any](v T) *T { return &v }
