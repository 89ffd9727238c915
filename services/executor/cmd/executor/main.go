// Command executor runs agent steps against an external NATS (NATS_URL).
// It registers as the NATS micro service awo-executor and, with
// AWO_METRICS_LISTEN set, serves /metrics, /healthz and /readyz there: ready
// once connected with its consumer bound, the Claude Code CLI runs and the
// sandboxes' disk is above AWO_MIN_FREE_DISK. `executor -healthcheck`
// probes that /readyz (the image's HEALTHCHECK).
package main

import (
	"context"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/services/executor"
)

func main() {
	app.MainWorker(app.Worker{
		Name: "executor", MicroName: executor.MicroName, Description: executor.MicroDescription,
		Ready: app.ExecutorChecks,
		Run: func(ctx context.Context, env app.Env) error {
			return executor.Serve(ctx, env.Config.Executor(), env.Bus, env.Metrics, env.Log)
		},
	})
}
