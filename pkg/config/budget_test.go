package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/workorder"
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
	for _, v := range []string{"0", "-1", "five", "Inf", "NaN", "1e308", "1000001"} {
		_, err := config.Load(env(map[string]string{"AWO_MAX_COST_USD": v}))
		if err == nil || !strings.Contains(err.Error(), "AWO_MAX_COST_USD") {
			t.Errorf("AWO_MAX_COST_USD=%s: %v, want an error naming it", v, err)
		}
	}
}

func TestStepTimeouts(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil || c.StepTimeouts != nil {
		t.Fatalf("unset: %v, %v; want none", c.StepTimeouts, err)
	}
	c, err = config.Load(env(map[string]string{"AWO_STEP_TIMEOUTS": " planning=10m, execute=45m "}))
	if err != nil || len(c.StepTimeouts) != 2 || c.StepTimeouts[workorder.StepPlanning] != 10*time.Minute || c.StepTimeouts[workorder.StepExecute] != 45*time.Minute {
		t.Fatalf("planning=10m,execute=45m: %v, %v", c.StepTimeouts, err)
	}
	if got := config.FormatStepTimeouts(c.StepTimeouts); got != "planning=10m0s,execute=45m0s" {
		t.Errorf("shown as %q", got)
	}
	if c, err := config.Load(env(map[string]string{"AWO_STEP_TIMEOUTS": "0"})); err != nil || c.StepTimeouts != nil {
		t.Errorf("0: %v, %v; want none", c.StepTimeouts, err)
	}
	for v, want := range map[string]string{
		"planing=10m":      "step=duration with a step of create-branch, planning",
		"planning":         "step=duration",
		"planning=0s":      "must be positive",
		"execute=-1m":      "must be positive",
		"execute=ten":      "must be positive",
		"create-pr=1m":     "with a step of", // run by the github service, not an agent
		"planning=1m,,x=2": "step=duration",
	} {
		_, err := config.Load(env(map[string]string{"AWO_STEP_TIMEOUTS": v}))
		if err == nil || !strings.Contains(err.Error(), "AWO_STEP_TIMEOUTS") || !strings.Contains(err.Error(), want) {
			t.Errorf("AWO_STEP_TIMEOUTS=%s: %v, want an error naming it and saying %q", v, err, want)
		}
	}
}

func TestDailyBudgetUSD(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil || c.DailyBudgetUSD != 0 {
		t.Fatalf("unset: %v, %v; want 0 (no daily budget)", c.DailyBudgetUSD, err)
	}
	c, err = config.Load(env(map[string]string{"AWO_DAILY_BUDGET_USD": "$20"}))
	if err != nil || c.DailyBudgetUSD != 20 || c.Gateway().DailyBudgetUSD != 20 || c.Executor().DailyBudgetUSD != 20 {
		t.Fatalf("AWO_DAILY_BUDGET_USD=$20: %v, %v; want 20 for the gateway and the executor", c.DailyBudgetUSD, err)
	}
	for _, v := range []string{"0", "-3", "lots", "+Inf", "1e308", "$2000000"} {
		_, err := config.Load(env(map[string]string{"AWO_DAILY_BUDGET_USD": v}))
		if err == nil || !strings.Contains(err.Error(), "AWO_DAILY_BUDGET_USD") {
			t.Errorf("AWO_DAILY_BUDGET_USD=%s: %v, want an error naming it", v, err)
		}
	}
}
