package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/spend"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

// budgetHarness is the API with a daily budget over a real AWO_SPEND
// bucket whose clock says it is 23:00 UTC on 2026-12-06: an hour before the
// budget opens again.
func budgetHarness(t *testing.T, budget float64, configure ...func(*api.Options)) (*harness, *spend.Counter) {
	t.Helper()
	env := natstest.Start(t)
	if _, err := spend.Open(context.Background(), env.JS, bus.Replication{}); err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(context.Background(), spend.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	counter := spend.New(kv, func() time.Time { return time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC) })
	h := newHarnessOn(t, env, append([]func(*api.Options){func(o *api.Options) {
		o.Spend, o.DailyBudgetUSD, o.MaxCostUSD = counter, budget, 0.5
	}}, configure...)...)
	return h, counter
}

// Once today's spend reaches the budget, every request that starts agent
// runs is 429 until the next UTC midnight, says why, and records nothing;
// reads and cancels go on.
func TestDailyBudget_UsedUpRefusesNewWork(t *testing.T) {
	h, counter := budgetHarness(t, 1)
	ctx := context.Background()
	failed := h.create(nil)
	h.started(failed)
	h.publish(failed, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "boom"})
	completed := h.create(nil)
	h.branched(completed)
	h.publish(completed, events.TypeCompleted, &events.Completed{})
	waiting, _ := h.waitingWorkOrder()
	keyed := h.do(http.MethodPost, "/api/agent-work-orders/", jsonBody(map[string]any{
		"repository_url": "https://github.com/acme/demo", "user_request": "Fix"}), "Content-Type", "application/json", "Idempotency-Key", "k-1")
	if keyed.status != http.StatusCreated {
		t.Fatalf("create with a key: %d %s", keyed.status, keyed.body)
	}
	if _, err := counter.Add(ctx, 0.6); err != nil {
		t.Fatal(err)
	}
	h.create(nil) // $0.60 of $1: still open
	if _, err := counter.Add(ctx, 0.4); err != nil {
		t.Fatal(err)
	}

	before := h.eventCount()
	for name, r := range map[string]response{
		"create": h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix"}`),
		"create with a new key": h.do(http.MethodPost, "/api/agent-work-orders/", jsonBody(map[string]any{
			"repository_url": "https://github.com/acme/demo", "user_request": "Fix"}), "Content-Type", "application/json", "Idempotency-Key", "k-2"),
		"follow-up": h.post(promptPath(completed), `{"prompt_text": "more"}`),
		"retry":     h.post("/api/agent-work-orders/"+string(failed)+"/retry", `{}`),
		// Retry now of a waiting step runs an agent at once: new work too.
		"retry now": h.post("/api/agent-work-orders/"+string(waiting)+"/retry", `{}`),
	} {
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "3600" {
			t.Errorf("%s: %d Retry-After %q %s, want 429 with Retry-After 3600 (seconds to midnight UTC)", name, r.status, r.header.Get("Retry-After"), r.body)
			continue
		}
		d := r.detail(t)
		for _, part := range []string{"daily budget is used up", "$1.0000 spent today (2026-12-06, UTC)", "AWO_DAILY_BUDGET_USD is $1.00", "accepted again at 2026-12-07T00:00:00Z"} {
			if !strings.Contains(d, part) {
				t.Errorf("%s: detail %q, want it to say %q", name, d, part)
			}
		}
	}
	if after := h.eventCount(); after != before {
		t.Errorf("refused requests recorded %d events", after-before)
	}
	// A repeat of a create already made answers with its work order.
	again := h.do(http.MethodPost, "/api/agent-work-orders/", jsonBody(map[string]any{
		"repository_url": "https://github.com/acme/demo", "user_request": "Fix"}), "Content-Type", "application/json", "Idempotency-Key", "k-1")
	if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeated create with its key: %d %v %s, want 201 replayed", again.status, again.header, again.body)
	}
	if r := h.get("/api/agent-work-orders/" + string(failed)); r.status != http.StatusOK {
		t.Errorf("read over the budget: %d", r.status)
	}
	if r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(completed)+"/cancel", nil); r.status == http.StatusTooManyRequests {
		t.Errorf("cancel over the budget: %d %s", r.status, r.body)
	}
}

// failingSpend is a counter that cannot be read.
type failingSpend struct{}

func (failingSpend) Today(context.Context) (spend.Total, error) {
	return spend.Total{}, errors.New("nats: timeout")
}
func (failingSpend) Now() time.Time { return time.Now() }

// A counter that cannot be read refuses with 503 and Retry-After (never
// 500, never an unchecked create); /health says so and stays 200.
func TestDailyBudget_CounterUnavailable(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.Spend, o.DailyBudgetUSD = failingSpend{}, 5 })
	r := h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix"}`)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "5" || !strings.Contains(r.detail(t), "AWO_SPEND") {
		t.Errorf("create: %d Retry-After %q %s, want 503 with Retry-After 5 naming the counter", r.status, r.header.Get("Retry-After"), r.body)
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("%d events recorded", n)
	}
	var health struct {
		Spend map[string]any `json:"spend"`
	}
	hr := h.get("/health")
	hr.json(t, &health)
	if hr.status != http.StatusOK || health.Spend["today_usd"] != nil || health.Spend["daily_budget_usd"] != 5.0 || health.Spend["error"] == nil {
		t.Errorf("/health: %d %s, want spend with today_usd null, the budget and an error", hr.status, hr.body)
	}
}

// /health shows today's spend and the caps; null for a cap not set.
func TestHealth_Spend(t *testing.T) {
	h, counter := budgetHarness(t, 20)
	if _, err := counter.Add(context.Background(), 1.25); err != nil {
		t.Fatal(err)
	}
	var health struct {
		Spend map[string]any `json:"spend"`
	}
	h.get("/health").json(t, &health)
	want := map[string]any{"day": "2026-12-06", "today_usd": 1.25, "daily_budget_usd": 20.0, "max_cost_usd": 0.5}
	for k, v := range want {
		if health.Spend[k] != v {
			t.Errorf("/health spend %v, want %s = %v", health.Spend, k, v)
		}
	}

	plain := newHarness(t)
	r := plain.get("/health")
	if !strings.Contains(string(r.body), `"daily_budget_usd":null`) || !strings.Contains(string(r.body), `"max_cost_usd":null`) || !strings.Contains(string(r.body), `"today_usd":null`) {
		t.Errorf("/health without caps or counter: %s, want nulls", r.body)
	}
}

// Without a budget nothing is refused, whatever was spent.
func TestDailyBudget_NoneRefusesNothing(t *testing.T) {
	h, counter := budgetHarness(t, 0)
	if _, err := counter.Add(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	h.create(nil)
}

// total_cost_usd is the sum of the work order's step results' cost.
func TestWorkOrder_TotalCostUSD(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.started(id)
	h.publish(id, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true, CostUSD: 0.0004, BranchName: "feat/x"})
	h.publish(id, events.TypeStepFailed, &events.StepResult{Step: workorder.StepPlanning, Attempt: 1, CostUSD: 0.25, ErrorMessage: "boom"})
	var wo readmodel.WorkOrder
	h.get("/api/agent-work-orders/"+string(id)).json(t, &wo)
	if wo.TotalCostUSD != 0.2504 {
		t.Errorf("total_cost_usd %v, want 0.2504", wo.TotalCostUSD)
	}
}

// GitHub does not deliver a refused webhook again, so a 429 over the daily
// budget would lose the request. A GitHub-triggered create or follow-up is
// recorded instead, and its agent steps wait for the budget like a running
// work order's (the executor parks them until the next UTC midnight); the
// answer says so. The other limits still refuse (with the delivery
// released, for Redeliver).
func TestDailyBudget_UsedUp_GitHubDeliveriesAreRecordedAndWait(t *testing.T) {
	h, counter := budgetHarness(t, 1, withWebhook)
	pr := h.awoPR()
	if _, err := counter.Add(context.Background(), 1.5); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ event, fixture, delivery, detail string }{
		{"issues", "issues_labeled", "d-budget-1", "work order created"},
		{"issue_comment", "issue_comment_pr", "d-budget-2", "follow-up round 2 requested"},
	} {
		a := h.deliver(d.event, d.delivery, ghFixture(t, d.fixture, nil)).webhook(t, http.StatusAccepted)
		for _, part := range []string{d.detail, "daily budget", "2026-12-07T00:00:00Z"} {
			if !strings.Contains(a.Detail, part) {
				t.Errorf("%s: answer %q, want it to say %q", d.event, a.Detail, part)
			}
		}
		if a.ID == "" {
			t.Errorf("%s: answer names no work order", d.event)
		}
	}
	if fu := h.followUp(pr); fu.Round != 2 {
		t.Errorf("follow-up recorded as round %d", fu.Round)
	}
	// The API's create is still refused.
	if r := h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix"}`); r.status != http.StatusTooManyRequests {
		t.Errorf("API create over the budget: %d, want 429", r.status)
	}
}
