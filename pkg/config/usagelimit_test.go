package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestUsageLimits(t *testing.T) {
	c, err := config.Load(env(nil))
	want := config.UsageLimits{Retry: 5 * time.Minute, RetryMax: time.Hour, Resume: true}
	if err != nil || c.UsageLimits != want || c.Executor().UsageLimits != want {
		t.Fatalf("defaults: %+v, %v; want %+v", c.UsageLimits, err, want)
	}
	c, err = config.Load(env(map[string]string{
		"AWO_USAGE_LIMIT_RETRY": "2s", "AWO_USAGE_LIMIT_RETRY_MAX": "30", "AWO_RESUME_AFTER_USAGE_LIMIT": "false",
	}))
	if want := (config.UsageLimits{Retry: 2 * time.Second, RetryMax: 30 * time.Second}); err != nil || c.UsageLimits != want {
		t.Errorf("set: %+v, %v; want %+v", c.UsageLimits, err, want)
	}
	for vars, name := range map[*map[string]string]string{
		{"AWO_USAGE_LIMIT_RETRY": "0"}:                                      "AWO_USAGE_LIMIT_RETRY",
		{"AWO_USAGE_LIMIT_RETRY": "soon"}:                                   "AWO_USAGE_LIMIT_RETRY",
		{"AWO_USAGE_LIMIT_RETRY": "10m", "AWO_USAGE_LIMIT_RETRY_MAX": "5m"}: "AWO_USAGE_LIMIT_RETRY_MAX",
		{"AWO_RESUME_AFTER_USAGE_LIMIT": "maybe"}:                           "AWO_RESUME_AFTER_USAGE_LIMIT",
	} {
		_, err := config.Load(env(*vars))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: %v, want an error naming %s", *vars, err, name)
		}
	}
}
