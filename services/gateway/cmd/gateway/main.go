// Command gateway serves the REST API against an external NATS (NATS_URL).
// Its read model lives in memory and is rebuilt from the event stream at
// every start.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/services/gateway"
)

func main() {
	app.Main("gateway", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		if cfg.StorageType != config.StorageMemory {
			return fmt.Errorf("STATE_STORAGE_TYPE=%s is not supported by this build yet; use memory", cfg.StorageType)
		}
		nc, js, err := app.ConnectNATS(ctx, cfg, "gateway", log)
		if err != nil {
			return err
		}
		defer nc.Drain()
		return gateway.Run(ctx, gateway.Deps{
			Config: cfg, Bus: bus.New(js, "awo/gateway"), JS: js, NC: nc,
			Store: readmodel.NewMemory(), Logger: log,
		})
	})
}
