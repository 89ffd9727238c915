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
	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/services/executor"
)

func main() {
	app.Main("executor", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		nc, js, err := app.ConnectNATS(ctx, cfg, "executor", log)
		if err != nil {
			return err
		}
		defer nc.Drain()
		svc, err := discovery.Register(nc, discovery.Config{Name: executor.MicroName, Version: app.Version, Description: executor.MicroDescription})
		if err != nil {
			return err
		}
		defer svc.Stop()
		m := metrics.New()
		return m.ServeBeside(ctx, cfg.MetricsListen, log, func(ctx context.Context) error {
			return executor.Run(ctx, executor.Deps{Config: cfg, Bus: bus.New(js, "awo/executor"), Logger: log, Metrics: m})
		})
	})
}
