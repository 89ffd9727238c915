// Command gateway serves the REST API against an external NATS (NATS_URL)
// with the read store STATE_STORAGE_TYPE selects: memory (rebuilt from the
// event stream at every start) or Postgres (DATABASE_URL), which any
// number of gateway replicas can share. It serves /metrics, /healthz and
// /readyz on its port and registers as the NATS micro service awo-gateway.
//
//	gateway                     serve
//	gateway -healthcheck        GET this host's /readyz: exit 0 ready, 1 not (the image's HEALTHCHECK)
//	gateway rebuild-read-model  empty the read store, replay the stream into it, exit
package main

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/services/gateway"
)

func main() {
	app.MainCommands("gateway", map[string]app.RunFunc{"": serve, "rebuild-read-model": rebuild})
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	store, closeStore, err := gateway.OpenStore(ctx, cfg.Gateway(), log)
	if err != nil {
		return err
	}
	defer closeStore()
	m := metrics.New()
	return app.RunService(ctx, app.Standalone(cfg.Shared, log), app.Service{
		Name: "gateway", MicroName: gateway.MicroName, Description: gateway.MicroDescription,
		Run: func(ctx context.Context, c app.Conn) error {
			return gateway.Serve(ctx, gateway.Deps{Config: cfg.Gateway(), Bus: c.Bus, NC: c.NC, Store: store, Logger: c.Log, Metrics: m,
				RepoVerifier: repocheck.NewClient(c.NC, 0)})
		},
	}, log)
}

func rebuild(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return gateway.RebuildReadModel(ctx, cfg.Gateway(), log, func(ctx context.Context) (jetstream.JetStream, func(), error) {
		nc, js, err := app.ConnectNATS(ctx, cfg.Shared, "gateway-rebuild", log)
		if err != nil {
			return nil, nil, err
		}
		return js, nc.Close, nil
	})
}
