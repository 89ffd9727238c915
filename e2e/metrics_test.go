package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// After one work order, the all-in-one's /metrics carries every awo series
// with the labels operators query by, and /health lists the four services
// registered as NATS micro services.
func TestMetrics_AllInOne_SeriesAfterAWorkOrder(t *testing.T) {
	const branch = "feat/metrics"
	w := newWorld(t, createBranch(branch), fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("printf 'hi\\n' > hi.txt && git add -A && git commit -m 'feat: say hi' && git push -u origin "+branch, "commit"),
		fm.Text("feat: say hi"),
	}})
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Say hi",
		"selected_commands": []string{"create-branch", "commit", "create-pr"}})
	if wo := s.waitFinished(id, 2*time.Minute); wo.Status != "completed" {
		t.Fatalf("work order %+v, error %q", wo, deref(wo.ErrorMessage))
	}
	s.get(id) // one request with an id in the path

	code, body := s.do("GET", "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	text := string(body)
	for _, want := range []string{
		`awo_work_orders{status="completed"} 1`,
		`awo_step_duration_seconds_count{outcome="success",step="create-branch"} 1`,
		`awo_step_duration_seconds_count{outcome="success",step="commit"} 1`,
		`awo_step_duration_seconds_count{outcome="success",step="create-pr"} 1`,
		`awo_agent_cost_usd_total{step="commit"}`,
		`awo_agent_tokens_total{kind="input",step="create-branch"}`,
		`awo_agent_tokens_total{kind="output",step="commit"}`,
		`awo_messages_handled_total{consumer="orchestrator",outcome="acked"}`,
		`awo_messages_handled_total{consumer="executor",outcome="acked"} 2`,
		`awo_messages_handled_total{consumer="github",outcome="acked"} 1`,
		`awo_messages_redelivered_total{consumer="executor"} 0`,
		`awo_messages_dead_lettered_total{consumer="orchestrator"} 0`,
		`awo_consumer_pending_messages{consumer="executor"} 0`,
		`awo_consumer_ack_pending_messages{consumer="orchestrator"} 0`,
		`awo_consumer_pending_messages{consumer="github"} 0`,
		`awo_http_request_duration_seconds_count{code="201",method="POST",route="/api/agent-work-orders"} 1`,
		`route="/api/agent-work-orders/{agent_work_order_id}"`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, id) {
		t.Errorf("/metrics mentions the work-order id %s: a raw path became a label", id)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepAwo(text))
	}

	code, body = s.do("GET", "/health", nil)
	var health struct {
		Services []struct{ Name, ID, Version string } `json:"services"`
	}
	if err := json.Unmarshal(body, &health); code != http.StatusOK || err != nil {
		t.Fatalf("GET /health: %d %v", code, err)
	}
	var names []string
	for _, svc := range health.Services {
		if svc.ID == "" || svc.Version == "" {
			t.Errorf("service without id or version: %+v", svc)
		}
		names = append(names, svc.Name)
	}
	if strings.Join(names, ",") != "awo-executor,awo-gateway,awo-github,awo-orchestrator" {
		t.Errorf("/health services = %v, want the four awo services", names)
	}
	s.stop()
}

func grepAwo(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "awo_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
