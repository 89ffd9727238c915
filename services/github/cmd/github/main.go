// Command github performs the GitHub operations of work orders (opening
// pull requests, reading issues) with the gh CLI, against an external NATS
// (NATS_URL). It registers as the NATS micro service awo-github and, with
// AWO_METRICS_LISTEN set, serves /metrics, /healthz and /readyz there (ready:
// connected, its consumer bound). `<binary> -healthcheck` probes that
// /readyz (the image's HEALTHCHECK).
package main

import (
	"context"

	"github.com/agentworkorders/awo/pkg/app"
	githubsvc "github.com/agentworkorders/awo/services/github"
)

func main() {
	app.MainWorker(app.Worker{
		Name: "github", MicroName: githubsvc.MicroName, Description: githubsvc.MicroDescription,
		Consumer: githubsvc.ConsumerName,
		Run: func(ctx context.Context, env app.Env) error {
			return githubsvc.Serve(ctx, env.Config.GitHub(), env.Bus, env.Metrics, env.Log)
		},
	})
}
