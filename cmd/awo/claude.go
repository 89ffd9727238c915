package main

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/config"
)

// logClaudeCLI logs app.FindClaudeCLI's answer (the first thing to check
// when no step runs) without holding up the start.
func logClaudeCLI(ctx context.Context, cfg config.Config, log *slog.Logger) {
	go func() {
		c := app.FindClaudeCLI(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		if c.Problem != "" {
			log.Warn("the Claude Code CLI cannot run agent steps", "CLAUDE_CLI_PATH", cfg.ClaudeCLIPath, "path", c.Path, "version", c.Version, "problem", c.Problem)
			return
		}
		log.Info("agent steps use the Claude Code CLI", "path", c.Path, "version", c.Version)
	}()
}
