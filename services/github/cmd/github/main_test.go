package main

import (
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/proctest"
)

// The binary as an image runs it: its own `-healthcheck` exits 0 once it
// is connected with its consumer bound, 1 naming NATS when the server is
// gone, and 1 when the process is dead.
func TestHealthcheck_Process(t *testing.T) {
	bin := proctest.Build(t, ".", "awo-github")
	nats := natstest.StartListening(t, "test")
	env := proctest.Env("NATS_URL="+nats.Server.ClientURL(), "AWO_METRICS_LISTEN="+proctest.FreeAddr(t),
		"AWO_DATA_DIR="+t.TempDir(), "LOG_LEVEL=warn")
	proc := proctest.Start(t, bin, env)

	proctest.RunUntil(t, 15*time.Second, 0, bin, env, "-healthcheck")
	nats.Server.Shutdown()
	if stderr := proctest.RunUntil(t, 15*time.Second, 1, bin, env, "-healthcheck"); !strings.Contains(stderr, "nats: ") {
		t.Errorf("-healthcheck with NATS down said %q", stderr)
	}
	proc.Kill()
	if code, stderr := proctest.Run(t, bin, env, "-healthcheck"); code != 1 || !strings.Contains(stderr, "not answering") {
		t.Errorf("-healthcheck of a dead process: %d %q", code, stderr)
	}
}
