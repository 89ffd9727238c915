package api_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

const workOrders = "/api/agent-work-orders/"

const demoBody = `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix authentication bug"}`

func (h *harness) postKey(key, body string) response {
	h.t.Helper()
	return h.do(http.MethodPost, workOrders, strings.NewReader(body), "Content-Type", "application/json", "Idempotency-Key", key)
}

func createdID(t *testing.T, r response) workorder.ID {
	t.Helper()
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c struct {
		ID workorder.ID `json:"agent_work_order_id"`
	}
	r.json(t, &c)
	return c.ID
}

// The same key with the same request answers like the first time, with
// the same work order, and records nothing new.
func TestIdempotencyKey_ReplayReturnsTheSameWorkOrder(t *testing.T) {
	h := newHarness(t)
	first := h.postKey("retry-me-1", demoBody)
	id := createdID(t, first)
	if v := first.header.Get("Idempotent-Replayed"); v != "" {
		t.Errorf("first answer has Idempotent-Replayed: %q", v)
	}
	events := h.eventCount()

	// The same request, spelled differently, is the same request.
	again := h.postKey("retry-me-1", `{"user_request": "  Fix authentication bug ", "repository_url": "https://github.com/acme/demo", "sandbox_type": "git_worktree"}`)
	if again.status != http.StatusCreated || !bytes.Equal(again.body, first.body) {
		t.Fatalf("replay: %d %s, want 201 %s", again.status, again.body, first.body)
	}
	if v := again.header.Get("Idempotent-Replayed"); v != "true" {
		t.Errorf("replay: Idempotent-Replayed = %q, want true", v)
	}
	if n := h.eventCount(); n != events {
		t.Errorf("the replay recorded %d more events", n-events)
	}
	// Another key is another work order.
	if other := createdID(t, h.postKey("retry-me-2", demoBody)); other == id {
		t.Errorf("another key returned the same work order %s", id)
	}
	if g := h.get(workOrders + string(id)); g.status != http.StatusOK {
		t.Errorf("GET %s: %d %s", id, g.status, g.body)
	}
}

// A key reused for another request is refused and creates nothing.
func TestIdempotencyKey_DifferentRequestIsRefused(t *testing.T) {
	h := newHarness(t)
	createdID(t, h.postKey("k-1", demoBody))
	events := h.eventCount()
	r := h.postKey("k-1", `{"repository_url": "https://github.com/acme/demo", "user_request": "Something else"}`)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d %s, want 422", r.status, r.body)
	}
	if d := r.detail(t); !strings.Contains(d, "Idempotency-Key") || !strings.Contains(d, "different request") {
		t.Errorf("detail = %q", d)
	}
	if n := h.eventCount(); n != events {
		t.Errorf("the refused request recorded %d events", n-events)
	}
}

func TestIdempotencyKey_BadHeaderIs422(t *testing.T) {
	h := newHarness(t)
	for name, key := range map[string]string{
		"Empty":    "",
		"TooLong":  strings.Repeat("k", 256),
		"NonASCII": "clé",
	} {
		r := h.postKey(key, demoBody)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d %s, want 422", name, r.status, r.body)
			continue
		}
		if d := r.detail(t); !strings.HasPrefix(d, "Idempotency-Key: ") {
			t.Errorf("%s: detail = %q, want it to name the header", name, d)
		}
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("%d events recorded", n)
	}
}

// Concurrent creates with one key, as a client retrying over several
// gateway replicas would send them: one work order, every answer names it.
func TestIdempotencyKey_ConcurrentCreatesMakeOneWorkOrder(t *testing.T) {
	h := newHarness(t)
	// A second API on the same bus and bucket: another replica.
	h2 := httptest.NewServer(api.New(api.Options{Publisher: h.bus, Store: h.store, Logger: quiet,
		Idempotency: openKeys(t, h)}))
	t.Cleanup(h2.Close)

	const n = 12
	ids := make([]workorder.ID, n)
	var wg sync.WaitGroup
	for i := range n {
		url := h.srv.URL
		if i%2 == 1 {
			url = h2.URL
		}
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, url+workOrders, strings.NewReader(demoBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "one-order-please")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("create %d: %d %s", i, resp.StatusCode, buf.Bytes())
				return
			}
			ids[i] = createdID(t, response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()})
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("answer %d names %s, answer 0 %s", i, id, ids[0])
		}
	}
	if n := h.eventCount(); n != 1 {
		t.Errorf("%d events recorded, want one workorder.requested", n)
	}
	var list []readmodel.WorkOrder
	h.get(workOrders).json(t, &list)
	if len(list) != 1 || list[0].AgentWorkOrderID != ids[0] {
		var got []workorder.ID
		for _, wo := range list {
			got = append(got, wo.AgentWorkOrderID)
		}
		t.Errorf("work orders %v, want just %s", got, ids[0])
	}
}

// flakyPublisher loses the first publishes, as a gateway that died between
// claiming the key and publishing would.
type flakyPublisher struct {
	*bus.Bus
	failures atomic.Int32
}

func (f *flakyPublisher) PublishEvent(ctx context.Context, e events.Event, guard *uint64) (uint64, error) {
	if f.failures.Add(-1) >= 0 {
		return 0, errors.New("connection lost")
	}
	return f.Bus.PublishEvent(ctx, e, guard)
}

// The key was claimed but the work order never recorded: the client's
// retry with the key records it, under the id the key was claimed for.
func TestIdempotencyKey_RetryAfterALostPublishCreatesTheWorkOrder(t *testing.T) {
	flaky := &flakyPublisher{}
	h := newHarness(t, func(o *api.Options) { o.Publisher = flaky })
	flaky.Bus = h.bus
	flaky.failures.Store(1)

	lost := h.postKey("k-lost", demoBody)
	if lost.status != http.StatusServiceUnavailable {
		t.Fatalf("first create: %d %s, want 503", lost.status, lost.body)
	}
	if n := h.eventCount(); n != 0 {
		t.Fatalf("%d events after the lost publish", n)
	}
	retry := h.postKey("k-lost", demoBody)
	id := createdID(t, retry)
	if retry.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retry is not marked as a replay")
	}
	if g := h.get(workOrders + string(id)); g.status != http.StatusOK {
		t.Fatalf("GET after the retry: %d %s", g.status, g.body)
	}
	if again := createdID(t, h.postKey("k-lost", demoBody)); again != id {
		t.Errorf("a third try names %s, want %s", again, id)
	}
	if n := h.eventCount(); n != 1 {
		t.Errorf("%d events, want one workorder.requested", n)
	}
}

// A client's own id that is taken is a conflict, and the key is not used
// up by it: the client may retry with the key and another id.
func TestIdempotencyKey_TakenClientIDIsAConflictAndFreesTheKey(t *testing.T) {
	h := newHarness(t)
	h.create(map[string]any{"agent_work_order_id": "wo-0000c0de"})
	taken := `{"agent_work_order_id": "wo-0000c0de", "repository_url": "https://github.com/acme/demo", "user_request": "Mine"}`
	if r := h.postKey("k-taken", taken); r.status != http.StatusConflict {
		t.Fatalf("status %d %s, want 409", r.status, r.body)
	}
	// Retried as is: still the same conflict, not someone else's work order.
	if r := h.postKey("k-taken", taken); r.status != http.StatusConflict {
		t.Fatalf("retry: status %d %s, want 409", r.status, r.body)
	}
	free := `{"agent_work_order_id": "wo-0000f4ee", "repository_url": "https://github.com/acme/demo", "user_request": "Mine"}`
	if id := createdID(t, h.postKey("k-taken", free)); id != "wo-0000f4ee" {
		t.Errorf("created %s, want wo-0000f4ee", id)
	}
}

// A gateway without the store says so rather than ignoring the header.
func TestIdempotencyKey_WithoutAStoreIs501(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(api.New(api.Options{Publisher: h.bus, Store: h.store, Logger: quiet}))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+workOrders, strings.NewReader(demoBody))
	req.Header.Set("Idempotency-Key", "k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("status %d, want 501", resp.StatusCode)
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("%d events recorded", n)
	}
}

// openKeys opens the harness's idempotency bucket once more, as another
// gateway replica does.
func openKeys(t *testing.T, h *harness) *idempotency.Store {
	t.Helper()
	keys, err := idempotency.Open(context.Background(), h.env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// With the client's own id, a replay finds the work order the key made and
// answers with it, rather than calling the id taken.
func TestIdempotencyKey_ReplayWithTheClientsID(t *testing.T) {
	h := newHarness(t)
	body := `{"agent_work_order_id": "wo-0000a11d", "repository_url": "https://github.com/acme/demo", "user_request": "Mine"}`
	first := h.postKey("k-own", body)
	if id := createdID(t, first); id != "wo-0000a11d" {
		t.Fatalf("created %s", id)
	}
	again := h.postKey("k-own", body)
	if again.status != http.StatusCreated || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s %v", again.status, again.body, again.header)
	}
	if n := h.eventCount(); n != 1 {
		t.Errorf("%d events, want one", n)
	}
}
