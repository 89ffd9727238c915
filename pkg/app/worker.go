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
	// Consumer is the durable consumer /readyz waits for the service to
	// bind (default Name: each worker's consumer is named after it).
	Consumer string
	// Ready, when set, adds the worker's own readiness checks to the NATS
	// connection and the consumer (the executor's: ExecutorChecks).
	Ready func(ctx context.Context, cfg config.Config) []Check
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

// MainWorker is the whole of such a binary's main. With the only argument
// -healthcheck it probes the running worker's /readyz and exits (see
// Healthcheck); otherwise it runs the worker (RunWorker).
func MainWorker(w Worker) {
	exitOnHealthcheck(w.Name, WorkerReadyURL)
	Main(w.Name, func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		return RunWorker(ctx, cfg, log, Standalone(cfg.Shared, log), w)
	})
}

// RunWorker serves /metrics, /healthz and /readyz on AWO_METRICS_LISTEN
// when set, from before the NATS connection is made (so a slow start
// shows as alive but not ready), connects, registers the NATS micro
// service and runs the service (RunService).
func RunWorker(ctx context.Context, cfg config.Config, log *slog.Logger, connect Connector, w Worker) error {
	m := metrics.New()
	consumer := w.Consumer
	if consumer == "" {
		consumer = w.Name
	}
	var nc NATSRef
	ready := &Readiness{}
	ready.Add(nc.Check("nats"), ConsumerCheck("consumer", m, consumer))
	if w.Ready != nil {
		ready.Add(w.Ready(ctx, cfg)...)
	}
	return m.ServeBesideWith(ctx, cfg.MetricsListen, HealthRoutes(ready), log, func(ctx context.Context) error {
		return RunService(ctx, connect, Service{
			Name: w.Name, MicroName: w.MicroName, Description: w.Description,
			Run: func(ctx context.Context, c Conn) error {
				nc.Set(c.NC)
				return w.Run(ctx, Env{Config: cfg, Bus: c.Bus, Log: c.Log, Metrics: m})
			},
		}, log)
	})
}
