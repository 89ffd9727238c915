package executor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// sandboxRestorer is what the restore stage asks of the sandboxes: the
// local one, or one brought back from a checkpoint, and the marker that
// says which checkpoint the local one is at.
type sandboxRestorer interface {
	Prepare(ctx context.Context, s sandbox.Spec) (sandbox.Sandbox, error)
	Restore(ctx context.Context, s sandbox.Spec, cp sandbox.Checkpoint, bundle string) (sandbox.Sandbox, error)
	Marker(ctx context.Context, s sandbox.Spec) (string, error)
	Mark(s sandbox.Spec, id string) error
	// Marked is the sandbox Marker has just vouched for, on baseBranch,
	// without asking git again.
	Marked(s sandbox.Spec, baseBranch string) (sandbox.Sandbox, error)
}

// restoreStage makes the sandbox ready before the agent runs.
type restoreStage struct {
	sandboxes sandboxRestorer
	// checkpoints is nil when checkpointing is off: the local sandbox is
	// all there is.
	checkpoints Checkpoints
	scratch     scratchFunc
}

// restored is what the restore stage hands to the rest of the step.
type restored struct {
	sandbox sandbox.Sandbox
	// latest is the work order's latest checkpoint when the step began
	// (zero for none): the save stage stores nothing when the step left
	// the sandbox as it was, and a redelivered commit pushes over its head.
	latest checkpoint.Saved
}

// run returns the sandbox the step runs in: the local one when it is at
// the work order's latest checkpoint (or there is none yet), otherwise the
// checkpoint restored; delivered is how often the command has been
// delivered. It then marks the sandbox as changing: from here on only a
// new checkpoint says what is in it. The store is asked for the latest
// checkpoint here once; the save stage gets it from the result.
func (r restoreStage) run(ctx context.Context, cmd events.RunStep, spec sandbox.Spec, delivered int, log *slog.Logger) (restored, error) {
	if r.checkpoints == nil {
		sb, err := r.sandboxes.Prepare(ctx, spec)
		return restored{sandbox: sb}, err
	}
	latest, ok, err := r.checkpoints.Latest(ctx, cmd.WorkOrderID)
	if err != nil {
		return restored{}, fmt.Errorf("%w: %w", errCheckpointStore, err)
	}
	reason := ""
	if ok {
		marker, err := r.sandboxes.Marker(ctx, spec)
		if err != nil {
			return restored{}, err
		}
		reason = restoreReason(delivered, cmd.Attempt, marker, latest.ID)
	}
	var sb sandbox.Sandbox
	switch {
	case reason == "" && ok && latest.BaseBranch != "":
		// The marker says the sandbox here is the latest checkpoint: no
		// need to take the repository lock and ask git what it is.
		sb, err = r.sandboxes.Marked(spec, latest.BaseBranch)
	case reason == "":
		// No checkpoint yet means the first step, or a work order from
		// before checkpoints: the local sandbox is all there is.
		sb, err = r.sandboxes.Prepare(ctx, spec)
	default:
		sb, err = r.restore(ctx, cmd, spec, latest, reason, log)
	}
	if err != nil {
		return restored{}, err
	}
	if err := r.sandboxes.Mark(spec, ""); err != nil {
		return restored{}, err
	}
	return restored{sandbox: sb, latest: latest}, nil
}

// restoreReason says why the sandbox must be restored from the latest
// checkpoint before the step runs, or "" when the local sandbox is known
// to be exactly that checkpoint. marker is the checkpoint the local sandbox
// is marked as being at ("" when missing or touched since).
func restoreReason(delivered, attempt int, marker, latest string) string {
	switch {
	case delivered > 1:
		return fmt.Sprintf("the command is delivered for the %d. time: an interrupted run may have left partial work", delivered)
	case attempt > 1:
		return fmt.Sprintf("attempt %d: an earlier attempt may have left partial work", attempt)
	case marker == "":
		return "the sandbox is missing here or has changed since its last checkpoint"
	case marker != latest:
		return fmt.Sprintf("the sandbox here is at checkpoint %s, the latest is %s", shortID(marker), shortID(latest))
	}
	return ""
}

// restore brings the sandbox back from the work order's latest checkpoint.
// The store's bundle comes with its own description (Checkpoints.Get), so a
// checkpoint stored since latest was read is restored whole, never mixed.
func (r restoreStage) restore(ctx context.Context, cmd events.RunStep, spec sandbox.Spec, latest checkpoint.Saved, reason string, log *slog.Logger) (sandbox.Sandbox, error) {
	start := time.Now()
	log.Info("restoring the sandbox from its checkpoint", "reason", reason, "checkpoint", latest.ID,
		"saved_after", latest.Step, "saved_attempt", latest.Attempt)
	path, cleanup, err := r.scratch(cmd.WorkOrderID)
	if err != nil {
		return sandbox.Sandbox{}, err
	}
	defer cleanup()
	saved, err := r.checkpoints.Get(ctx, cmd.WorkOrderID, path)
	if err != nil {
		return sandbox.Sandbox{}, fmt.Errorf("%w: %w", errCheckpointStore, err)
	}
	sb, err := r.sandboxes.Restore(ctx, spec, saved.Checkpoint, path)
	if err != nil {
		return sandbox.Sandbox{}, fmt.Errorf("restoring checkpoint %s (saved after %s): %w", shortID(saved.ID), saved.Step, err)
	}
	log.Info("sandbox restored from its checkpoint", "checkpoint", saved.ID, "branch", saved.Branch,
		"bytes", saved.Size, "duration_ms", time.Since(start).Milliseconds())
	return sb, nil
}
