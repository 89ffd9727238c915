// Command github performs the GitHub operations of work orders (opening
// pull requests, reading issues) with the gh CLI, against an external NATS
// (NATS_URL). It registers as the NATS micro service awo-github and, with
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
	githubsvc "github.com/agentworkorders/awo/services/github"
)

func main() {
	app.Main("github", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		nc, js, err := app.ConnectNATS(ctx, cfg, "github", log)
		if err != nil {
			return err
		}
		defer nc.Drain()
		svc, err := discovery.Register(nc, discovery.Config{Name: githubsvc.MicroName, Version: app.Version, Description: githubsvc.MicroDescription})
		if err != nil {
			return err
		}
		defer svc.Stop()
		m := metrics.New()
		return m.ServeBeside(ctx, cfg.MetricsListen, log, func(ctx context.Context) error {
			return githubsvc.Run(ctx, githubsvc.Deps{Config: cfg, Bus: bus.New(js, "awo/github"), JS: js, Logger: log, Metrics: m})
		})
	})
}
