package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// waitingWorkOrder is a running work order whose execute step waits for a
// usage limit until an hour from now.
func (h *harness) waitingWorkOrder() (workorder.ID, time.Time) {
	h.t.Helper()
	id := h.create(nil)
	h.started(id)
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepExecute, Attempt: 1})
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	h.publish(id, events.TypeStepWaiting, &events.StepWaiting{Step: workorder.StepExecute, Attempt: 1, WaitingUntil: until,
		Reason: events.WaitUsageLimit, Message: "waiting for Claude Code's usage limit to reset"})
	return id, until
}

func TestWorkOrder_WhileItsStepWaits_ShowsUntilWhenAndWhy(t *testing.T) {
	h := newHarness(t)
	id, until := h.waitingWorkOrder()
	r := h.get("/api/agent-work-orders/" + string(id))
	var wo readmodel.WorkOrder
	r.json(t, &wo)
	if wo.Status != workorder.StatusRunning || wo.WaitingUntil == nil || !wo.WaitingUntil.Equal(until) ||
		wo.CurrentPhase == nil || *wo.CurrentPhase != "waiting for Claude Code's usage limit to reset" {
		t.Fatalf("waiting work order = status %s waiting_until %v current_phase %v", wo.Status, wo.WaitingUntil, wo.CurrentPhase)
	}
	if !strings.Contains(string(r.body), `"waiting_until":"`+until.Format(time.RFC3339)+`"`) {
		t.Errorf("waiting_until not RFC 3339 in %s", r.body)
	}
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepExecute, Attempt: 1})
	if r := h.get("/api/agent-work-orders/" + string(id)); !strings.Contains(string(r.body), `"waiting_until":null`) {
		t.Errorf("after the step started again: %s, want waiting_until null", r.body)
	}
}

func TestRetry_WhileTheStepWaits_IsAcceptedAndAsksForItNow(t *testing.T) {
	h := newHarness(t)
	id, _ := h.waitingWorkOrder()
	r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/retry", strings.NewReader(`{"reason":"the limit is lifted","max_cost_usd":4}`), "Content-Type", "application/json")
	if r.status != http.StatusAccepted {
		t.Fatalf("retry while waiting: %d %s, want 202", r.status, r.body)
	}
	e, ok := h.last(id, events.TypeRetryRequested)
	if !ok || e.ID != string(id)+".retry_requested.r1" {
		t.Fatalf("retry recorded as %s (%v)", e.ID, ok)
	}
	if d := e.Data.(*events.RetryRequested); d.Round != 1 || d.Reason != "the limit is lifted" || d.MaxCostUSD != 4 {
		t.Errorf("retry = %+v", d)
	}
	var wo readmodel.WorkOrder
	r.json(t, &wo)
	if wo.Status != workorder.StatusRunning || wo.WaitingUntil != nil {
		t.Errorf("answer: status %s waiting_until %v; want running, no longer waiting", wo.Status, wo.WaitingUntil)
	}
	// No longer waiting: a second retry is a conflict, as for any running one.
	again := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/retry", nil)
	if again.status != http.StatusConflict || !strings.Contains(again.detail(t), "while its step waits") {
		t.Errorf("second retry: %d %s, want 409 naming the waiting case", again.status, again.body)
	}
}

func TestRetry_RunningAndNotWaiting_IsAConflict(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.started(id)
	before := h.eventCount()
	r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/retry", nil)
	if r.status != http.StatusConflict || !strings.Contains(r.detail(t), "is running; only a failed or cancelled work order can be retried") {
		t.Errorf("retry of a running work order: %d %s", r.status, r.body)
	}
	if h.eventCount() != before {
		t.Error("a refused retry recorded an event")
	}
}
