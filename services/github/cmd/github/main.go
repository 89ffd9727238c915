// Command github performs the GitHub operations of work orders (opening
// pull requests, reading issues) with the gh CLI, against an external NATS
// (NATS_URL).
package main

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	githubsvc "github.com/agentworkorders/awo/services/github"
)

func main() {
	app.Main("github", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		nc, js, err := app.ConnectNATS(ctx, cfg, "github", log)
		if err != nil {
			return err
		}
		defer nc.Drain()
		return githubsvc.Run(ctx, githubsvc.Deps{Config: cfg, Bus: bus.New(js, "awo/github"), JS: js, Logger: log})
	})
}
