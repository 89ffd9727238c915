package main

import (
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/proctest"
)

// The binary as an image runs it: with AWO_METRICS_LISTEN set, its own
// `-healthcheck` exits 0 once it is connected with its consumer bound, 1
// naming NATS when the server is gone, and 1 when the process is dead.
func TestHealthcheck_Process(t *testing.T) {
	bin := proctest.Build(t, ".", "awo-orchestrator")
	nats := natstest.StartListening(t, "test")
	env := proctest.Env("NATS_URL="+nats.Server.ClientURL(), "AWO_METRICS_LISTEN="+proctest.FreeAddr(t),
		"AWO_DATA_DIR="+t.TempDir(), "LOG_LEVEL=warn")
	proc := proctest.Start(t, bin, env)

	proctest.RunUntil(t, 15*time.Second, 0, bin, env, "-healthcheck")
	proctest.CheckNotReadyThenDead(t, proc, nats.Server.Shutdown, true, bin, env)
}
