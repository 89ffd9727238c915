package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/config"
)

// The all-in-one and the executor's /readyz name the CLI it will run, as a path and a version, or
// says why it cannot: with the real pinned CLI, and with none.
func TestFindClaudeCLI(t *testing.T) {
	claude := os.Getenv("AWO_TEST_CLAUDE")
	if claude == "" {
		t.Skip("AWO_TEST_CLAUDE is not set (make tools; make test sets it)")
	}
	cfg := load(t, map[string]string{"CLAUDE_CLI_PATH": claude, "IS_SANDBOX": "1"})
	c := app.FindClaudeCLI(context.Background(), cfg)
	abs, _ := filepath.Abs(claude)
	if c.Problem != "" || c.Path != abs || !strings.Contains(c.Version, "Claude Code") {
		t.Errorf("with %s: %+v, want its path and version", claude, c)
	}

	if os.Geteuid() == 0 {
		// As root without IS_SANDBOX=1 the CLI refuses to run the steps: said at start too.
		c = app.FindClaudeCLI(context.Background(), load(t, map[string]string{"CLAUDE_CLI_PATH": claude}))
		if !strings.Contains(c.Problem, "IS_SANDBOX=1") || c.Version == "" {
			t.Errorf("as root without IS_SANDBOX: %+v", c)
		}
	}

	missing := filepath.Join(t.TempDir(), "no-claude")
	c = app.FindClaudeCLI(context.Background(), load(t, map[string]string{"CLAUDE_CLI_PATH": missing}))
	if !strings.Contains(c.Problem, "not found") || !strings.Contains(c.Problem, "make tools") || c.Version != "" {
		t.Errorf("with no CLI: %+v", c)
	}
}

func load(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	vars["AWO_DATA_DIR"] = filepath.Join(t.TempDir(), "data")
	vars["AGENT_WORK_ORDER_TEMP_DIR"] = t.TempDir()
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
