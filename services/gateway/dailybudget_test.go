package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/spend"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway"
)

// The gateway opens the spend counter the executors add to and holds
// AWO_DAILY_BUDGET_USD against it: /health and /metrics show the day's
// spend and the budget, and a create over it is 429.
func TestRun_DailyBudgetFromTheSharedCounter(t *testing.T) {
	env := natstest.Start(t)
	executors, err := spend.Bind(context.Background(), env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := executors.Add(context.Background(), 2.5); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.DailyBudgetUSD = 2
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC,
		Store: readmodel.NewMemory(), Logger: quiet, Metrics: metrics.New()})

	var health struct {
		Spend struct {
			TodayUSD       *float64 `json:"today_usd"`
			DailyBudgetUSD *float64 `json:"daily_budget_usd"`
		} `json:"spend"`
	}
	if status := get(t, g.base+"/health", &health); status != http.StatusOK || health.Spend.TodayUSD == nil ||
		*health.Spend.TodayUSD != 2.5 || health.Spend.DailyBudgetUSD == nil || *health.Spend.DailyBudgetUSD != 2 {
		t.Errorf("/health: %d spend %+v, want $2.5 of $2", status, health.Spend)
	}
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"awo_spend_today_usd 2.5\n", "awo_daily_budget_usd 2\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Post(g.base+"/api/agent-work-orders", "application/json",
		strings.NewReader(`{"repository_url": "https://github.com/acme/demo", "user_request": "Fix"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("create over the daily budget: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
