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
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
)

// AgentRunner runs the Claude Code CLI once.
type AgentRunner interface {
	Run(ctx context.Context, req agent.Request) (agent.Result, error)
}

// Sandboxes are the work orders' checkouts, everything the executor asks
// of them; *sandbox.Manager is one. Each part is declared by the part of
// the executor that uses it: a step holds its sandbox (sandboxHolder), the
// stages restore it, check the outcome in it and save it (sandboxRestorer,
// outcomeSandboxes, sandboxSaver), a follow-up brings it up to the pushed
// branch and reads its diff (followUpSandboxes), a cancel removes it (sandboxRemover)
// and housekeeping lists and removes those due (SandboxStore).
type Sandboxes interface {
	sandboxHolder
	sandboxRestorer
	outcomeSandboxes
	followUpSandboxes
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

// Deps are the executor's collaborators, all built by the caller: Build
// makes the real ones from the configuration, tests replace the parts they
// fake. Run refuses Deps missing a required part (errMissing) rather than
// building one itself.
type Deps struct {
	Config config.Executor
	Bus    *bus.Bus // required
	// Logger: nil is slog.Default() (the logger rule of pkg/app).
	Logger    *slog.Logger
	Agent     AgentRunner  // required
	Sandboxes Sandboxes    // required
	Prompts   *prompts.Set // required
	LiveLog   LiveLog      // required
	// Checkpoints, when set, stores the sandbox after each successful step
	// and brings it back wherever the next step runs; Build opens the
	// WORKORDERS_CHECKPOINTS stream when Config.Checkpoints is on.
	Checkpoints Checkpoints
	// Metrics, when set, records step durations, agent cost and tokens,
	// deliveries and the consumer's backlog.
	Metrics *metrics.Metrics
	// FreeSpace measures free disk for the AWO_MIN_FREE_DISK guard
	// (required; Build's is statfs(2)).
	FreeSpace FreeSpaceFunc
	// Redactor takes secrets out of the live log, the agent's output and
	// every step result; nil is redact.Default().
	Redactor *redact.Redactor
	// Spend is the day's spend of all work orders (the AWO_SPEND bucket,
	// dailybudget.go): each run's cost is added to it, and with
	// Config.DailyBudgetUSD set a step waits once it is used up. nil:
	// runs are not counted and no daily budget is held.
	Spend DailySpend
	// Accounts, when set, is the AWO_ACCOUNT bucket holding each agent
	// account's usage limit flag, shared by every executor (Build opens
	// it); nil parks only the step whose own run hit a limit.
	Accounts AccountKV
}

// errMissing names a required part of Deps that was not given.
func errMissing(field string) error {
	return fmt.Errorf("no Deps.%s given (executor.Build makes it)", field)
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
// command handed back to JetStream, so the next executor re-runs it. Run
// uses what d holds and builds nothing: see Build.
func Run(ctx context.Context, d Deps) error {
	if d.Bus == nil || d.Bus.JS == nil {
		return fmt.Errorf("running the executor: %w", errMissing("Bus (with its JetStream)"))
	}
	x, err := newExecutor(d)
	if err != nil {
		return err
	}
	if kv, ok := d.Accounts.(jetstream.KeyValue); ok && x.usage.flags != nil {
		// The flag is asked before every run: from memory, not the bucket.
		x.usage.flags.watchFlags(ctx, kv, d.Bus.JS.Conn(), x.log)
	}
	if w, ok := d.Spend.(spendWatcher); ok && x.dailyBudget > 0 {
		// With a budget, the day's spend is asked before every run too.
		w.Watch(ctx, d.Bus.JS.Conn(), x.log.With("component", "spend"))
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
	spend       DailySpend // nil: runs not counted
	dailyBudget float64    // AWO_DAILY_BUDGET_USD; 0: none
	usage       usageLimits

	scratchOnce sync.Once // the checkpoint scratch directory, made once
	scratchErr  error
	scratchSeq  atomic.Uint64
}

// newExecutor assembles the executor from d, which must hold every
// required part but the Bus (tests run steps without one).
func newExecutor(d Deps) (*executor, error) {
	missing := ""
	switch {
	case d.Agent == nil:
		missing = "Agent"
	case d.Sandboxes == nil:
		missing = "Sandboxes"
	case d.Prompts == nil:
		missing = "Prompts"
	case d.LiveLog == nil:
		missing = "LiveLog"
	case d.FreeSpace == nil:
		missing = "FreeSpace"
	}
	if missing != "" {
		return nil, fmt.Errorf("running the executor: %w", errMissing(missing))
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	return &executor{cfg: d.Config, log: log, agent: tracedAgent{d.Agent}, sandboxes: d.Sandboxes,
		prompts: d.Prompts, liveLog: d.LiveLog, checkpoints: d.Checkpoints,
		disk:    diskGuard{dir: d.Config.TempDir, min: d.Config.MinFreeDisk, free: d.FreeSpace},
		refused: d.Metrics.StepRefusals(), red: redact.Or(d.Redactor),
		spend: d.Spend, dailyBudget: d.Config.DailyBudgetUSD,
		usage: newUsageLimits(d.Config.UsageLimits, d.Accounts, d.Metrics)}, nil
}
