package main

import (
	"net"
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
	proctest.CheckNotReadyThenDead(t, proc, nats.Server.Shutdown, true, bin, env)
}
