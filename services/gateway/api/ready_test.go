package api_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/health"
)

// reportOf is a health.Checker that always reports r.
type reportOf health.Report

func (r reportOf) Check(context.Context) health.Report { return health.Report(r) }

type readyBody struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

// /readyz takes its verdict from the nats, jetstream, read_model and (with
// a database) database entries of the report; every other dependency, the
// CLIs among them, does not count. Both routes need no token.
func TestReadyz_FromTheReport(t *testing.T) {
	ready := readyReport()
	withDB := func(status string) health.Report {
		r := ready
		r.Sections = map[string]health.Dependency{health.SectionReadModel: {"caught_up": true},
			health.SectionDatabase: {"status": status, "error": "database unreachable (DATABASE_URL): refused"}}
		return r
	}
	natsDown := ready
	natsDown.Dependencies = map[string]health.Dependency{"nats": {"connected": false, "status": "RECONNECTING"}, "jetstream": {"available": false, "error": "JetStream not reachable: timeout"}}
	behind := ready
	behind.Sections = map[string]health.Dependency{health.SectionReadModel: {"caught_up": false, "applied_seq": 2, "stream_seq": 40}}

	tests := []struct {
		name   string
		report health.Report
		code   int
		failed map[string]string // check → error
	}{
		{"Ready", ready, 200, map[string]string{}},
		{"NATSDown", natsDown, 503, map[string]string{"nats": "not connected", "jetstream": "JetStream not reachable: timeout"}},
		{"ReadModelBehind", behind, 503, map[string]string{"read_model": "catching up with the event stream: applied 2 of 40"}},
		{"DatabaseHealthy", withDB("healthy"), 200, map[string]string{}},
		{"DatabaseDown", withDB("unhealthy"), 503, map[string]string{"database": "database unreachable (DATABASE_URL): refused"}},
		{"NothingProbed", health.Report{}, 503, map[string]string{"nats": "not probed", "jetstream": "not probed", "read_model": "not probed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(o *api.Options) {
				o.Ready = reportOf(tc.report)
				o.APITokens = []string{"a-token-of-at-least-sixteen-characters"}
			})
			resp := h.get("/readyz")
			if resp.status != tc.code {
				t.Fatalf("/readyz = %d %s, want %d", resp.status, resp.body, tc.code)
			}
			var body readyBody
			resp.json(t, &body)
			failed := map[string]string{}
			for name, c := range body.Checks {
				if !c.OK {
					failed[name] = c.Error
				}
			}
			if !reflect.DeepEqual(failed, tc.failed) {
				t.Errorf("failing checks %v, want %v (body %s)", failed, tc.failed, resp.body)
			}
			if want := map[int]string{200: "ready", 503: "not ready"}[tc.code]; body.Status != want {
				t.Errorf("status %q, want %q", body.Status, want)
			}
			if r := h.get("/healthz"); r.status != 200 || string(r.body) != "{\"status\":\"alive\"}\n" {
				t.Errorf("/healthz = %d %s", r.status, r.body)
			}
		})
	}
}

func readyReport() health.Report {
	return health.Report{
		Dependencies: map[string]health.Dependency{
			"nats":       {"connected": true},
			"jetstream":  {"available": true},
			"claude_cli": {"available": false, "error": "not found"},
		},
		Sections: map[string]health.Dependency{health.SectionReadModel: {"caught_up": true, "applied_seq": 3, "stream_seq": 3}},
	}
}

// Without a Ready checker /readyz judges from Health's report; with
// neither it cannot vouch for anything.
func TestReadyz_FallsBackToHealth(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.Health = reportOf(readyReport()) })
	if r := h.get("/readyz"); r.status != 200 {
		t.Errorf("with a ready health report: %d %s", r.status, r.body)
	}
	h = newHarness(t)
	if r := h.get("/readyz"); r.status != 503 {
		t.Errorf("with no checker: %d %s", r.status, r.body)
	}
}
