package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
	"github.com/agentworkorders/awo/services/gateway/projector"
)

// harness is the API over real parts: an embedded JetStream, the memory
// store and the real projector.
type harness struct {
	t     *testing.T
	env   *natstest.Env
	bus   *bus.Bus
	store readmodel.Store
	proj  *projector.Projector
	srv   *httptest.Server
}

var quiet = slog.New(slog.DiscardHandler)

func newHarness(t *testing.T, configure ...func(*api.Options)) *harness {
	t.Helper()
	return newHarnessOn(t, natstest.Start(t), configure...)
}

// newHarnessOn is newHarness on a JetStream of the caller's, so that
// several gateways can share one.
func newHarnessOn(t *testing.T, env *natstest.Env, configure ...func(*api.Options)) *harness {
	t.Helper()
	h := &harness{t: t, env: env, bus: env.Bus("awo/gateway"), store: readmodel.NewMemory()}
	o := api.Options{Publisher: h.bus, Logger: quiet, StorageType: "memory", Version: "1.2.3-test"}
	for _, c := range configure {
		c(&o)
	}
	if o.LogStream == nil {
		o.LogStream = h.bus
	}
	if o.Idempotency == nil {
		keys, err := idempotency.Open(context.Background(), env.JS, bus.Replication{})
		if err != nil {
			t.Fatal(err)
		}
		o.Idempotency = keys
	}
	if o.Store == nil {
		o.Store = h.store
	} else {
		h.store = o.Store
	}
	h.proj = projector.New(env.JS, h.store, quiet)
	if o.Projection == nil {
		o.Projection = h.proj
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.proj.Run(ctx); err != nil {
			t.Errorf("projector: %v", err)
		}
	}()
	h.srv = httptest.NewServer(api.New(o))
	t.Cleanup(func() {
		h.srv.Close()
		cancel()
		<-done
	})
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json (body %s)", ct, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r response) detail(t *testing.T) string {
	t.Helper()
	var body map[string]any
	r.json(t, &body)
	d, ok := body["detail"].(string)
	if !ok || len(body) != 1 {
		t.Fatalf("error body = %s, want exactly {\"detail\": \"...\"}", r.body)
	}
	return d
}

func (h *harness) do(method, path string, body io.Reader, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) get(path string) response {
	h.t.Helper()
	return h.do(http.MethodGet, path, nil)
}

func (h *harness) post(path, body string) response {
	h.t.Helper()
	return h.do(http.MethodPost, path, strings.NewReader(body), "Content-Type", "application/json")
}

// create posts a valid work order and returns its id.
func (h *harness) create(fields map[string]any) workorder.ID {
	h.t.Helper()
	body := map[string]any{"repository_url": "https://github.com/acme/demo", "user_request": "Fix authentication bug"}
	for k, v := range fields {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	r := h.post("/api/agent-work-orders/", string(b))
	if r.status != http.StatusCreated {
		h.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct {
		ID workorder.ID `json:"agent_work_order_id"`
	}
	r.json(h.t, &created)
	return created.ID
}

// publish injects an event as another service would, and waits until the
// projection has it.
func (h *harness) publish(wo workorder.ID, typ string, data any) {
	h.t.Helper()
	e := h.bus.Event(string(wo)+"."+events.ShortName(typ)+"."+time.Now().Format(time.RFC3339Nano), typ, wo, data)
	seq, err := h.bus.PublishEvent(context.Background(), e, nil)
	if err != nil {
		h.t.Fatalf("publishing %s: %v", typ, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.proj.WaitFor(ctx, seq); err != nil {
		h.t.Fatal(err)
	}
}

// eventCount is how many events the stream holds.
func (h *harness) eventCount() uint64 {
	h.t.Helper()
	st, err := h.env.JS.Stream(context.Background(), bus.StreamEvents)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}
