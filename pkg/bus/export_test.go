package bus

import (
	"context"

	"github.com/agentworkorders/awo/pkg/events"
)

// Stale exposes the check every step worker makes before a command.
func (b *Bus) Stale(ctx context.Context, cmd events.RunStep) (string, error) {
	return b.stale(ctx, cmd)
}
