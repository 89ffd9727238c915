// Command executor runs agent steps against an external NATS (NATS_URL).
package main

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/services/executor"
)

func main() {
	app.Main("executor", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		nc, js, err := app.ConnectNATS(ctx, cfg, "executor", log)
		if err != nil {
			return err
		}
		defer nc.Drain()
		return executor.Run(ctx, executor.Deps{Config: cfg, Bus: bus.New(js, "awo/executor"), Logger: log})
	})
}
