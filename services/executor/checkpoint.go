package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// Checkpoints keeps each work order's latest sandbox checkpoint where every
// executor replica reaches it; *checkpoint.Store is one.
type Checkpoints interface {
	Latest(ctx context.Context, wo workorder.ID) (checkpoint.Saved, bool, error)
	Get(ctx context.Context, wo workorder.ID, path string) (checkpoint.Saved, error)
	Put(ctx context.Context, wo workorder.ID, step workorder.Step, attempt int, cp sandbox.Checkpoint, path string) (checkpoint.Saved, error)
}

// errCheckpointStore marks a failure to reach the checkpoint store: the
// step is handed back to be run again, not failed, since the step itself
// did nothing wrong (and its result could not be published either while
// JetStream is unreachable).
var errCheckpointStore = errors.New("checkpoint store")

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

// prepareSandbox returns the sandbox the step runs in: the local one when
// it is at the work order's latest checkpoint (or there is none yet),
// otherwise the checkpoint restored; and the latest checkpoint (zero for
// none). It then marks the sandbox as changing: from here on only a new
// checkpoint says what is in it.
func (x *executor) prepareSandbox(ctx context.Context, cmd events.RunStep, spec sandbox.Spec, log *slog.Logger) (sandbox.Sandbox, checkpoint.Saved, error) {
	if x.checkpoints == nil {
		sb, err := x.sandboxes.Prepare(ctx, spec)
		return sb, checkpoint.Saved{}, err
	}
	latest, ok, err := x.checkpoints.Latest(ctx, cmd.WorkOrderID)
	if err != nil {
		return sandbox.Sandbox{}, checkpoint.Saved{}, fmt.Errorf("%w: %w", errCheckpointStore, err)
	}
	var sb sandbox.Sandbox
	reason := ""
	if ok {
		marker, err := x.sandboxes.Marker(ctx, spec)
		if err != nil {
			return sandbox.Sandbox{}, checkpoint.Saved{}, err
		}
		reason = restoreReason(worker.Delivered(ctx), cmd.Attempt, marker, latest.ID)
	}
	switch {
	case reason == "" && ok && latest.BaseBranch != "":
		// The marker says the sandbox here is the latest checkpoint: no
		// need to take the repository lock and ask git what it is.
		if sb, err = x.sandboxes.Marked(spec, latest.BaseBranch); err != nil {
			return sandbox.Sandbox{}, checkpoint.Saved{}, err
		}
	case reason == "":
		// No checkpoint yet means the first step, or a work order from
		// before checkpoints: the local sandbox is all there is.
		if sb, err = x.sandboxes.Prepare(ctx, spec); err != nil {
			return sandbox.Sandbox{}, checkpoint.Saved{}, err
		}
	default:
		if sb, err = x.restore(ctx, cmd, spec, latest, reason, log); err != nil {
			return sandbox.Sandbox{}, checkpoint.Saved{}, err
		}
	}
	if err := x.sandboxes.Mark(spec, ""); err != nil {
		return sandbox.Sandbox{}, checkpoint.Saved{}, err
	}
	return sb, latest, nil
}

func (x *executor) restore(ctx context.Context, cmd events.RunStep, spec sandbox.Spec, latest checkpoint.Saved, reason string, log *slog.Logger) (sandbox.Sandbox, error) {
	start := time.Now()
	log.Info("restoring the sandbox from its checkpoint", "reason", reason, "checkpoint", latest.ID,
		"saved_after", latest.Step, "saved_attempt", latest.Attempt)
	path, cleanup, err := x.scratchFile(cmd.WorkOrderID)
	if err != nil {
		return sandbox.Sandbox{}, err
	}
	defer cleanup()
	saved, err := x.checkpoints.Get(ctx, cmd.WorkOrderID, path)
	if err != nil {
		return sandbox.Sandbox{}, fmt.Errorf("%w: %w", errCheckpointStore, err)
	}
	sb, err := x.sandboxes.Restore(ctx, spec, saved.Checkpoint, path)
	if err != nil {
		return sandbox.Sandbox{}, fmt.Errorf("restoring checkpoint %s (saved after %s): %w", shortID(saved.ID), saved.Step, err)
	}
	log.Info("sandbox restored from its checkpoint", "checkpoint", saved.ID, "branch", saved.Branch,
		"bytes", saved.Size, "duration_ms", time.Since(start).Milliseconds())
	return sb, nil
}

// saveCheckpoint stores the sandbox as the work order's latest checkpoint
// after a successful step, unless the step left it exactly as the latest
// checkpoint (ID latest) has it: a review that changed nothing stores no
// second copy. An error hands the step back: a step whose result cannot be
// taken over by another executor is not done.
func (x *executor) saveCheckpoint(ctx context.Context, cmd events.RunStep, spec sandbox.Spec, sb sandbox.Sandbox, latest string, log *slog.Logger) error {
	if x.checkpoints == nil {
		return nil
	}
	if !laterStepUsesSandbox(cmd) {
		log.Debug("no later step of the plan runs in the sandbox: not checkpointed")
		return nil
	}
	start := time.Now()
	cp, err := x.sandboxes.Snapshot(ctx, spec, sb)
	if err != nil {
		return fmt.Errorf("checkpointing the sandbox after %s: %w", cmd.Step, err)
	}
	if cp.ID == latest {
		x.mark(spec, cp.ID, log)
		log.Info("sandbox unchanged since its latest checkpoint", "checkpoint", cp.ID)
		return nil
	}
	path, cleanup, err := x.scratchFile(cmd.WorkOrderID)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := x.sandboxes.Bundle(ctx, spec, sb, cp, path); err != nil {
		return fmt.Errorf("checkpointing the sandbox after %s: %w", cmd.Step, err)
	}
	saved, err := x.checkpoints.Put(ctx, cmd.WorkOrderID, cmd.Step, cmd.Attempt, cp, path)
	if err != nil {
		return fmt.Errorf("checkpointing the sandbox after %s: %w", cmd.Step, err)
	}
	x.mark(spec, cp.ID, log)
	log.Info("sandbox checkpointed", "checkpoint", cp.ID, "branch", cp.Branch, "head", cp.Head,
		"bytes", saved.Size, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// laterStepUsesSandbox reports whether a step after cmd's in its work
// order's plan runs in the sandbox. After the last one (commit, in the
// usual plan, which has pushed the branch) no checkpoint would ever be
// restored: create-pr works on the pushed branch, and this step run again
// (a redelivery, a retry) starts from the checkpoint before it. A command
// that does not name its plan keeps its checkpoint.
func laterStepUsesSandbox(cmd events.RunStep) bool {
	plan := cmd.Args.SelectedStep
	i := slices.Index(plan, cmd.Step)
	if i < 0 {
		return true
	}
	for _, st := range plan[i+1:] {
		if st.Service() == consumerName {
			return true
		}
	}
	return false
}

// mark records that the sandbox is at checkpoint id. Failing costs only a
// restore, should this executor run the next step.
func (x *executor) mark(spec sandbox.Spec, id string, log *slog.Logger) {
	if err := x.sandboxes.Mark(spec, id); err != nil {
		log.Warn("marking the sandbox as checkpointed", "err", err)
	}
}

// scratchFile is a path for one bundle on its way to or from the store,
// under the sandbox root: bundles can be large, and /tmp may be small. The
// name is the work order's own (its steps run one at a time) plus a
// process-wide counter, so no exclusive create is needed: creating files
// exclusively in one directory from many steps at once was a fifth of the
// executor's CPU in the pipeline benchmark.
func (x *executor) scratchFile(wo workorder.ID) (string, func(), error) {
	x.scratchOnce.Do(func() {
		// Root's alone: it holds every work order's bundles, which an
		// agent running as another user (AWO_AGENT_USER) must not read.
		dir := filepath.Join(x.cfg.TempDir, "checkpoints")
		if x.scratchErr = os.MkdirAll(dir, 0o700); x.scratchErr == nil {
			x.scratchErr = os.Chmod(dir, 0o700)
		}
	})
	if x.scratchErr != nil {
		return "", nil, fmt.Errorf("creating the checkpoint scratch directory: %w", x.scratchErr)
	}
	path := filepath.Join(x.cfg.TempDir, "checkpoints", fmt.Sprintf("%s-%d-%d.bundle", wo, os.Getpid(), x.scratchSeq.Add(1)))
	return path, func() { _ = os.Remove(path) }, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
