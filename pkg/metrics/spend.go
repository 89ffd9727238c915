package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WatchSpend exposes the daily spend of all work orders: today's total
// (UTC), read by today at every scrape, as awo_spend_today_usd, and the
// AWO_DAILY_BUDGET_USD it is held against as awo_daily_budget_usd (0: no
// daily budget). The spend series is missing while today fails. The first
// caller of a process wins.
func (m *Metrics) WatchSpend(today func(ctx context.Context) (float64, error), dailyBudgetUSD float64) {
	if m == nil {
		return
	}
	_ = m.reg.Register(spendCollector{today: today, budget: dailyBudgetUSD})
}

var (
	spendTodayDesc = prometheus.NewDesc("awo_spend_today_usd",
		"What the agent runs of all work orders cost today (UTC day), in US dollars, read at scrape time.", nil, nil)
	dailyBudgetDesc = prometheus.NewDesc("awo_daily_budget_usd",
		"AWO_DAILY_BUDGET_USD: what all work orders may spend per UTC day, in US dollars; 0 is no daily budget.", nil, nil)
)

// spendReadTimeout keeps a scrape short while the counter is unreachable.
const spendReadTimeout = 2 * time.Second

type spendCollector struct {
	today  func(ctx context.Context) (float64, error)
	budget float64
}

func (c spendCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- spendTodayDesc
	ch <- dailyBudgetDesc
}

func (c spendCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(dailyBudgetDesc, prometheus.GaugeValue, c.budget)
	ctx, cancel := context.WithTimeout(context.Background(), spendReadTimeout)
	defer cancel()
	if usd, err := c.today(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(spendTodayDesc, prometheus.GaugeValue, usd)
	}
}
