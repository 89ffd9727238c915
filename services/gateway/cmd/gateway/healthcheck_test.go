package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/proctest"
)

// The binary as an image runs it: its own `-healthcheck` (GET /readyz on
// AGENT_WORK_ORDERS_PORT) exits 0 once it is connected and caught up, 1
// naming NATS when the server is gone, and 1 when the process is dead.
func TestHealthcheck_Process(t *testing.T) {
	bin := proctest.Build(t, ".", "awo-gateway")
	nats := natstest.StartListening(t, "test")
	_, port, _ := net.SplitHostPort(proctest.FreeAddr(t))
	env := proctest.Env("NATS_URL="+nats.Server.ClientURL(), "AGENT_WORK_ORDERS_PORT="+port,
		"AWO_DATA_DIR="+t.TempDir(), "STATE_STORAGE_TYPE=memory", "LOG_LEVEL=warn")
	proc := proctest.Start(t, bin, env)

	proctest.RunUntil(t, 15*time.Second, 0, bin, env, "-healthcheck")
	nats.Server.Shutdown()
	if stderr := proctest.RunUntil(t, 15*time.Second, 1, bin, env, "-healthcheck"); !strings.Contains(stderr, "503") || !strings.Contains(stderr, "nats: ") {
		t.Errorf("-healthcheck with NATS down said %q", stderr)
	}
	proc.Kill()
	if code, stderr := proctest.Run(t, bin, env, "-healthcheck"); code != 1 || !strings.Contains(stderr, "not answering") {
		t.Errorf("-healthcheck of a dead process: %d %q", code, stderr)
	}
}
