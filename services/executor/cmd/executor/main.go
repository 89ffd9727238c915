// Command executor runs agent steps against an external NATS (NATS_URL).
// It registers as the NATS micro service awo-executor and, with
// AWO_METRICS_LISTEN set, serves /metrics there.
package main

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/services/executor"
)

func main() {
	app.MainWorker(app.Worker{
		Name: "executor", MicroName: executor.MicroName, Description: executor.MicroDescription,
		Run: func(ctx context.Context, cfg config.Config, b *bus.Bus, m *metrics.Metrics, log *slog.Logger) error {
			return executor.Serve(ctx, cfg.Executor(), b, m, log)
		},
	})
}
