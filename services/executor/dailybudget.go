package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/spend"
	"github.com/agentworkorders/awo/pkg/worker"
)

// The daily budget (AWO_DAILY_BUDGET_USD): what the agent runs of all work
// orders may cost per UTC day. Every executor adds each run's cost to the
// shared counter (pkg/spend) right after the run; before a run, an
// executor that finds today's spend at or over the budget makes the step
// wait (step.waiting, reason daily_budget) until the next UTC midnight,
// when the orchestrator sends it again. A run under way when the budget is
// reached finishes: the budget can be overshot by what the runs going at
// that moment cost.
//
// The add comes before the step's result is recorded: an executor that
// dies between the two has counted the run, and its step runs again and is
// counted again. The spend can so come out higher than what was spent,
// never lower: the error is on the safe side.

// DailySpend is the shared per-day spend of all work orders;
// *spend.Counter is one.
type DailySpend interface {
	Today(ctx context.Context) (spend.Total, error)
	Add(ctx context.Context, usd float64) (spend.Total, error)
	// Now is the counter's clock: which day it counts.
	Now() time.Time
}

// spendWatcher is a DailySpend that can keep the day's total in memory
// from a watch of its bucket (*spend.Counter): the check before each run
// then reads memory. A total a moment (at worst a few seconds, after a
// leader change) behind the bucket lets at most the runs started in that
// moment past a budget that runs under way overshoot anyway.
type spendWatcher interface {
	Watch(ctx context.Context, nc *nats.Conn, log *slog.Logger)
}

// errSpendCounter marks a failure to read the daily spend before a run:
// the step is handed back to be run again later, not run unchecked and
// not failed.
var errSpendCounter = errors.New("daily spend counter")

// spendAddTimeout bounds the add after a run, which outlives a cancel of
// the step: the run has cost what it cost.
const spendAddTimeout = 10 * time.Second

// dailyBudgetWait is the Wait of a step whose run would start with the
// day's budget used up; nil when it may run (or no budget is set).
func (x *executor) dailyBudgetWait(ctx context.Context, cmd events.RunStep, log *slog.Logger) error {
	if x.dailyBudget <= 0 || x.spend == nil {
		return nil
	}
	today, err := x.spend.Today(ctx)
	if err != nil {
		return fmt.Errorf("checking the daily budget before step %s: %w: %w", cmd.Step, errSpendCounter, err)
	}
	if today.USD < x.dailyBudget {
		return nil
	}
	until := spend.NextDay(x.spend.Now())
	log.Warn("step waits: the daily budget is used up", "daily_budget_usd", x.dailyBudget,
		"spent_today_usd", today.USD, "waiting_until", until)
	return worker.Wait(events.StepWaiting{
		Reason:       events.WaitDailyBudget,
		WaitingUntil: until,
		Message:      dailyBudgetMessage(x.dailyBudget, today.USD, string(cmd.Step), until),
	})
}

// dailyBudgetMessage is the work order's current_phase while it waits.
func dailyBudgetMessage(budget, spent float64, step string, until time.Time) string {
	return fmt.Sprintf("the daily budget (AWO_DAILY_BUDGET_USD=$%.2f) is used up ($%.4f spent today); %s runs at %s",
		budget, spent, step, until.UTC().Format(time.RFC3339))
}

// countSpend adds what the step's run cost to the day's spend: the
// result's cost, or the cost of a run that ended in a wait (a usage limit
// interrupted it). A failed add is logged and the step goes on: the
// counter then misses that run.
func (x *executor) countSpend(ctx context.Context, res events.StepResult, err error, log *slog.Logger) {
	if x.spend == nil {
		return
	}
	cost := res.CostUSD
	var w *worker.Waiting
	if errors.As(err, &w) {
		cost = w.CostUSD
	} else if err != nil {
		return // no result: the run did not finish
	}
	if cost <= 0 {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), spendAddTimeout)
	defer cancel()
	total, aerr := x.spend.Add(actx, cost)
	if aerr != nil {
		log.Warn("the run's cost was not added to the daily spend", "cost_usd", cost, "err", aerr)
		return
	}
	log.Debug("run added to the daily spend", "cost_usd", cost, "spent_today_usd", total.USD, "day", total.Day)
}
