package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/proctest"
)

// The all-in-one as its image runs it: `awo -healthcheck` (the gateway's
// /readyz) exits 0 once it serves, 1 naming NATS when its (external)
// server is gone, 1 when the process is dead; with AWO_METRICS_LISTEN its
// worker services answer /readyz there, each one's connection and
// consumer checked.
func TestHealthcheck_Process(t *testing.T) {
	claude := os.Getenv("AWO_TEST_CLAUDE")
	if claude == "" {
		t.Skip("AWO_TEST_CLAUDE is not set (make tools; make test sets it)")
	}
	bin := proctest.Build(t, ".", "awo")
	nats := natstest.StartListening(t, "test")
	_, port, _ := net.SplitHostPort(proctest.FreeAddr(t))
	workers := proctest.FreeAddr(t)
	env := proctest.Env("NATS_URL="+nats.Server.ClientURL(), "AGENT_WORK_ORDERS_PORT="+port, "AWO_METRICS_LISTEN="+workers,
		"AWO_DATA_DIR="+t.TempDir(), "AGENT_WORK_ORDER_TEMP_DIR="+t.TempDir(), "CLAUDE_CLI_PATH="+claude, "IS_SANDBOX=1",
		"LOG_LEVEL=warn")
	proc := proctest.Start(t, bin, env)

	proctest.RunUntil(t, 30*time.Second, 0, bin, env, "-healthcheck")
	var report app.ReadyReport
	deadline := time.Now().Add(30 * time.Second)
	for {
		report = app.ReadyReport{}
		resp, err := http.Get("http://" + workers + "/readyz")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&report)
			resp.Body.Close()
		}
		if report.Status == app.StatusReady || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, check := range []string{"orchestrator.nats", "orchestrator.consumer", "executor.nats", "executor.consumer",
		"github.nats", "github.consumer", "claude_cli", "disk"} {
		if c, ok := report.Checks[check]; !ok || !c.OK {
			t.Errorf("workers' /readyz: %s = %+v (report %+v)", check, c, report)
		}
	}

	proctest.CheckNotReadyThenDead(t, proc, nats.Server.Shutdown, false, bin, env)
}
