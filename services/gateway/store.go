package gateway

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/readmodel/pgstore"
)

// OpenStore returns the read store STATE_STORAGE_TYPE selects and how to
// close it. The memory store starts empty and is filled by the projector
// from the stream; a Postgres store must be reachable now, so a wrong
// DATABASE_URL stops the start with the variable named rather than
// surfacing later as 503s.
func OpenStore(ctx context.Context, cfg config.Gateway, log *slog.Logger) (readmodel.Store, func(), error) {
	switch cfg.StorageType {
	case config.StorageMemory:
		if cfg.StorageArchon == config.StorageFile {
			log.Info("STATE_STORAGE_TYPE=file: the work orders persist in the event stream JetStream keeps on disk ("+
				fileStore(cfg)+"), and the memory read model is rebuilt from it at every start", "storage_type", config.StorageMemory)
		}
		return readmodel.NewMemory(), func() {}, nil
	case config.StoragePostgres:
		// pgstore.Open pings and migrates; its errors name DATABASE_URL
		// with the password masked.
		st, err := pgstore.Open(ctx, cfg.DatabaseURL, log.With("component", "pgstore"))
		if err != nil {
			return nil, nil, fmt.Errorf("STATE_STORAGE_TYPE=postgres (DATABASE_URL or SUPABASE_DB_URL): %w", err)
		}
		return st, st.Close, nil
	}
	return nil, nil, fmt.Errorf("STATE_STORAGE_TYPE=%s: unknown storage type", cfg.StorageType)
}

// fileStore says where the event stream's files are: under the data
// directory when the server is embedded (the all-in-one; the standalone
// services need NATS_URL), else on the NATS server.
func fileStore(cfg config.Gateway) string {
	if cfg.NATSURL != "" {
		return "the file store of the NATS server at NATS_URL"
	}
	return "under " + cfg.DataDir
}
