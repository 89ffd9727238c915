package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentworkorders/awo/pkg/metrics"
)

func TestWatchSpend(t *testing.T) {
	m := metrics.New()
	spent, fail := 1.25, false
	m.WatchSpend(func(context.Context) (float64, error) {
		if fail {
			return 0, errors.New("counter unreachable")
		}
		return spent, nil
	}, 20)
	want := `
# HELP awo_daily_budget_usd AWO_DAILY_BUDGET_USD: what all work orders may spend per UTC day, in US dollars; 0 is no daily budget.
# TYPE awo_daily_budget_usd gauge
awo_daily_budget_usd 20
# HELP awo_spend_today_usd What the agent runs of all work orders cost today (UTC day), in US dollars, read at scrape time.
# TYPE awo_spend_today_usd gauge
awo_spend_today_usd 1.25
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "awo_spend_today_usd", "awo_daily_budget_usd"); err != nil {
		t.Error(err)
	}
	fail = true
	if n := testutil.CollectAndCount(m.Registry(), "awo_spend_today_usd"); n != 0 {
		t.Errorf("counter unreachable: %d spend series, want none (not a false 0)", n)
	}
	if n := testutil.CollectAndCount(m.Registry(), "awo_daily_budget_usd"); n != 1 {
		t.Errorf("counter unreachable: %d budget series, want 1", n)
	}
}
