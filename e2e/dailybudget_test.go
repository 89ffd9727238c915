package e2e

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nextUTCMidnight is when a daily budget used up at t opens again.
func nextUTCMidnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// stepWaiting is the CloudEvent of a step.waiting on the event feed.
type stepWaiting struct {
	Type string `json:"type"`
	Data struct {
		Step         string    `json:"step"`
		Attempt      int       `json:"attempt"`
		Reason       string    `json:"reason"`
		WaitingUntil time.Time `json:"waiting_until"`
		Message      string    `json:"message"`
	} `json:"data"`
}

// With AWO_DAILY_BUDGET_USD set below what a work order's steps cost,
// through the real all-in-one, the real Claude Code CLI and the scripted
// model (one answer costs $0.0004): the step that crosses the budget
// completes, the next step waits until the next UTC midnight
// (step.waiting, reason daily_budget) with the work order still running,
// a new create is refused with 429 until then, /health and the work order
// show the spend, and the waiting work order can be cancelled.
func TestDailyBudget_StepThatCrossesItCompletes_NextWaits_NewWorkRefused(t *testing.T) {
	// Mostly waiting for a limit to lift: it runs beside the other waiting tests.
	t.Parallel()
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning(), execute(writeGreeting), commit(branch))
	// create-branch (two answers, $0.0008) stays under $0.001; planning
	// starts under it and crosses it; execute waits.
	const budget = 0.001
	s := newStack(t, w, "AWO_DAILY_BUDGET_USD="+strconv.FormatFloat(budget, 'f', -1, 64))
	s.start()

	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []any{"create-branch", "planning", "execute", "commit"},
	})
	feed := s.openSSE("/api/agent-work-orders/events?id=" + id)
	var waiting stepWaiting
	for waiting.Type != "io.archon.workorders.step.waiting.v1" {
		f, ok := nextFrame(t, feed, 3*time.Minute)
		if !ok {
			t.Fatal("event feed closed before a step.waiting")
		}
		if err := json.Unmarshal([]byte(f.data), &waiting); err != nil {
			t.Fatalf("feed frame %s: %v", f.data, err)
		}
		if strings.HasSuffix(waiting.Type, ".workorder.completed.v1") || strings.HasSuffix(waiting.Type, ".workorder.failed.v1") {
			t.Fatalf("work order ended (%s) instead of waiting; steps %s", waiting.Type, summarize(s.attempts(id)))
		}
	}
	now := time.Now()
	if until := nextUTCMidnight(now); !waiting.Data.WaitingUntil.Equal(until) && !waiting.Data.WaitingUntil.Equal(until.Add(-24*time.Hour)) {
		t.Errorf("waiting_until %s, want the next UTC midnight %s", waiting.Data.WaitingUntil, until)
	}
	if waiting.Data.Step != "execute" || waiting.Data.Reason != "daily_budget" ||
		!strings.Contains(waiting.Data.Message, "the daily budget (AWO_DAILY_BUDGET_USD=$0.00) is used up") ||
		!strings.Contains(waiting.Data.Message, "execute runs at "+waiting.Data.WaitingUntil.Format(time.RFC3339)) {
		t.Errorf("step.waiting %+v, want execute waiting for the daily budget", waiting.Data)
	}
	// The step that crossed the budget completed; the next did not run.
	if got := summarize(s.attempts(id)); got != "create-branch#1:true,planning#1:true" {
		t.Errorf("steps %s, want create-branch and planning completed, nothing after", got)
	}
	if n := len(w.Model.Conversation("execute")); n != 0 {
		t.Errorf("execute asked the model %d times with the daily budget used up", n)
	}
	if wo := s.get(id); wo.Status != "running" {
		t.Errorf("waiting work order is %s, want running", wo.Status)
	}
	var sum float64
	for _, st := range s.costSteps(id) {
		sum += st.CostUSD
	}
	if got, _ := s.getRaw(id)["total_cost_usd"].(float64); sum <= budget || math.Abs(got-sum) > 1e-9 {
		t.Errorf("total_cost_usd %v, the steps report $%v in all (over the $%v budget)", got, sum, budget)
	}

	checkRefusedUntilMidnight(t, s)
	checkHealthSpend(t, s, sum, budget)

	if code, out := s.do("POST", "/api/agent-work-orders/"+id+"/cancel", nil); code != http.StatusAccepted {
		t.Fatalf("cancel of the waiting work order: %d %s", code, out)
	}
	if wo := s.waitFinished(id, time.Minute); wo.Status != "cancelled" {
		t.Errorf("after cancel: %s, want cancelled", wo.Status)
	}
}

// checkRefusedUntilMidnight: a create is 429 with Retry-After running to
// the next UTC midnight and a detail naming the budget, the spend and when
// new work is accepted.
func checkRefusedUntilMidnight(t *testing.T, s *stack) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/api/agent-work-orders/",
		strings.NewReader(`{"repository_url": "`+repoURL+`", "user_request": "One more"}`))
	req.Header.Set("Content-Type", "application/json")
	s.authorize(req)
	before := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Detail string `json:"detail"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	want := nextUTCMidnight(before).Sub(before).Seconds()
	if resp.StatusCode != http.StatusTooManyRequests || math.Abs(float64(secs)-want) > 5 {
		t.Errorf("create over the daily budget: %d Retry-After %q, want 429 with about %.0f s (to the next UTC midnight); %s",
			resp.StatusCode, resp.Header.Get("Retry-After"), want, body.Detail)
	}
	for _, part := range []string{"daily budget is used up", "spent today", "AWO_DAILY_BUDGET_USD is $0.00",
		"accepted again at " + nextUTCMidnight(before).Format(time.RFC3339)} {
		if !strings.Contains(body.Detail, part) {
			t.Errorf("detail %q, want it to say %q", body.Detail, part)
		}
	}
}

// checkHealthSpend: /health's spend object shows today's spend (at least
// the work order's: the counter is every work order's) and the budget.
func checkHealthSpend(t *testing.T, s *stack, spent, budget float64) {
	t.Helper()
	code, out := s.do("GET", "/health", nil)
	var h struct {
		Spend struct {
			Day            string   `json:"day"`
			TodayUSD       *float64 `json:"today_usd"`
			DailyBudgetUSD *float64 `json:"daily_budget_usd"`
			MaxCostUSD     *float64 `json:"max_cost_usd"`
		} `json:"spend"`
	}
	if err := json.Unmarshal(out, &h); code != http.StatusOK || err != nil {
		t.Fatalf("/health: %d %s (%v)", code, out, err)
	}
	sp := h.Spend
	if sp.TodayUSD == nil || math.Abs(*sp.TodayUSD-spent) > 1e-6 || sp.DailyBudgetUSD == nil || *sp.DailyBudgetUSD != budget ||
		sp.MaxCostUSD != nil || sp.Day != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("/health spend %s, want today $%v of the $%v budget and no default max_cost_usd", out, spent, budget)
	}
}
