package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

// max_cost_usd on create: a positive number is recorded and shown, left
// out takes AWO_MAX_COST_USD, and anything else is a 422 naming the field.
func TestCreate_MaxCostUSD(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.MaxCostUSD = 2.5 })
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   float64
	}{
		{"set", map[string]any{"max_cost_usd": 0.75}, 0.75},
		{"left out: the configured default", nil, 2.5},
	} {
		id := h.create(tc.fields)
		e, ok := h.last(id, events.TypeRequested)
		if req, _ := e.Data.(*events.Requested); !ok || req.MaxCostUSD != tc.want {
			t.Errorf("%s: recorded %+v, want max_cost_usd %v", tc.name, e.Data, tc.want)
		}
		var wo readmodel.WorkOrder
		h.get("/api/agent-work-orders/"+string(id)).json(t, &wo)
		if wo.MaxCostUSD == nil || *wo.MaxCostUSD != tc.want {
			t.Errorf("%s: work order shows max_cost_usd %v, want %v", tc.name, wo.MaxCostUSD, tc.want)
		}
	}
	for _, body := range []string{`0`, `-1`, `"5"`, `1e400`, `1e308`, `1000000.01`} {
		r := h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix", "max_cost_usd": `+body+`}`)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), "max_cost_usd") {
			t.Errorf("max_cost_usd %s: %d %s, want 422 naming max_cost_usd", body, r.status, r.body)
		}
	}
}

func TestCreate_NoCapShowsNull(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	r := h.get("/api/agent-work-orders/" + string(id))
	if !strings.Contains(string(r.body), `"max_cost_usd":null`) {
		t.Errorf("work order without a cap: %s, want max_cost_usd null", r.body)
	}
}

// A retry may carry a new cap; cancel does not take one.
func TestRetry_MaxCostUSD(t *testing.T) {
	h := newHarness(t)
	id := h.create(map[string]any{"max_cost_usd": 0.01})
	h.started(id)
	h.publish(id, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "budget exceeded"})
	path := "/api/agent-work-orders/" + string(id) + "/retry"
	for _, body := range []string{`{"max_cost_usd": 0}`, `{"max_cost_usd": -2}`, `{"max_cost_usd": "1"}`, `{"max_cost_usd": 1e308}`} {
		if r := h.post(path, body); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), "max_cost_usd") {
			t.Errorf("retry %s: %d %s, want 422 naming max_cost_usd", body, r.status, r.body)
		}
	}
	if r := h.post("/api/agent-work-orders/"+string(id)+"/cancel", `{"max_cost_usd": 1}`); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), "unknown field") {
		t.Errorf("cancel with max_cost_usd: %d %s, want 422 unknown field", r.status, r.body)
	}
	r := h.post(path, `{"max_cost_usd": 1.5}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	e, _ := h.last(id, events.TypeRetryRequested)
	if rr, _ := e.Data.(*events.RetryRequested); rr == nil || rr.MaxCostUSD != 1.5 {
		t.Errorf("recorded %+v, want max_cost_usd 1.5", e.Data)
	}
}

func TestPrompt_MaxCostUSDValidated(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	for _, v := range []string{`0`, `1e308`} {
		r := h.post("/api/agent-work-orders/"+string(id)+"/prompt", `{"prompt_text": "more", "max_cost_usd": `+v+`}`)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), "max_cost_usd") {
			t.Errorf("prompt with max_cost_usd %s: %d %s, want 422 naming max_cost_usd", v, r.status, r.body)
		}
	}
}
