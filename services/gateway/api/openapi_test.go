package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repocheck"
)

type specDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadSpec(t *testing.T) specDoc {
	t.Helper()
	var doc specDoc
	if err := json.Unmarshal(renderSpec("test"), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// Every route the router serves is described, and nothing else is.
func TestOpenAPI_DescribesEveryRoute(t *testing.T) {
	doc := loadSpec(t)
	s := &server{Options: Options{}}
	routes := map[string]bool{}
	err := chi.Walk(s.routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes[strings.ToLower(method)+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) == 0 {
		t.Fatal("the router has no routes")
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			described[method+" "+path] = true
		}
	}
	for r := range routes {
		if !described[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range described {
		if !routes[d] {
			t.Errorf("openapi.json describes %s, which the router does not serve", d)
		}
	}
}

// The schemas list exactly the JSON fields the Go types carry.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
	doc := loadSpec(t)
	tests := map[string]any{
		"AgentWorkOrder":               readmodel.WorkOrder{},
		"StepExecutionResult":          readmodel.StepRecord{},
		"StepHistory":                  stepHistory{},
		"CreateAgentWorkOrderRequest":  createBody{},
		"AgentWorkOrderResponse":       createdResponse{},
		"HealthResponse":               healthResponse{},
		"ServiceInfo":                  serviceInfo{},
		"GitProgressSnapshot":          gitProgress{},
		"LogsPage":                     logsPage{},
		"LogEntry":                     logentry.Entry{},
		"ReasonRequest":                reasonBody{},
		"RetryRequest":                 retryBody{},
		"ConfiguredRepository":         readmodel.ConfiguredRepository{},
		"CreateRepositoryRequest":      createRepositoryBody{},
		"UpdateRepositoryRequest":      updateRepositoryBody{},
		"RepositoryVerified":           repositoryVerified{},
		"VerifyRepositoryRequest":      verifyRepositoryBody{},
		"GitHubRepositoryVerification": repocheck.Result{},
		"PromptRequest":                promptBody{},
	}
	for name, v := range tests {
		schema, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		var inSpec []string
		for p := range schema.Properties {
			inSpec = append(inSpec, p)
		}
		sort.Strings(inSpec)
		inGo := jsonFields(v)
		sort.Strings(inGo)
		if !slices.Equal(inSpec, inGo) {
			t.Errorf("schema %s has %v, Go type %s has %v", name, inSpec, reflect.TypeOf(v).Name(), inGo)
		}
	}
}

func TestRenderSpec_StampsVersion(t *testing.T) {
	var doc struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
	}
	if err := json.Unmarshal(renderSpec(`1.0 "quoted"`), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Version != `1.0 "quoted"` {
		t.Errorf("version = %q", doc.Info.Version)
	}
}

// Every /api/ operation and /metrics declare the bearer scheme and the
// 401 it answers without a token.
func TestOpenAPI_DeclaresBearerAuth(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Security  []map[string][]string      `json:"security"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(renderSpec("test"), &doc); err != nil {
		t.Fatal(err)
	}
	if s := doc.Components.SecuritySchemes["bearerAuth"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Fatalf("securitySchemes.bearerAuth = %+v", s)
	}
	s := &server{Options: Options{}}
	err := chi.Walk(s.routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		op := doc.Paths[route][strings.ToLower(method)]
		secured := strings.HasPrefix(route, "/api/") || route == "/metrics"
		declares := len(op.Security) > 0 && op.Security[0]["bearerAuth"] != nil
		if secured != declares {
			t.Errorf("%s %s: bearerAuth declared %v, want %v", method, route, declares, secured)
		}
		if _, has401 := op.Responses["401"]; secured && !has401 {
			t.Errorf("%s %s: no 401 response", method, route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The CloudEvent schema lists exactly the members the event feed writes
// for an event carrying every optional attribute.
func TestOpenAPI_CloudEventMatchesTheFeed(t *testing.T) {
	doc := loadSpec(t)
	schema, ok := doc.Components.Schemas["CloudEvent"]
	if !ok {
		t.Fatal("schema CloudEvent missing")
	}
	e := events.New("wo-1a2b3c4d.started", events.TypeStarted, "awo/orchestrator", "wo-1a2b3c4d", time.Now(), &events.Started{})
	e.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	b, err := events.EncodeJSON(e)
	if err != nil {
		t.Fatal(err)
	}
	var written map[string]json.RawMessage
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatal(err)
	}
	inSpec := slices.Sorted(maps.Keys(schema.Properties))
	inFeed := slices.Sorted(maps.Keys(written))
	if !slices.Equal(inSpec, inFeed) {
		t.Errorf("schema CloudEvent has %v, the feed writes %v", inSpec, inFeed)
	}
}
