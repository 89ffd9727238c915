package config

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Agents: the coding agents a work order can run with. Claude Code is
// always there; OpenAI's Codex CLI when CODEX_CLI_PATH is set.

// Agent names, as the create request's "agent" says them (events.AgentClaude
// and events.AgentCodex hold the same).
const (
	AgentClaude = "claude"
	AgentCodex  = "codex"
)

// Agents configures the agents beyond Claude Code's own settings.
type Agents struct {
	// CodexCLIPath is the codex binary (CODEX_CLI_PATH); empty: codex is
	// not configured and work orders asking for it are refused.
	CodexCLIPath string
	// CodexModel is codex's --model (CODEX_MODEL); empty lets codex choose.
	CodexModel string
	// OpenAIAPIKey is given to codex runs only (OPENAI_API_KEY); a secret.
	OpenAIAPIKey string
	// Prices are USD per million tokens by model (AWO_PRICES), for agents
	// that report tokens but not cost (codex).
	Prices Prices
	// Default is the agent of a work order that names none and whose
	// repository has no default_agent (AWO_DEFAULT_AGENT; claude).
	Default string
}

// Configured lists the agents this deployment can run, claude first.
func (a Agents) Configured() []string {
	out := []string{AgentClaude}
	if a.CodexCLIPath != "" {
		out = append(out, AgentCodex)
	}
	return out
}

// IsConfigured reports whether name is an agent this deployment can run.
func (a Agents) IsConfigured(name string) bool { return slices.Contains(a.Configured(), name) }

// KnownAgents are the agents awo has a runner for.
var KnownAgents = []string{AgentClaude, AgentCodex}

// Price is what a model's tokens cost, in USD per million tokens.
type Price struct {
	Input, Output float64
	// CachedInput is the price of input tokens read from the cache; 0
	// charges them as Input.
	CachedInput float64
}

// Prices are model prices by model name.
type Prices map[string]Price

// Cost is what usage costs at model's price; ok is false when no price is
// known for model. cachedInput is the part of input that was cached.
func (p Prices) Cost(model string, input, cachedInput, output int64) (usd float64, ok bool) {
	pr, ok := p[model]
	if !ok {
		return 0, false
	}
	cachedPrice := pr.CachedInput
	if cachedPrice == 0 {
		cachedPrice = pr.Input
	}
	uncached := max(input-cachedInput, 0)
	return (float64(uncached)*pr.Input + float64(cachedInput)*cachedPrice + float64(output)*pr.Output) / 1e6, true
}

// String writes p the way AWO_PRICES reads it, by model name.
func (p Prices) String() string {
	if len(p) == 0 {
		return "none"
	}
	var parts []string
	for _, m := range slices.Sorted(maps.Keys(p)) {
		pr := p[m]
		s := fmt.Sprintf("%s=%s:%s", m, fmtFloat(pr.Input), fmtFloat(pr.Output))
		if pr.CachedInput != 0 {
			s += ":" + fmtFloat(pr.CachedInput)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// agentVariables are the agents' settings. AWO_DEFAULT_AGENT loads late:
// it may name codex only when CODEX_CLI_PATH is set.
var agentVariables = []variable{
	{names: []string{"CODEX_CLI_PATH"},
		load: func(p *parser, n []string, c *Config) { c.Agents.CodexCLIPath = p.str(n[0], "") },
		show: func(c *Config) any { return orDefault(c.Agents.CodexCLIPath, "(codex not configured)") }},
	{names: []string{"CODEX_MODEL"},
		load: func(p *parser, n []string, c *Config) { c.Agents.CodexModel = p.str(n[0], "") },
		show: func(c *Config) any { return orDefault(c.Agents.CodexModel, "(codex's default)") }},
	{names: []string{"OPENAI_API_KEY"}, secret: wholeSecret,
		load: func(p *parser, n []string, c *Config) { c.Agents.OpenAIAPIKey = p.str(n[0], "") },
		show: func(c *Config) any { return mask(c.Agents.OpenAIAPIKey) }},
	{names: []string{"AWO_PRICES"},
		load: func(p *parser, n []string, c *Config) { c.Agents.Prices = p.prices(n[0]) },
		show: func(c *Config) any { return c.Agents.Prices.String() }},
	{names: []string{"AWO_DEFAULT_AGENT"}, late: true,
		load: func(p *parser, n []string, c *Config) {
			c.Agents.Default = p.oneOf(n[0], AgentClaude, KnownAgents...)
			if !c.Agents.IsConfigured(c.Agents.Default) {
				p.fail(n[0], c.Agents.Default, "codex is not configured: set CODEX_CLI_PATH too")
				c.Agents.Default = AgentClaude
			}
		},
		show: func(c *Config) any { return c.Agents.Default }},
}

// prices parses "gpt-5=1.25:10:0.125,o4-mini=1.1:4.4": per model, USD per
// million input and output tokens, and optionally cached input tokens.
func (p *parser) prices(name string) Prices {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	out := Prices{}
	for item := range strings.SplitSeq(v, ",") {
		model, spec, found := strings.Cut(strings.TrimSpace(item), "=")
		model = strings.TrimSpace(model)
		nums := strings.Split(spec, ":")
		if !found || model == "" || len(nums) < 2 || len(nums) > 3 {
			p.fail(name, v, fmt.Sprintf("%q: want model=input:output[:cached_input] in USD per million tokens", item))
			return nil
		}
		if _, twice := out[model]; twice {
			p.fail(name, v, fmt.Sprintf("model %q is priced twice; give each model one price", model))
			return nil
		}
		var f [3]float64
		for i, s := range nums {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || x < 0 || math.IsInf(x, 0) || math.IsNaN(x) || x > MaxUSD {
				p.fail(name, v, fmt.Sprintf("%q: %q is not a price (USD per million tokens, 0 to %d)", item, s, MaxUSD))
				return nil
			}
			f[i] = x
		}
		out[model] = Price{Input: f[0], Output: f[1], CachedInput: f[2]}
	}
	return out
}
