package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

// claudeVersionTimeout bounds `claude --version`; the CLI is a Node
// program and a cold start can take a few seconds.
const claudeVersionTimeout = 15 * time.Second

// ClaudeCLI says which Claude Code CLI the executor will run: the path
// CLAUDE_CLI_PATH resolves to and its version (what /health reports), or
// why it cannot be used. It is the first thing to check when no step runs,
// so the all-in-one logs it at start and the executor's /readyz asks it.
type ClaudeCLI struct {
	Path, Version, Problem string
}

// FindClaudeCLI resolves CLAUDE_CLI_PATH and runs `--version` on it.
func FindClaudeCLI(ctx context.Context, cfg config.Config) ClaudeCLI {
	c := ClaudeCLI{Path: cfg.ClaudeCLIPath}
	resolved, err := exec.LookPath(cfg.ClaudeCLIPath)
	if err != nil {
		c.Problem = "not found (install it, run `make tools`, or set CLAUDE_CLI_PATH): " + err.Error()
		return c
	}
	if abs, err := filepath.Abs(resolved); err == nil {
		resolved = abs
	}
	c.Path = resolved
	ctx, cancel := context.WithTimeout(ctx, claudeVersionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, resolved, "--version").Output()
	if err != nil {
		c.Problem = "`" + resolved + " --version` failed: " + err.Error()
		return c
	}
	c.Version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	c.Problem = config.RootSandboxProblem(cfg.ClaudeSkipPermissions, os.Geteuid(), cfg.IsSandbox)
	return c
}
