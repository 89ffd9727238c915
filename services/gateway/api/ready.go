package api

import (
	"fmt"
	"net/http"

	"github.com/agentworkorders/awo/services/gateway/health"
)

// Readiness statuses of GET /readyz, as the workers' (package app).
const (
	statusReady    = "ready"
	statusNotReady = "not ready"
)

// readyCheck is one condition in a /readyz answer.
type readyCheck struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// readyResponse is the /readyz body: the workers' shape.
type readyResponse struct {
	Status string                `json:"status"`
	Checks map[string]readyCheck `json:"checks"`
}

// healthz answers 200 for as long as the process serves HTTP: a liveness
// probe that restarts the gateway only when it has stopped answering,
// never because NATS or the database is down (a restart fixes neither).
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// readyz answers 200 when this replica can take traffic: NATS connected,
// JetStream answering with the streams in place, the read model caught up
// with the backlog it started with and, with the Postgres store, the
// database reachable with its tables; else 503 saying which is not.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	checker := s.Ready
	if checker == nil {
		checker = s.Health
	}
	if checker == nil {
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Status: statusNotReady,
			Checks: map[string]readyCheck{"health": {Error: "no health checks configured"}}})
		return
	}
	resp := readiness(checker.Check(r.Context()))
	code := http.StatusOK
	if resp.Status != statusReady {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, resp)
}

// readiness picks what readiness needs out of a health report; a probe
// missing from the report fails (a checker that does not probe NATS cannot
// vouch for it).
func readiness(report health.Report) readyResponse {
	checks := map[string]readyCheck{
		"nats":                  fromDependency(report.Dependencies["nats"], "connected", "not connected"),
		"jetstream":             fromDependency(report.Dependencies["jetstream"], "available", "not available"),
		health.SectionReadModel: readModelCheck(report.Sections[health.SectionReadModel]),
	}
	if db, ok := report.Sections[health.SectionDatabase]; ok {
		checks[health.SectionDatabase] = fromDependency(db, "status", "unhealthy")
	}
	resp := readyResponse{Status: statusReady, Checks: checks}
	for _, c := range checks {
		if !c.OK {
			resp.Status = statusNotReady
		}
	}
	return resp
}

// fromDependency reads a probe's verdict under okKey (true, or "healthy"
// for the database's status).
func fromDependency(d health.Dependency, okKey, otherwise string) readyCheck {
	if d == nil {
		return readyCheck{Error: "not probed"}
	}
	if v := d[okKey]; v == true || v == health.StatusHealthy {
		return readyCheck{OK: true}
	}
	if msg, ok := d["error"].(string); ok && msg != "" {
		return readyCheck{Error: msg}
	}
	return readyCheck{Error: otherwise}
}

func readModelCheck(d health.Dependency) readyCheck {
	if d == nil {
		return readyCheck{Error: "not probed"}
	}
	if d["caught_up"] == true {
		return readyCheck{OK: true}
	}
	if msg, ok := d["error"].(string); ok && msg != "" {
		return readyCheck{Error: "catching up: " + msg}
	}
	return readyCheck{Error: fmt.Sprintf("catching up with the event stream: applied %v of %v", d["applied_seq"], d["stream_seq"])}
}
