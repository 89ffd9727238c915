package executor

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/agentuser"
	"github.com/agentworkorders/awo/services/executor/codex"
)

// AgentRouter runs each step with the agent its work order asked for
// (StepArgs.Agent, carried in agent.Request.Agent): one runner per agent
// name; "" is claude.
type AgentRouter map[string]AgentRunner

// Run runs req with its agent's runner. An agent this executor has no
// runner for (codex without CODEX_CLI_PATH here, while the gateway
// accepted it) fails the step with a message saying what to set.
func (r AgentRouter) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	name := agentName(req.Agent)
	run, ok := r[name]
	if !ok {
		return agent.Result{ExitCode: -1, ErrorMessage: fmt.Sprintf(
			"agent %q is not configured on this executor (for codex set CODEX_CLI_PATH)", name)}, nil
	}
	return run.Run(ctx, req)
}

func agentName(name string) string {
	if name == "" {
		return events.AgentClaude
	}
	return name
}

// agentRunners are the runners of the configured agents: Claude Code
// always, codex when CODEX_CLI_PATH is set.
func agentRunners(cfg config.Executor, log *slog.Logger, red *redact.Redactor, user *agentuser.Identity) AgentRouter {
	r := AgentRouter{events.AgentClaude: &agent.Runner{CLIPath: cfg.ClaudeCLIPath, Logger: log, Redactor: red, User: user}}
	if a := cfg.Agents; a.CodexCLIPath != "" {
		r[events.AgentCodex] = &codex.Runner{CLIPath: a.CodexCLIPath, Model: a.CodexModel, APIKey: a.OpenAIAPIKey,
			Prices: a.Prices, Logger: log, Redactor: red, User: user}
	}
	return r
}
