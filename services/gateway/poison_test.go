package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway"
)

// One user_request holding a NUL byte, stored by a client that bypassed
// the API, must not stop the Postgres projection: the gateway keeps
// serving reads (no 503, not even after a restart), and /metrics counts
// the refused event. The admission limit from the
// configuration applies too.
func TestRun_Postgres_PoisonEventDoesNotStopReads(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	cfg := testConfig(t)
	cfg.StorageType, cfg.DatabaseURL = config.StoragePostgres, db.URL
	cfg.MaxActiveWorkOrders = 1
	store, closeStore, err := gateway.OpenStore(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()

	b := env.Bus("mallory")
	const bad = workorder.ID("wo-0000dead")
	e := b.Event("poison", events.TypeRequested, bad, &events.Requested{
		WorkOrderID: bad, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "\u0000", SelectedCommands: workorder.DefaultSteps,
	})
	if _, err := b.PublishEvent(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}

	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: store, Logger: quiet, Metrics: metrics.New()})
	post := func() *http.Response {
		resp, err := http.Post(g.base+"/api/agent-work-orders/", "application/json",
			strings.NewReader(`{"repository_url": "https://github.com/acme/demo", "user_request": "Fix authentication bug"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST after a poison event: %d", resp.StatusCode)
	}
	if status := get(t, g.base+"/api/agent-work-orders/", nil); status != http.StatusOK {
		t.Fatalf("GET list after a poison event: %d", status)
	}
	if resp := post(); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST over AWO_MAX_ACTIVE_WORK_ORDERS=1: %d, Retry-After %q; want 429 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "awo_projection_rejected_total 1") {
		t.Errorf("/metrics lacks awo_projection_rejected_total 1:\n%.3000s", body)
	}
}
