package gateway_test

import (
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway"
)

type readyz struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

// The gateway's real readiness probes on an embedded NATS: ready once
// connected and caught up (with a token required, /readyz and /healthz
// still need none); not ready, naming NATS, once the server is gone, while
// /healthz still answers.
func TestReadyz_FollowsNATS(t *testing.T) {
	env := natstest.Start(t)
	nc, js := env.Client(t, "awo-gateway")
	cfg := testConfig(t)
	cfg.APITokens = []string{"a-token-of-at-least-sixteen-characters"}
	g := start(t, gateway.Deps{Config: cfg, Bus: bus.New(js, "awo/gateway"), NC: nc, Store: readmodel.NewMemory(), Logger: quiet})

	var body readyz
	waitFor(t, func() bool { return get(t, g.base+"/readyz", &body) == 200 }, "/readyz to answer 200: %+v", &body)
	if body.Status != "ready" || !body.Checks["nats"].OK || !body.Checks["jetstream"].OK || !body.Checks["read_model"].OK {
		t.Errorf("ready body: %+v", body)
	}
	if _, ok := body.Checks["claude_cli"]; ok {
		t.Errorf("readiness runs the CLI probes: %+v", body)
	}

	env.Server.Shutdown()
	start := time.Now()
	waitFor(t, func() bool { body = readyz{}; return get(t, g.base+"/readyz", &body) == 503 }, "/readyz to answer 503 after NATS shut down: %+v", &body)
	t.Logf("not ready %s after the NATS server shut down", time.Since(start).Round(time.Millisecond))
	if body.Status != "not ready" || body.Checks["nats"].OK || body.Checks["nats"].Error == "" {
		t.Errorf("not-ready body: %+v", body)
	}
	var alive map[string]string
	if code := get(t, g.base+"/healthz", &alive); code != 200 || alive["status"] != "alive" {
		t.Errorf("/healthz with NATS down = %d %v", code, alive)
	}
}

func waitFor(t *testing.T, cond func() bool, format string, arg any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for "+format, arg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
