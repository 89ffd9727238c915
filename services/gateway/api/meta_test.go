package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/health"
)

func fakeProbe(name string, critical, ok bool, fields map[string]any) health.Probe {
	return health.Probe{Name: name, Critical: critical, Check: func(context.Context) health.Result {
		return health.Result{OK: ok, Fields: fields}
	}}
}

func TestHealth_Shape(t *testing.T) {
	probes := []health.Probe{
		fakeProbe("claude_cli", true, true, map[string]any{"version": "2.1.328 (Claude Code)"}),
		fakeProbe("git", true, true, map[string]any{"version": "git version 2.39.5"}),
		fakeProbe("github_cli", false, true, map[string]any{"authenticated": false}),
		{Name: "nats", OKKey: "connected", Critical: true, Check: func(context.Context) health.Result {
			return health.Result{OK: true, Fields: map[string]any{"url": "nats://127.0.0.1:4222"}}
		}},
		fakeProbe("jetstream", true, true, map[string]any{"streams": map[string]any{"WORKORDERS_EVENTS": map[string]any{"messages": 3}}}),
	}
	h := newHarness(t, func(o *api.Options) { o.Health = health.NewMonitor(probes, health.Options{}) })
	r := h.get("/health")
	if r.status != http.StatusOK {
		t.Fatalf("GET /health: %d %s", r.status, r.body)
	}
	var body struct {
		Status       string                    `json:"status"`
		Service      string                    `json:"service"`
		Version      string                    `json:"version"`
		StorageType  string                    `json:"storage_type"`
		CheckedAt    time.Time                 `json:"checked_at"`
		Dependencies map[string]map[string]any `json:"dependencies"`
	}
	r.json(t, &body)
	if body.Status != "healthy" || body.Service != "agent-work-orders" || body.Version != "1.2.3-test" ||
		body.StorageType != "memory" || body.CheckedAt.IsZero() {
		t.Errorf("health = %s", r.body)
	}
	deps := body.Dependencies
	if deps["claude_cli"]["available"] != true || deps["claude_cli"]["version"] != "2.1.328 (Claude Code)" {
		t.Errorf("claude_cli = %v", deps["claude_cli"])
	}
	if deps["git"]["available"] != true || deps["github_cli"]["available"] != true || deps["github_cli"]["authenticated"] != false {
		t.Errorf("git = %v, github_cli = %v", deps["git"], deps["github_cli"])
	}
	if deps["nats"]["connected"] != true || deps["jetstream"]["available"] != true || deps["jetstream"]["streams"] == nil {
		t.Errorf("nats = %v, jetstream = %v", deps["nats"], deps["jetstream"])
	}
	if _, ok := deps["archon_server"]; ok {
		t.Error("archon_server reported though not configured")
	}
}

// The database and the projection's progress sit beside the status, as
// the Python service's database; without those probes the keys are absent.
func TestHealth_DatabaseAndReadModelSections(t *testing.T) {
	probes := []health.Probe{
		fakeProbe("git", true, true, nil),
		{Name: health.SectionDatabase, OKKey: "-", Critical: true, TopLevel: true, Check: func(context.Context) health.Result {
			return health.Result{Fields: map[string]any{"status": "unhealthy", "tables_exist": false, "error": "connection refused"}}
		}},
		{Name: health.SectionReadModel, OKKey: "caught_up", TopLevel: true, Check: func(context.Context) health.Result {
			return health.Result{OK: true, Fields: map[string]any{"applied_seq": 7, "stream_seq": 9, "lag": 2}}
		}},
	}
	h := newHarness(t, func(o *api.Options) {
		o.Health = health.NewMonitor(probes, health.Options{})
		o.StorageType = "postgres"
	})
	var body map[string]any
	h.get("/health").json(t, &body)
	want := map[string]any{"status": "unhealthy", "tables_exist": false, "error": "connection refused"}
	if !reflect.DeepEqual(body["database"], want) {
		t.Errorf("database = %v, want %v", body["database"], want)
	}
	if rm, _ := body["read_model"].(map[string]any); rm["lag"] != 2.0 || rm["stream_seq"] != 9.0 || rm["applied_seq"] != 7.0 || rm["caught_up"] != true {
		t.Errorf("read_model = %v", body["read_model"])
	}
	if body["status"] != "degraded" || body["storage_type"] != "postgres" {
		t.Errorf("status %v, storage_type %v; want degraded, postgres", body["status"], body["storage_type"])
	}
	deps, _ := body["dependencies"].(map[string]any)
	if _, ok := deps["database"]; ok || len(deps) != 1 {
		t.Errorf("dependencies = %v, want only git", deps)
	}

	plain := newHarness(t, func(o *api.Options) {
		o.Health = health.NewMonitor([]health.Probe{fakeProbe("git", true, true, nil)}, health.Options{})
	})
	body = nil
	plain.get("/health").json(t, &body)
	for _, key := range []string{"database", "read_model"} {
		if _, ok := body[key]; ok {
			t.Errorf("%s present without its probe: %v", key, body[key])
		}
	}
}

func TestHealth_DegradedStill200(t *testing.T) {
	probes := []health.Probe{
		fakeProbe("claude_cli", true, false, map[string]any{"error": "claude not found (set CLAUDE_CLI_PATH)"}),
		fakeProbe("git", true, true, nil),
	}
	h := newHarness(t, func(o *api.Options) { o.Health = health.NewMonitor(probes, health.Options{}) })
	r := h.get("/health/")
	var body map[string]any
	r.json(t, &body)
	if r.status != http.StatusOK || body["status"] != "degraded" {
		t.Errorf("GET /health with claude missing: %d %s, want 200 degraded", r.status, r.body)
	}
}

func TestRoot(t *testing.T) {
	h := newHarness(t)
	var info struct {
		Service   string   `json:"service"`
		Version   string   `json:"version"`
		Docs      string   `json:"docs"`
		Health    string   `json:"health"`
		API       string   `json:"api"`
		Endpoints []string `json:"endpoints"`
	}
	h.get("/").json(t, &info)
	if info.Service != "agent-work-orders" || info.Version != "1.2.3-test" || info.Docs != "/docs" ||
		info.Health != "/health" || info.API != "/api/agent-work-orders" {
		t.Errorf("service info = %+v", info)
	}
	for _, want := range []string{"POST /api/agent-work-orders", "GET /api/agent-work-orders/{agent_work_order_id}/steps", "GET /health"} {
		if !slices.Contains(info.Endpoints, want) {
			t.Errorf("endpoints %v lack %q", info.Endpoints, want)
		}
	}
}

func TestDocs_SelfContained(t *testing.T) {
	h := newHarness(t)
	r := h.get("/docs")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %s", r.status, r.header.Get("Content-Type"))
	}
	page := string(r.body)
	if !strings.Contains(page, `fetch("/openapi.json")`) {
		t.Error("the page does not load /openapi.json")
	}
	// Offline machines: nothing may come from another host.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the page loads from another host: %s", m)
	}
	if strings.Contains(page, "@import") {
		t.Error("the page imports a stylesheet")
	}
}

func TestOpenAPI_Served(t *testing.T) {
	h := newHarness(t)
	r := h.get("/openapi.json")
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Paths map[string]any `json:"paths"`
	}
	r.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Info.Version != "1.2.3-test" || len(doc.Paths) == 0 {
		t.Errorf("spec: openapi %q, version %q, %d paths", doc.OpenAPI, doc.Info.Version, len(doc.Paths))
	}
	if !json.Valid(r.body) {
		t.Error("spec is not valid JSON")
	}
}
