// Command orchestrator runs the orchestrator service on its own against
// NATS_URL: it decides what every work order does next. It registers as the
// NATS micro service awo-orchestrator and, with AWO_METRICS_LISTEN set,
// serves /metrics there.
package main

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/services/orchestrator"
)

func main() { app.Main("orchestrator", run) }

func run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	nc, js, err := app.ConnectNATS(ctx, cfg, "orchestrator", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	svc, err := discovery.Register(nc, discovery.Config{Name: orchestrator.MicroName, Version: app.Version, Description: orchestrator.MicroDescription})
	if err != nil {
		return err
	}
	defer svc.Stop()
	m := metrics.New()
	return m.ServeBeside(ctx, cfg.MetricsListen, log, func(ctx context.Context) error {
		return orchestrator.Run(ctx, orchestrator.Deps{
			Config:  cfg,
			Bus:     bus.New(js, "awo/orchestrator"),
			JS:      js,
			Logger:  log,
			Metrics: m,
		})
	})
}
