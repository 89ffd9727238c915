package api_test

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/services/gateway/api"
)

// recordingObserver is a hand-written api.HTTPObserver.
type recordingObserver struct {
	mu   sync.Mutex
	seen []string // "METHOD route code"
}

func (o *recordingObserver) ObserveHTTP(route, method string, code int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, method+" "+route+" "+http.StatusText(code))
}

func (o *recordingObserver) observed() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := append([]string(nil), o.seen...)
	sort.Strings(out)
	return out
}

// The duration metric is labelled with the route pattern, so work-order ids
// never become label values, and with the status code the client saw.
func TestMetricsMiddleware_LabelsByRoutePatternAndCode(t *testing.T) {
	obs := &recordingObserver{}
	h := newHarness(t, func(o *api.Options) { o.Metrics = obs })
	id := h.create(nil)
	h.get("/api/agent-work-orders/" + string(id))
	h.get("/api/agent-work-orders/wo-00000000/steps")
	h.get("/no/such/path/wo-12345678")
	h.do(http.MethodDelete, "/health", nil)

	want := []string{
		"DELETE unmatched Method Not Allowed", // chi records no pattern for a 405
		"GET /api/agent-work-orders/{agent_work_order_id} OK",
		"GET /api/agent-work-orders/{agent_work_order_id}/steps Not Found",
		"GET unmatched Not Found",
		"POST /api/agent-work-orders Created",
	}
	got := obs.observed()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("observed:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestMetricsRoute_ServesTheHandlerOr404(t *testing.T) {
	h := newHarness(t, func(o *api.Options) {
		o.MetricsHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write([]byte("awo_up 1\n"))
		})
	})
	if r := h.get("/metrics"); r.status != http.StatusOK || string(r.body) != "awo_up 1\n" {
		t.Errorf("GET /metrics = %d %q", r.status, r.body)
	}
	off := newHarness(t)
	if r := off.get("/metrics"); r.status != http.StatusNotFound || !strings.Contains(r.detail(t), "not enabled") {
		t.Errorf("GET /metrics without a handler = %d %q", r.status, r.body)
	}
}
