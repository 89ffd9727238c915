package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/agentworkorders/awo/pkg/spend"
)

// The daily budget (AWO_DAILY_BUDGET_USD): once what the agent runs of all
// work orders cost today (UTC) reaches it, the requests that start agent
// runs are refused with 429 until the next UTC midnight: a create (API or
// GitHub webhook), a follow-up prompt and a retry. The check sits in admit,
// which all of them pass; a repeated create with an Idempotency-Key already
// used answers with its work order, as for the other limits. Work orders
// already running finish their current step, then wait (the executor's
// side, services/executor/dailybudget.go).
//
// The spend is the shared counter the executors add to (pkg/spend); a
// counter that cannot be read refuses with 503 rather than let work in
// unchecked.

// SpendReader reads the day's spend of all work orders; *spend.Counter is
// one.
type SpendReader interface {
	Today(ctx context.Context) (spend.Total, error)
	// Now is the counter's clock: which day it counts.
	Now() time.Time
}

// spendReadTimeout bounds a read of the counter on a request's way.
const spendReadTimeout = 2 * time.Second

// spendUnavailableRetry is the Retry-After of a 503 for an unreadable
// counter: NATS is back within seconds or an operator is needed.
const spendUnavailableRetry = 5 * time.Second

// checkDailyBudget refuses new work (429 with Retry-After until the next
// UTC midnight) while today's spend is at or over the daily budget; nil
// without a budget.
func (s *server) checkDailyBudget(ctx context.Context) error {
	if s.DailyBudgetUSD <= 0 || s.Spend == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, spendReadTimeout)
	defer cancel()
	today, err := s.Spend.Today(rctx)
	if err != nil {
		return withRetryAfter(&problem{status: http.StatusServiceUnavailable, cause: err,
			detail: "the daily spend counter (NATS key-value bucket " + spend.Bucket + ") is unavailable, so the daily budget " +
				"(AWO_DAILY_BUDGET_USD) cannot be checked and nothing was recorded; retry shortly"}, spendUnavailableRetry)
	}
	if today.USD < s.DailyBudgetUSD {
		return nil
	}
	now := s.Spend.Now()
	reopens := spend.NextDay(now)
	return &problem{status: http.StatusTooManyRequests, retryAfter: int(math.Ceil(reopens.Sub(now).Seconds())),
		detail: fmt.Sprintf("the daily budget is used up: $%.4f spent today (%s, UTC) and AWO_DAILY_BUDGET_USD is $%.2f; "+
			"new work is accepted again at %s", today.USD, today.Day, s.DailyBudgetUSD, reopens.Format(time.RFC3339))}
}

// budgetCheckedKey marks a request whose daily budget was checked before
// admission, which does not check it again: a GitHub delivery's.
type budgetCheckedKey struct{}

func budgetChecked(ctx context.Context) bool {
	checked, _ := ctx.Value(budgetCheckedKey{}).(bool)
	return checked
}

// budgetWait checks the daily budget for a GitHub delivery. GitHub does not
// deliver a refused webhook again, so over the budget the work is recorded
// all the same, and its agent steps wait for the budget as a running work
// order's do (the executor parks each until the next UTC midnight, and the
// orchestrator's timer sends it then): nothing asked for on GitHub is lost.
// note is what the answer adds to say so; an unreadable counter is the
// usual 503. The context it returns lets admission skip the check.
func (s *server) budgetWait(ctx context.Context) (_ context.Context, note string, err error) {
	ctx = context.WithValue(ctx, budgetCheckedKey{}, true)
	err = s.checkDailyBudget(ctx)
	var p *problem
	switch {
	case err == nil:
		return ctx, "", nil
	case errors.As(err, &p) && p.status == http.StatusTooManyRequests:
		reopens := spend.NextDay(s.Spend.Now())
		return ctx, fmt.Sprintf("; the daily budget (AWO_DAILY_BUDGET_USD) is used up, so its agent steps wait until %s",
			reopens.Format(time.RFC3339)), nil
	}
	return ctx, "", err
}

// spendHealth is /health's spend object: today's spend of all work orders
// and the caps it is held against.
type spendHealth struct {
	Day string `json:"day"`
	// TodayUSD is nil when the counter is not configured or cannot be
	// read (Error says why).
	TodayUSD       *float64 `json:"today_usd"`
	DailyBudgetUSD *float64 `json:"daily_budget_usd"` // AWO_DAILY_BUDGET_USD; nil: none
	MaxCostUSD     *float64 `json:"max_cost_usd"`     // AWO_MAX_COST_USD, the default per work order; nil: none
	Error          string   `json:"error,omitempty"`
}

// spendReport reads today's spend for /health.
func (s *server) spendReport(ctx context.Context) spendHealth {
	h := spendHealth{Day: spend.Day(time.Now()), DailyBudgetUSD: positive(s.DailyBudgetUSD), MaxCostUSD: positive(s.MaxCostUSD)}
	if s.Spend == nil {
		return h
	}
	rctx, cancel := context.WithTimeout(ctx, spendReadTimeout)
	defer cancel()
	today, err := s.Spend.Today(rctx)
	if err != nil {
		s.log.Warn("reading the daily spend for /health", "err", err)
		h.Day, h.Error = spend.Day(s.Spend.Now()), "the daily spend counter ("+spend.Bucket+") is unavailable"
		return h
	}
	h.Day, h.TodayUSD = today.Day, &today.USD
	return h
}

func positive(usd float64) *float64 {
	if usd <= 0 {
		return nil
	}
	return &usd
}
