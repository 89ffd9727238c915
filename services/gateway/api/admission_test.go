package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

func withAdmission(a api.Admission) func(*api.Options) {
	return func(o *api.Options) { o.Admission = a }
}

func createBody(repo string) string {
	b, _ := json.Marshal(map[string]any{"repository_url": repo, "user_request": "Fix authentication bug"})
	return string(b)
}

// tooMany checks a 429 with Retry-After whose detail names the variable.
func tooMany(t *testing.T, r response, variable string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d %s, want 429", r.status, r.body)
	}
	if r.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	if d := r.detail(t); !strings.Contains(d, variable) {
		t.Errorf("detail %q does not name %s", d, variable)
	}
}

const (
	repoA = "https://github.com/acme/demo"
	repoB = "https://github.com/acme/other"
)

// Over AWO_MAX_ACTIVE_WORK_ORDERS a create is 429 and nothing is
// published; a work order that ends frees its slot.
func TestAdmission_GlobalLimit(t *testing.T) {
	h := newHarness(t, withAdmission(api.Admission{MaxActive: 2}))
	first := h.create(nil)
	second := h.create(map[string]any{"repository_url": repoB})
	h.started(second) // running counts like pending

	before := h.eventCount()
	tooMany(t, h.post(workOrders, createBody(repoA)), "AWO_MAX_ACTIVE_WORK_ORDERS")
	if after := h.eventCount(); after != before {
		t.Errorf("a refused create published %d events", after-before)
	}

	// Completing one frees a slot; failing the other frees another.
	h.publish(first, events.TypeCompleted, &events.Completed{})
	h.create(nil)
	tooMany(t, h.post(workOrders, createBody(repoA)), "AWO_MAX_ACTIVE_WORK_ORDERS")
	h.publish(second, events.TypeFailed, &events.Failed{ErrorMessage: "boom"})
	h.create(nil)
}

// AWO_MAX_ACTIVE_PER_REPOSITORY refuses one repository and not another.
func TestAdmission_PerRepositoryLimit(t *testing.T) {
	h := newHarness(t, withAdmission(api.Admission{MaxPerRepository: 1}))
	a := h.create(map[string]any{"repository_url": repoA})
	before := h.eventCount()
	r := h.post(workOrders, createBody(repoA))
	tooMany(t, r, "AWO_MAX_ACTIVE_PER_REPOSITORY")
	if d := r.detail(t); !strings.Contains(d, repoA) {
		t.Errorf("detail %q does not name the repository", d)
	}
	if after := h.eventCount(); after != before {
		t.Errorf("a refused create published %d events", after-before)
	}
	h.create(map[string]any{"repository_url": repoB})

	h.publish(a, events.TypeCancelled, &events.Cancelled{Reason: "not needed"})
	h.create(map[string]any{"repository_url": repoA})
}

// A repeated create with the same Idempotency-Key answers with the work
// order the key made, even when that work order fills the last slot; a
// new key is refused, and its refusal does not use the key up.
func TestAdmission_IdempotentReplayIsNotRefused(t *testing.T) {
	h := newHarness(t, withAdmission(api.Admission{MaxActive: 1}))
	r := h.do(http.MethodPost, workOrders, strings.NewReader(createBody(repoA)), "Content-Type", "application/json", "Idempotency-Key", "k1")
	if r.status != http.StatusCreated {
		t.Fatalf("first create: %d %s", r.status, r.body)
	}
	var first struct {
		ID workorder.ID `json:"agent_work_order_id"`
	}
	r.json(t, &first)

	r = h.do(http.MethodPost, workOrders, strings.NewReader(createBody(repoA)), "Content-Type", "application/json", "Idempotency-Key", "k1")
	var again struct {
		ID workorder.ID `json:"agent_work_order_id"`
	}
	r.json(t, &again)
	if r.status != http.StatusCreated || again.ID != first.ID || r.header.Get(idempotency.ReplayedHeader) != "true" {
		t.Fatalf("replay at the limit: %d %s, want 201 with %s replayed", r.status, r.body, first.ID)
	}

	tooMany(t, h.do(http.MethodPost, workOrders, strings.NewReader(createBody(repoB)), "Content-Type", "application/json", "Idempotency-Key", "k2"),
		"AWO_MAX_ACTIVE_WORK_ORDERS")
	h.publish(first.ID, events.TypeCompleted, &events.Completed{})
	r = h.do(http.MethodPost, workOrders, strings.NewReader(createBody(repoB)), "Content-Type", "application/json", "Idempotency-Key", "k2")
	if r.status != http.StatusCreated || r.header.Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("k2 after a slot freed: %d %s, want a fresh 201", r.status, r.body)
	}
}

// A retry runs a work order again, so it needs a free slot too.
func TestAdmission_RetryCounts(t *testing.T) {
	h := newHarness(t, withAdmission(api.Admission{MaxActive: 1}))
	id := h.create(nil)
	h.started(id)
	h.publish(id, events.TypeFailed, &events.Failed{ErrorMessage: "boom"})
	other := h.create(nil)

	before := h.eventCount()
	tooMany(t, h.post("/api/agent-work-orders/"+string(id)+"/retry", `{}`), "AWO_MAX_ACTIVE_WORK_ORDERS")
	if after := h.eventCount(); after != before {
		t.Errorf("a refused retry published %d events", after-before)
	}
	h.publish(other, events.TypeCompleted, &events.Completed{})
	if r := h.post("/api/agent-work-orders/"+string(id)+"/retry", `{}`); r.status != http.StatusAccepted {
		t.Fatalf("retry with a free slot: %d %s", r.status, r.body)
	}
}
