package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/spend"
	"github.com/agentworkorders/awo/services/executor/agentuser"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// Build makes the real executor from cfg, for Run: the Claude CLI runner
// and the sandbox manager (both as AWO_AGENT_USER when set), the prompts,
// the live log publishing on b, the checkpoint store when cfg.Checkpoints
// is on, the daily spend counter (the AWO_SPEND bucket), and statfs(2)
// for the disk guard. Every binary that runs an
// executor builds it here, so they run the same one; tests and the
// benchmark replace the parts they fake in the Deps it returns.
//
// closeLiveLog stores what the live log still holds (for at most
// logFlushTimeout) and stops it; call it once Run has returned, so the
// last steps' lines are kept. Build fails, having built nothing that needs
// closing, when AWO_AGENT_USER cannot be used, the prompts do not load or
// the checkpoint store does not open.
func Build(ctx context.Context, cfg config.Executor, b *bus.Bus, log *slog.Logger, red *redact.Redactor) (d Deps, closeLiveLog func(), err error) {
	if b == nil || b.JS == nil {
		return Deps{}, nil, errors.New("building the executor: a bus with its JetStream is required")
	}
	if log == nil {
		log = slog.Default()
	}
	user, err := agentUser(cfg, log)
	if err != nil {
		return Deps{}, nil, err
	}
	p, err := prompts.Load(cfg.CommandsDir)
	if err != nil {
		return Deps{}, nil, err
	}
	d = Deps{Config: cfg, Bus: b, Logger: log, Redactor: red, Prompts: p, FreeSpace: statfsFree,
		Agent: agentRunners(cfg, log, redact.Or(red), user),
		Sandboxes: &sandbox.Manager{Root: cfg.TempDir, AllowLocal: cfg.AllowLocalRepos, Logger: log,
			Allowed: cfg.AllowedRepositories, GitTimeout: cfg.GitTimeout, Owner: user, CheckpointMaxBytes: cfg.CheckpointMaxBytes},
	}
	if cfg.Checkpoints {
		store, err := checkpoint.Open(ctx, b.JS)
		if err != nil {
			return Deps{}, nil, err
		}
		d.Checkpoints = store
	}
	counter, err := spend.Bind(ctx, b.JS, app.Replication(cfg.Shared))
	if err != nil {
		return Deps{}, nil, err
	}
	d.Spend = counter
	accounts, err := OpenAccounts(ctx, b.JS, app.Replication(cfg.Shared))
	if err != nil {
		return Deps{}, nil, err
	}
	// Retrying, like the gateway's buckets: a read or compare-and-set
	// during a leader election waits it out instead of failing.
	d.Accounts = bus.Retrying(accounts)
	live := logentry.NewPublisher(b.JS, log, 0, red)
	d.LiveLog = live
	return d, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logFlushTimeout)
		defer cancel()
		_ = live.Close(cctx) // what is not stored by then is dropped
		if n := live.Dropped(); n > 0 {
			log.Warn("live log entries dropped", "dropped_total", n, "failed_total", live.Failed())
		}
	}, nil
}

// agentUser resolves AWO_AGENT_USER, the user the CLI runner and the
// sandbox manager run the agent as; nil is the executor's own user. An
// executor that cannot switch to that user refuses to start: running the
// agent as itself instead would silently drop the separation asked for.
func agentUser(cfg config.Executor, log *slog.Logger) (*agentuser.Identity, error) {
	spec := cfg.AgentUser
	if spec == "" {
		return nil, nil
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%s=%s: running the agent as another user is supported on Linux only", agentuser.Variable, spec)
	}
	euid := os.Geteuid()
	id, err := agentuser.Resolve(spec, euid)
	if err != nil {
		return nil, err
	}
	if !id.Switches(euid) {
		log.Warn("AWO_AGENT_USER is the executor's own user: the agent is not kept from the executor's files", "user", id.Name, "uid", id.UID)
		return nil, nil
	}
	// The agent must reach its sandbox: the directory (0711: entered, not
	// listed) and every one above it.
	if err := os.MkdirAll(cfg.TempDir, 0o711); err != nil {
		return nil, fmt.Errorf("creating AGENT_WORK_ORDER_TEMP_DIR=%s: %w", cfg.TempDir, err)
	}
	if err := id.CanTraverse(cfg.TempDir); err != nil {
		return nil, fmt.Errorf("%s=%s: the agent cannot reach its sandboxes under AGENT_WORK_ORDER_TEMP_DIR=%s: %w (let others enter it: chmod o+x)", agentuser.Variable, spec, cfg.TempDir, err)
	}
	if p := id.HomeProblem(); p != "" {
		log.Warn("the agent user's home may not do", "user", id.Name, "problem", p)
	}
	log.Info("agents run as another user", "user", id.Name, "uid", id.UID, "gid", id.GID, "home", id.Home)
	return id, nil
}

// Serve builds the executor (Build) and runs it until ctx is cancelled,
// then stores what its live log still holds: the executor binary and the
// all-in-one both run it so.
func Serve(ctx context.Context, cfg config.Executor, b *bus.Bus, m *metrics.Metrics, log *slog.Logger) error {
	d, closeLiveLog, err := Build(ctx, cfg, b, log, b.Redactor)
	if err != nil {
		return err
	}
	defer closeLiveLog()
	d.Metrics = m
	return Run(ctx, d)
}
