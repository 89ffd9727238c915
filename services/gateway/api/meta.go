package api

import (
	_ "embed"
	"net/http"
	"time"

	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/services/gateway/health"
)

// serviceName is the Python service's name for the service.
const serviceName = "agent-work-orders"

// serviceInfo answers GET /, the Python service's fields plus the endpoint list.
type serviceInfo struct {
	Service     string   `json:"service"`
	Version     string   `json:"version"`
	Description string   `json:"description"`
	Docs        string   `json:"docs"`
	OpenAPI     string   `json:"openapi"`
	Health      string   `json:"health"`
	API         string   `json:"api"`
	Endpoints   []string `json:"endpoints"`
}

func (s *server) root(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, serviceInfo{
		Service:     serviceName,
		Version:     s.Version,
		Description: "Agent work orders: turns a request into a pull request by running Claude Code through workflow steps",
		Docs:        "/docs",
		OpenAPI:     "/openapi.json",
		Health:      "/health",
		API:         "/api/agent-work-orders",
		Endpoints:   s.endpoints,
	})
	return nil
}

// healthResponse is the Python service's /health body (database only with the
// Postgres store, as the Python service's Supabase one) plus the projection's
// progress and the time of the (possibly cached) check.
type healthResponse struct {
	Status       string                       `json:"status"`
	Service      string                       `json:"service"`
	Version      string                       `json:"version"`
	Dependencies map[string]health.Dependency `json:"dependencies"`
	StorageType  string                       `json:"storage_type"`
	Database     health.Dependency            `json:"database,omitempty"`
	ReadModel    health.Dependency            `json:"read_model,omitempty"`
	Services     []discovery.Instance         `json:"services"`
	// Spend is today's spend of all work orders and its caps.
	Spend     spendHealth `json:"spend"`
	CheckedAt time.Time   `json:"checked_at"`
}

func (s *server) health(w http.ResponseWriter, r *http.Request) error {
	report := health.Report{Status: health.StatusHealthy, Dependencies: map[string]health.Dependency{}, CheckedAt: time.Now().UTC()}
	if s.Health != nil {
		report = s.Health.Check(r.Context())
	}
	// 200 even when degraded, as the Python service: the body says what is wrong, and
	// the service still answers reads.
	writeJSON(w, http.StatusOK, healthResponse{
		Status:       report.Status,
		Service:      serviceName,
		Version:      s.Version,
		Dependencies: report.Dependencies,
		StorageType:  s.StorageType,
		Database:     report.Sections[health.SectionDatabase],
		ReadModel:    report.Sections[health.SectionReadModel],
		Services:     health.ServicesIn(report),
		Spend:        s.spendReport(r.Context()),
		CheckedAt:    report.CheckedAt,
	})
	return nil
}

// metrics serves the process's Prometheus registry.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.MetricsHandler == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "metrics are not enabled"})
		return
	}
	if !s.metricsTokens.empty() {
		if _, ok := s.checkBearer(w, r, s.metricsTokens, "AWO_METRICS_TOKEN or AWO_API_TOKENS"); !ok {
			return
		}
	}
	s.MetricsHandler.ServeHTTP(w, r)
}

func (s *server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.spec)
}

//go:embed docs.html
var docsPage []byte

// docs serves a self-contained page (no CDN: the service may run offline)
// that renders /openapi.json.
func docs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(docsPage)
}
