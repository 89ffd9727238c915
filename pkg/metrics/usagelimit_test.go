package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentworkorders/awo/pkg/metrics"
)

func TestUsageLimits_CountAndUntil(t *testing.T) {
	m := metrics.New()
	u := m.UsageLimits()
	u.Limited("claude")
	u.Limited("claude")
	m.UsageLimits().Limited("codex") // a second executor of the process shares the series
	u.Until("claude", time.Unix(1796530800, 0))
	u.Until("codex", time.Unix(1796530800, 0))
	u.Until("codex", time.Time{})
	want := `
# HELP awo_agent_limited_until_seconds When the agent account's usage limit flag lifts, in Unix seconds; 0 when the account is not limited.
# TYPE awo_agent_limited_until_seconds gauge
awo_agent_limited_until_seconds{agent="claude"} 1.7965308e+09
awo_agent_limited_until_seconds{agent="codex"} 0
# HELP awo_agent_usage_limited_total Agent runs that ended because the agent's account hit its usage or rate limit (or the API was overloaded), by agent.
# TYPE awo_agent_usage_limited_total counter
awo_agent_usage_limited_total{agent="claude"} 2
awo_agent_usage_limited_total{agent="codex"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "awo_agent_limited_until_seconds", "awo_agent_usage_limited_total"); err != nil {
		t.Error(err)
	}
	var none *metrics.Metrics
	none.UsageLimits().Limited("claude") // records nothing, panics not
	none.UsageLimits().Until("claude", time.Now())
}
