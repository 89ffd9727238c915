package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/proctest"
)

// The binary as an image runs it: its own `-healthcheck` exits 0 once it
// is connected with its consumer bound and the Claude Code CLI answers, 1
// naming NATS when the server is gone, and 1 when the process is dead; an
// executor whose CLI is missing is never ready and says why.
func TestHealthcheck_Process(t *testing.T) {
	claude := os.Getenv("AWO_TEST_CLAUDE")
	if claude == "" {
		t.Skip("AWO_TEST_CLAUDE is not set (make tools; make test sets it)")
	}
	bin := proctest.Build(t, ".", "awo-executor")
	nats := natstest.StartListening(t, "test")
	common := []string{"NATS_URL=" + nats.Server.ClientURL(), "AWO_DATA_DIR=" + t.TempDir(),
		"AGENT_WORK_ORDER_TEMP_DIR=" + t.TempDir(), "IS_SANDBOX=1", "LOG_LEVEL=warn"}
	env := proctest.Env(append(common, "CLAUDE_CLI_PATH="+claude, "AWO_METRICS_LISTEN="+proctest.FreeAddr(t))...)
	missing := filepath.Join(t.TempDir(), "no-claude")
	noCLI := proctest.Env(append(common, "CLAUDE_CLI_PATH="+missing, "AWO_METRICS_LISTEN="+proctest.FreeAddr(t))...)
	proc := proctest.Start(t, bin, env)
	proctest.Start(t, bin, noCLI)

	proctest.RunUntil(t, 30*time.Second, 0, bin, env, "-healthcheck")
	// Its consumer is bound too (the other replica's is the same one),
	// so only the CLI holds it back.
	stderr := proctest.RunUntil(t, 30*time.Second, 1, bin, noCLI, "-healthcheck")
	for deadline := time.Now().Add(30 * time.Second); strings.Contains(stderr, "being checked") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		_, stderr = proctest.Run(t, bin, noCLI, "-healthcheck")
	}
	if !strings.Contains(stderr, "claude_cli: CLAUDE_CLI_PATH="+missing) {
		t.Errorf("-healthcheck without a CLI said %q", stderr)
	}
	proctest.CheckNotReadyThenDead(t, proc, nats.Server.Shutdown, false, bin, env)
}
