package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func (h *harness) last(wo workorder.ID, typ string) (events.Event, bool) {
	h.t.Helper()
	e, ok, err := h.bus.LastEvent(context.Background(), wo, typ)
	if err != nil {
		h.t.Fatal(err)
	}
	return e, ok
}

func (h *harness) started(wo workorder.ID) {
	h.t.Helper()
	h.publish(wo, events.TypeStarted, &events.Started{SandboxIdentifier: wo.SandboxIdentifier(), Steps: []workorder.Step{workorder.StepCreateBranch}})
}

func TestCancel_PendingWorkOrder_IsAcceptedWithTheDefaultReason(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)

	r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/cancel", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	var wo readmodel.WorkOrder
	r.json(t, &wo)
	if wo.AgentWorkOrderID != id || wo.Status != workorder.StatusPending {
		t.Errorf("answer = %s, want the work order as known now (pending)", r.body)
	}
	e, ok := h.last(id, events.TypeCancelRequested)
	if !ok || e.ID != string(id)+".cancel_requested" || e.Data.(*events.CancelRequested).Reason != "cancelled by the user" {
		t.Fatalf("recorded %+v (found %t), want cancel_requested with the default reason", e, ok)
	}
}

func TestCancel_RunningWorkOrder_CarriesTheGivenReason(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.started(id)

	r := h.post("/api/agent-work-orders/"+string(id)+"/cancel", `{"reason": "  wrong repository  "}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	var wo readmodel.WorkOrder
	r.json(t, &wo)
	if wo.Status != workorder.StatusRunning {
		t.Errorf("status in the answer = %s, want running", wo.Status)
	}
	if e, _ := h.last(id, events.TypeCancelRequested); e.Data.(*events.CancelRequested).Reason != "wrong repository" {
		t.Errorf("reason = %q", e.Data.(*events.CancelRequested).Reason)
	}
}

func TestCancel_FinishedWorkOrder_IsAConflictNamingItsStatus(t *testing.T) {
	for _, tc := range []struct {
		status workorder.Status
		typ    string
		data   any
	}{
		{workorder.StatusCompleted, events.TypeCompleted, &events.Completed{}},
		{workorder.StatusFailed, events.TypeFailed, &events.Failed{ErrorMessage: "boom"}},
		{workorder.StatusCancelled, events.TypeCancelled, &events.Cancelled{Reason: "stop"}},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			h := newHarness(t)
			id := h.create(nil)
			h.started(id)
			h.publish(id, tc.typ, tc.data)
			before := h.eventCount()

			r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/cancel", nil)
			if r.status != http.StatusConflict {
				t.Fatalf("cancel of a %s work order: %d %s", tc.status, r.status, r.body)
			}
			if d := r.detail(t); !strings.Contains(d, "is "+string(tc.status)) {
				t.Errorf("detail %q does not say the status", d)
			}
			if n := h.eventCount(); n != before {
				t.Errorf("a refused cancel recorded %d events", n-before)
			}
		})
	}
}

func TestCancelAndRetry_UnknownOrInvalidID(t *testing.T) {
	h := newHarness(t)
	for _, op := range []string{"cancel", "retry"} {
		if r := h.do(http.MethodPost, "/api/agent-work-orders/wo-00000000/"+op, nil); r.status != http.StatusNotFound {
			t.Errorf("%s of an unknown work order: %d %s", op, r.status, r.body)
		}
		if r := h.do(http.MethodPost, "/api/agent-work-orders/nope/"+op, nil); r.status != http.StatusNotFound {
			t.Errorf("%s with an invalid id: %d %s", op, r.status, r.body)
		}
	}
}

func TestCancelAndRetry_BodyValidation(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	for _, op := range []string{"cancel", "retry"} {
		path := "/api/agent-work-orders/" + string(id) + "/" + op
		for _, tc := range []struct {
			body   string
			status int
			detail string
		}{
			{`{"reason": ""}`, http.StatusUnprocessableEntity, "reason: must not be blank"},
			{`{"reason": 5}`, http.StatusUnprocessableEntity, "reason"},
			{`{"why": "x"}`, http.StatusUnprocessableEntity, "unknown field"},
			{`{"reason": `, http.StatusBadRequest, "malformed JSON"},
			{`{"reason": "` + strings.Repeat("x", 1001) + `"}`, http.StatusUnprocessableEntity, "at most 1000 bytes"},
		} {
			r := h.post(path, tc.body)
			if r.status != tc.status {
				t.Errorf("%s %.40s: %d %s, want %d", op, tc.body, r.status, r.body, tc.status)
				continue
			}
			if d := r.detail(t); !strings.Contains(d, tc.detail) {
				t.Errorf("%s %.40s: detail %q, want it to mention %q", op, tc.body, d, tc.detail)
			}
		}
		if r := h.do(http.MethodPost, path, strings.NewReader("reason"), "Content-Type", "text/plain"); r.status != http.StatusUnsupportedMediaType {
			t.Errorf("%s with text/plain: %d", op, r.status)
		}
	}
}

func TestRetry_FailedWorkOrder_ReopensItAsANewRound(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.started(id)
	h.publish(id, events.TypeFailed, &events.Failed{Step: workorder.StepCreateBranch, ErrorMessage: "create-branch failed: boom"})

	r := h.post("/api/agent-work-orders/"+string(id)+"/retry", `{"reason": "flaky network"}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	var wo readmodel.WorkOrder
	r.json(t, &wo)
	if wo.Status != workorder.StatusRunning || wo.ErrorMessage != nil {
		t.Errorf("answer = %s, want the work order running again without the old error", r.body)
	}
	e, ok := h.last(id, events.TypeRetryRequested)
	if rr, _ := e.Data.(*events.RetryRequested); !ok || e.ID != string(id)+".retry_requested.r1" || rr.Round != 1 || rr.Reason != "flaky network" {
		t.Fatalf("recorded %s %+v, want retry_requested round 1", e.ID, e.Data)
	}

	// A retried work order is running: retrying it again is a conflict.
	if r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/retry", nil); r.status != http.StatusConflict || !strings.Contains(r.detail(t), "is running") {
		t.Fatalf("retry of a running work order: %d %s", r.status, r.body)
	}
	// A cancel in round 1 and a retry after it get ids of their own, so
	// the stream's duplicate window never drops them.
	if r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/cancel", nil); r.status != http.StatusAccepted {
		t.Fatalf("cancel after the retry: %d %s", r.status, r.body)
	}
	if e, _ := h.last(id, events.TypeCancelRequested); e.ID != string(id)+".cancel_requested.r1" {
		t.Errorf("cancel in round 1 recorded as %s", e.ID)
	}
	h.publish(id, events.TypeCancelled, &events.Cancelled{Reason: "cancelled by the user"})
	if r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/retry", nil); r.status != http.StatusAccepted {
		t.Fatalf("retry of the cancelled work order: %d %s", r.status, r.body)
	}
	if e, _ := h.last(id, events.TypeRetryRequested); e.ID != string(id)+".retry_requested.r2" || e.Data.(*events.RetryRequested).Reason != "retried by the user" {
		t.Errorf("second retry recorded as %s %+v", e.ID, e.Data)
	}
}

func TestRetry_IsAConflictWhenThereIsNothingToRetry(t *testing.T) {
	h := newHarness(t)
	pending := h.create(nil)
	completed := h.create(nil)
	h.started(completed)
	h.publish(completed, events.TypeCompleted, &events.Completed{})
	neverStarted := h.create(nil)
	h.publish(neverStarted, events.TypeFailed, &events.Failed{ErrorMessage: "invalid work order: no commands selected"})
	before := h.eventCount()

	for id, want := range map[workorder.ID]string{
		pending:      "is pending; only a failed or cancelled work order can be retried",
		completed:    "is completed; only a failed or cancelled work order can be retried",
		neverStarted: "nothing to retry",
	} {
		r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/retry", nil)
		if r.status != http.StatusConflict {
			t.Errorf("retry of %s: %d %s, want 409", id, r.status, r.body)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, want) {
			t.Errorf("retry of %s: detail %q, want %q", id, d, want)
		}
	}
	if n := h.eventCount(); n != before {
		t.Errorf("refused retries recorded %d events", n-before)
	}
}
