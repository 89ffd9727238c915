package app

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/redact"
)

// Worker describes a standalone service binary without an HTTP API of its
// own: the orchestrator, the executor and the github service.
type Worker struct {
	Name        string // service name: logs, NATS connection, CloudEvents source awo/<name>
	MicroName   string // NATS micro service name
	Description string
	// Run runs the service until ctx is cancelled.
	Run func(ctx context.Context, cfg config.Config, b *bus.Bus, m *metrics.Metrics, log *slog.Logger) error
}

// MainWorker is the whole of such a binary's main: it connects to
// NATS_URL, registers the NATS micro service, serves /metrics on
// AWO_METRICS_LISTEN when set, and runs the service.
func MainWorker(w Worker) {
	Main(w.Name, func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		nc, js, err := ConnectNATS(ctx, cfg.Shared, w.Name, log)
		if err != nil {
			return err
		}
		defer func() {
			_ = nc.Flush() // acks of the last messages
			nc.Close()
		}()
		svc, err := discovery.Register(nc, discovery.Config{Name: w.MicroName, Version: Version, Description: w.Description})
		if err != nil {
			return err
		}
		defer svc.Stop()
		m := metrics.New()
		return m.ServeBeside(ctx, cfg.MetricsListen, log, func(ctx context.Context) error {
			b := bus.New(js, "awo/"+w.Name)
			b.Redactor = redact.Default()
			return w.Run(ctx, cfg, b, m, log)
		})
	})
}
