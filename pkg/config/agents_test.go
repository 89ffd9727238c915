package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestAgents(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil || c.Agents.Default != "claude" || !slices.Equal(c.Agents.Configured(), []string{"claude"}) {
		t.Fatalf("unset: %+v, %v; want claude alone", c.Agents, err)
	}
	c, err = config.Load(env(map[string]string{"CODEX_CLI_PATH": "/opt/codex", "CODEX_MODEL": "gpt-5",
		"OPENAI_API_KEY": "sk-secret-value", "AWO_DEFAULT_AGENT": "Codex", "AWO_PRICES": "gpt-5=1.25:10:0.125, o4-mini=1.1:4.4"}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Agents
	if a.CodexCLIPath != "/opt/codex" || a.CodexModel != "gpt-5" || a.Default != "codex" || !a.IsConfigured("codex") ||
		a.Prices["gpt-5"] != (config.Price{Input: 1.25, Output: 10, CachedInput: 0.125}) || a.Prices["o4-mini"] != (config.Price{Input: 1.1, Output: 4.4}) {
		t.Errorf("agents %+v", a)
	}
	if !slices.Contains(c.Secrets(), "sk-secret-value") {
		t.Errorf("OPENAI_API_KEY is not a secret")
	}
	if got := a.Prices.String(); got != "gpt-5=1.25:10:0.125,o4-mini=1.1:4.4" {
		t.Errorf("prices shown as %q", got)
	}
	// 1M uncached in, 1M cached in, 1M out.
	if usd, ok := a.Prices.Cost("gpt-5", 2_000_000, 1_000_000, 1_000_000); !ok || usd != 1.25+0.125+10 {
		t.Errorf("cost %v %v", usd, ok)
	}
	if _, ok := a.Prices.Cost("unpriced", 1, 0, 1); ok {
		t.Errorf("an unpriced model has a cost")
	}
	for name, vars := range map[string]map[string]string{
		"AWO_DEFAULT_AGENT":  {"AWO_DEFAULT_AGENT": "codex"}, // codex not configured
		"AWO_DEFAULT_AGENT=": {"AWO_DEFAULT_AGENT": "gemini"},
		"AWO_PRICES":         {"AWO_PRICES": "gpt-5=1"},
		"AWO_PRICES=":        {"AWO_PRICES": "gpt-5=a:b"},
		"AWO_PRICES==":       {"AWO_PRICES": "gpt-5=1e308:1"},
	} {
		if _, err := config.Load(env(vars)); err == nil || !strings.Contains(err.Error(), strings.TrimSuffix(name, "=")) {
			t.Errorf("%v: %v, want an error naming %s", vars, err, name)
		}
	}
}

// A model priced twice in AWO_PRICES is a start-up error naming the model:
// which of the two prices was meant cannot be guessed.
func TestAgents_PriceTwiceNamesTheModel(t *testing.T) {
	_, err := config.Load(env(map[string]string{"CODEX_CLI_PATH": "codex", "AWO_PRICES": "gpt-5=1:10, o4-mini=1:2, gpt-5=2:20"}))
	if err == nil || !strings.Contains(err.Error(), "gpt-5") || !strings.Contains(err.Error(), "twice") {
		t.Errorf("gpt-5 priced twice: %v, want an error naming gpt-5 twice", err)
	}
}
