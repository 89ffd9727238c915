// Command orchestrator runs the orchestrator service on its own against
// NATS_URL: it decides what every work order does next.
package main

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/services/orchestrator"
)

func main() { app.Main("orchestrator", run) }

func run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	nc, js, err := app.ConnectNATS(ctx, cfg, "orchestrator", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	return orchestrator.Run(ctx, orchestrator.Deps{
		Config: cfg,
		Bus:    bus.New(js, "awo/orchestrator"),
		JS:     js,
		Logger: log,
	})
}
