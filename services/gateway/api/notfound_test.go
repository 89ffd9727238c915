package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestRoutes_NonIDIs404 asks every route that takes a work-order id (as the
// service lists them, so a route added later is covered too) about ids that
// cannot be one: Archon's clients expect the 404 of an unknown work order,
// never a 422.
func TestRoutes_NonIDIs404(t *testing.T) {
	h := newHarness(t)
	var info struct {
		Endpoints []string `json:"endpoints"`
	}
	h.get("/").json(t, &info)
	const param = "{agent_work_order_id}"
	var routes []string
	for _, e := range info.Endpoints {
		if strings.Contains(e, param) {
			routes = append(routes, e)
		}
	}
	// The routes issue 12 names; /prompt joins through the list above.
	for _, want := range []string{
		"GET /api/agent-work-orders/" + param,
		"GET /api/agent-work-orders/" + param + "/steps",
		"GET /api/agent-work-orders/" + param + "/git-progress",
		"GET /api/agent-work-orders/" + param + "/logs",
		"GET /api/agent-work-orders/" + param + "/logs/stream",
		"POST /api/agent-work-orders/" + param + "/cancel",
		"POST /api/agent-work-orders/" + param + "/retry",
	} {
		if !slices.Contains(routes, want) {
			t.Errorf("the service does not list %q (it lists %v)", want, routes)
		}
	}
	// A body each POST route would accept, so only the id can be refused.
	bodies := map[string]string{"/cancel": `{"reason": "x"}`, "/retry": `{"reason": "x"}`, "/prompt": `{"prompt_text": "also handle the empty case"}`}
	ids := []string{"does-not-exist", "wo-1234", "wo-ABCDEF12", "wo-0000000g", "wo-%2E%2E", "%00", "%FF", strings.Repeat("x", 300)}
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		for _, id := range ids {
			url := strings.Replace(path, param, id, 1)
			var r response
			if method == http.MethodPost {
				r = h.post(url, bodies[strings.TrimPrefix(path, "/api/agent-work-orders/"+param)])
			} else {
				r = h.do(method, url, nil)
			}
			if r.status != http.StatusNotFound {
				t.Errorf("%s %s: %d %s, want 404", method, url, r.status, r.body)
				continue
			}
			if d := r.detail(t); d != "Work order not found" {
				t.Errorf("%s %s: detail %q, want %q", method, url, d, "Work order not found")
			}
		}
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("the refused requests recorded %d events, want none", n)
	}
}
