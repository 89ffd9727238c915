package config_test

import (
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestMaxCostUSD(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil || c.MaxCostUSD != 0 {
		t.Fatalf("unset: %v, %v; want 0 (no cap)", c.MaxCostUSD, err)
	}
	for v, want := range map[string]float64{"5": 5, "0.25": 0.25, "$1.5": 1.5} {
		c, err := config.Load(env(map[string]string{"AWO_MAX_COST_USD": v}))
		if err != nil || c.MaxCostUSD != want {
			t.Errorf("AWO_MAX_COST_USD=%s: %v, %v; want %v", v, c.MaxCostUSD, err, want)
		}
	}
	for _, v := range []string{"0", "-1", "five", "Inf", "NaN"} {
		_, err := config.Load(env(map[string]string{"AWO_MAX_COST_USD": v}))
		if err == nil || !strings.Contains(err.Error(), "AWO_MAX_COST_USD") {
			t.Errorf("AWO_MAX_COST_USD=%s: %v, want an error naming it", v, err)
		}
	}
}
