package app

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
)

// Worker describes a standalone service binary without an HTTP API of its
// own: the orchestrator, the executor and the github service.
type Worker struct {
	Name        string // service name: logs, NATS connection, CloudEvents source awo/<name>
	MicroName   string // NATS micro service name
	Description string
	// Run runs the service until ctx is cancelled.
	Run func(ctx context.Context, env Env) error
}

// Env is what a worker's Run is given: the configuration, the bus of its
// connection (sending as awo/<name>), its logger and the metrics registry
// /metrics serves.
type Env struct {
	Config  config.Config
	Bus     *bus.Bus
	Log     *slog.Logger
	Metrics *metrics.Metrics
}

// MainWorker is the whole of such a binary's main: it connects to
// NATS_URL, registers the NATS micro service, serves /metrics on
// AWO_METRICS_LISTEN when set, and runs the service (RunService).
func MainWorker(w Worker) {
	Main(w.Name, func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		m := metrics.New()
		return RunService(ctx, Standalone(cfg.Shared, log), Service{
			Name: w.Name, MicroName: w.MicroName, Description: w.Description,
			Run: func(ctx context.Context, c Conn) error {
				return m.ServeBeside(ctx, cfg.MetricsListen, c.Log, func(ctx context.Context) error {
					return w.Run(ctx, Env{Config: cfg, Bus: c.Bus, Log: c.Log, Metrics: m})
				})
			},
		}, log)
	})
}
