package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/textcut"
)

// chooseAgent settles the agent of a create: the request's agent, else
// its repository's default_agent (configuredDefaults put it in b), else
// AWO_DEFAULT_AGENT. An agent awo does not know, or one this deployment
// has not configured, is a 422; so is a max_cost_usd for an agent that
// reports no cost when its model has no price (AWO_PRICES): the cap could
// not be kept.
func (s *server) chooseAgent(b createBody, req *createRequest) error {
	name := strings.ToLower(trimmed(b.Agent))
	if name == "" {
		name = s.Agents.Default
	}
	if name == "" {
		name = config.AgentClaude
	}
	if msg := s.agentProblem(name); msg != "" {
		if b.agentFrom != "" {
			return unprocessable(fmt.Sprintf("the configured repository %s has default_agent %s, and %s; name an agent in the request "+
				`(e.g. "agent": "claude") or change the repository's default_agent (PATCH %s/%s)`, b.agentFrom, name, msg, repositoriesRoute, b.agentFrom))
		}
		return unprocessable("agent: " + msg)
	}
	if b.MaxCostUSD != nil {
		if err := s.checkCapKept(name); err != nil {
			return err
		}
	}
	if name != config.AgentClaude {
		req.Requested.Agent = name // "" stays claude's, as in events written before agents
	}
	return nil
}

// costUnknown reports whether agent's runs report no cost that a cap
// could be checked against: codex without a price for its model.
func (s *server) costUnknown(agent string) bool {
	if agent != config.AgentCodex {
		return false
	}
	_, priced := s.Agents.Prices.Cost(s.Agents.CodexModel, 0, 0, 0)
	return !priced
}

// checkCapKept refuses a max_cost_usd (of a create, retry or follow-up)
// for a work order of agent when its cost is unknown: the cap could not be
// kept.
func (s *server) checkCapKept(agent string) error {
	if !s.costUnknown(agent) {
		return nil
	}
	return unprocessable(fmt.Sprintf("max_cost_usd: codex reports tokens, not cost, and AWO_PRICES has no price for its model %s, "+
		"so the cap could not be kept; leave max_cost_usd out or configure a price (AWO_PRICES=<model>=<input>:<output> USD per million tokens)",
		orUnset(s.Agents.CodexModel)))
}

// agentProblem is why name cannot run work orders here; "" when it can.
func (s *server) agentProblem(name string) string {
	switch {
	case !slices.Contains(config.KnownAgents, name):
		return fmt.Sprintf("must be one of %s, got %q", strings.Join(config.KnownAgents, ", "), textcut.Runes(name, 40, "…"))
	case !s.Agents.IsConfigured(name):
		return fmt.Sprintf("%s is not configured on this deployment (set CODEX_CLI_PATH on the gateway and the executors); configured: %s",
			name, strings.Join(s.Agents.Configured(), ", "))
	}
	return ""
}

// repositoriesRoute is where configured repositories are changed.
const repositoriesRoute = "/api/agent-work-orders/repositories"

func orUnset(model string) string {
	if model == "" {
		return "(CODEX_MODEL unset: codex's default)"
	}
	return model
}

// parseDefaultAgent checks a repository's default_agent: nil or "" clears
// it; otherwise an agent this deployment runs.
func (s *server) parseDefaultAgent(v *string) (*string, error) {
	name := strings.ToLower(trimmed(v))
	if name == "" {
		return nil, nil
	}
	if msg := s.agentProblem(name); msg != "" {
		return nil, unprocessable("default_agent: " + msg)
	}
	return &name, nil
}
