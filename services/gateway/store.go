package gateway

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

// OpenStore returns the read store STATE_STORAGE_TYPE selects and how to
// close it. The memory store starts empty and is filled by the projector
// from the stream; a Postgres store must be reachable now, so a wrong
// DATABASE_URL stops the start with the variable named rather than
// surfacing later as 503s.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (readmodel.Store, func(), error) {
	switch cfg.StorageType {
	case config.StorageMemory:
		return readmodel.NewMemory(), func() {}, nil
	case config.StoragePostgres:
		return nil, nil, fmt.Errorf("STATE_STORAGE_TYPE=%s is not supported by this build yet (the Postgres read store has not landed); use memory", cfg.StorageType)
	}
	return nil, nil, fmt.Errorf("STATE_STORAGE_TYPE=%s: unknown storage type", cfg.StorageType)
}
