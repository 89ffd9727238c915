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
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/worker"
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

// Sandboxes are the work orders' checkouts, everything the executor asks
// of them; *sandbox.Manager is one. Each part is declared by the part of
// the executor that uses it: a step holds its sandbox (sandboxHolder), the
// stages restore it, check the outcome in it and save it (sandboxRestorer,
// outcomeSandboxes, sandboxSaver), a cancel removes it (sandboxRemover)
// and housekeeping lists and removes those due (SandboxStore).
type Sandboxes interface {
	sandboxHolder
	sandboxRestorer
	outcomeSandboxes
	sandboxSaver
	sandboxRemover
	SandboxStore
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
	Config    config.Executor
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
	cfg       config.Executor
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
