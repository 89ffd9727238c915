package executor

import (
	"context"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// sandboxRemover is what the clean-up after a cancel asks of the
// sandboxes.
type sandboxRemover interface {
	// Remove deletes a work order's sandbox; one that is not here is no
	// error.
	Remove(ctx context.Context, s sandbox.Spec) error
}

// removeCancelled removes a cancelled work order's sandbox if this executor
// holds it. It runs once the work order's steps in hand here have stopped
// (worker.Config.OnCancelled). A retry that follows finds the sandbox
// missing and prepares it again (from a checkpoint where there is one).
func (x *executor) removeCancelled(ctx context.Context, wo workorder.ID, c events.Cancelled, log *slog.Logger) {
	if c.RepositoryURL == "" {
		log.Debug("the cancel names no sandbox; nothing to clean up")
		return
	}
	spec := sandbox.Spec{WorkOrderID: wo, RepositoryURL: c.RepositoryURL, Type: c.SandboxType, Identifier: c.SandboxIdentifier}
	if err := x.sandboxes.Remove(ctx, spec); err != nil {
		log.Warn("removing the sandbox of a cancelled work order", "sandbox", c.SandboxIdentifier, "err", err)
		return
	}
	log.Info("cleaned up after the cancel", "sandbox", c.SandboxIdentifier)
}
