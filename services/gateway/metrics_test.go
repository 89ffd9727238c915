package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway"
)

// The gateway serves the shared registry on /metrics, with the work orders
// by status and its own requests by route, and /health lists the micro
// services registered on the broker.
func TestRun_MetricsAndRegisteredServices(t *testing.T) {
	env := natstest.Start(t)
	exec, err := discovery.Register(env.NC, discovery.Config{Name: "awo-executor", Version: "1.0.0", Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = exec.Stop() }()
	g := start(t, gateway.Deps{Config: testConfig(t), Bus: env.Bus("awo/gateway"), NC: env.NC,
		Store: readmodel.NewMemory(), Logger: quiet, Metrics: metrics.New()})

	var health struct {
		Services []discovery.Instance `json:"services"`
	}
	if status := get(t, g.base+"/health", &health); status != http.StatusOK {
		t.Fatalf("GET /health: %d", status)
	}
	if len(health.Services) != 1 || health.Services[0] != (discovery.Instance{Name: "awo-executor", ID: exec.Info().ID, Version: "1.0.0"}) {
		t.Errorf("/health services = %+v, want the registered executor", health.Services)
	}

	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`awo_work_orders{status="pending"} 0`,
		`awo_http_request_duration_seconds_count{code="200",method="GET",route="/health"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%.1500s", want, body)
		}
	}
}
