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
	"github.com/agentworkorders/awo/pkg/metrics"
	githubsvc "github.com/agentworkorders/awo/services/github"
)

func main() {
	app.MainWorker(app.Worker{
		Name: "github", MicroName: githubsvc.MicroName, Description: githubsvc.MicroDescription,
		Run: func(ctx context.Context, cfg config.Config, b *bus.Bus, m *metrics.Metrics, log *slog.Logger) error {
			return githubsvc.Serve(ctx, cfg.GitHub(), b, m, log)
		},
	})
}
