// Command orchestrator runs the orchestrator service on its own against
// NATS_URL: it decides what every work order does next. It registers as the
// NATS micro service awo-orchestrator and, with AWO_METRICS_LISTEN set,
// serves /metrics, /healthz and /readyz there (ready: connected, its
// consumer bound). `<binary> -healthcheck` probes that /readyz (the image's
// HEALTHCHECK).
package main

import (
	"context"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/services/orchestrator"
)

func main() {
	app.MainWorker(app.Worker{
		Name: "orchestrator", MicroName: orchestrator.MicroName, Description: orchestrator.MicroDescription,
		Consumer: orchestrator.ConsumerName,
		Run: func(ctx context.Context, env app.Env) error {
			return orchestrator.Run(ctx, orchestrator.Deps{Config: env.Config.Orchestrator(), Bus: env.Bus, Logger: env.Log, Metrics: env.Metrics})
		},
	})
}
