package executor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// sandboxSaver is what the save stage asks of the sandboxes: a checkpoint
// of one, its bundle, and the marker saying the local one is at it.
type sandboxSaver interface {
	SnapshotCapped(ctx context.Context, s sandbox.Spec, sb sandbox.Sandbox) (sandbox.Checkpoint, []sandbox.LeftOut, error)
	Bundle(ctx context.Context, s sandbox.Spec, sb sandbox.Sandbox, cp sandbox.Checkpoint, bundle string) error
	Mark(s sandbox.Spec, id string) error
}

// checkpointsAfter is a checkpoint store that stores the next checkpoint
// after the latest the restore stage read, without reading it again
// (*checkpoint.Store): one direct get fewer per saved step.
type checkpointsAfter interface {
	PutAfter(ctx context.Context, wo workorder.ID, step workorder.Step, attempt int, cp sandbox.Checkpoint, path string, latest checkpoint.Saved, found bool) (checkpoint.Saved, error)
}

// saveStage stores the sandbox after a successful step, where every
// executor replica finds it for the next one.
type saveStage struct {
	sandboxes sandboxSaver
	// checkpoints is nil when checkpointing is off.
	checkpoints Checkpoints
	scratch     scratchFunc
	// maxBytes is AWO_CHECKPOINT_MAX_BYTES, named in the warning; warn
	// puts a warning in the work order's live log (nil: none).
	maxBytes int64
	warn     func(msg string)
}

// run stores the sandbox as the work order's latest checkpoint, unless the
// step left it exactly as latest (what the restore stage found) has it: a
// review that changed nothing stores no second copy. An error hands the
// step back: a step whose result cannot be taken over by another executor
// is not done.
func (s saveStage) run(ctx context.Context, cmd events.RunStep, spec sandbox.Spec, sb sandbox.Sandbox, latest checkpoint.Saved, log *slog.Logger) error {
	if s.checkpoints == nil {
		return nil
	}
	if !laterStepUsesSandbox(cmd) {
		log.Debug("no later step of the plan runs in the sandbox: not checkpointed")
		return nil
	}
	start := time.Now()
	cp, left, err := s.sandboxes.SnapshotCapped(ctx, spec, sb)
	if err != nil {
		return fmt.Errorf("checkpointing the sandbox after %s: %w", cmd.Step, err)
	}
	if len(left) > 0 {
		s.warnLeftOut(left, log)
	}
	if cp.ID == latest.ID {
		s.mark(spec, cp.ID, log)
		log.Info("sandbox unchanged since its latest checkpoint", "checkpoint", cp.ID)
		return nil
	}
	path, cleanup, err := s.scratch(cmd.WorkOrderID)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := s.sandboxes.Bundle(ctx, spec, sb, cp, path); err != nil {
		return fmt.Errorf("checkpointing the sandbox after %s: %w", cmd.Step, err)
	}
	var saved checkpoint.Saved
	if after, ok := s.checkpoints.(checkpointsAfter); ok {
		saved, err = after.PutAfter(ctx, cmd.WorkOrderID, cmd.Step, cmd.Attempt, cp, path, latest, latest.ID != "")
	} else {
		saved, err = s.checkpoints.Put(ctx, cmd.WorkOrderID, cmd.Step, cmd.Attempt, cp, path)
	}
	if err != nil {
		return fmt.Errorf("checkpointing the sandbox after %s: %w", cmd.Step, err)
	}
	s.mark(spec, cp.ID, log)
	log.Info("sandbox checkpointed", "checkpoint", cp.ID, "branch", cp.Branch, "head", cp.Head,
		"bytes", saved.Size, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// leftOutNamed is how many of the largest left-out paths a warning names.
const leftOutNamed = 5

// warnLeftOut tells the work order's viewers and the operator that the
// checkpoint does not hold some untracked output, naming the largest: a
// step that runs on another executor will not find it.
func (s saveStage) warnLeftOut(left []sandbox.LeftOut, log *slog.Logger) {
	total := sandbox.LeftOutBytes(left)
	names := make([]string, 0, leftOutNamed)
	for _, e := range left[:min(len(left), leftOutNamed)] {
		names = append(names, fmt.Sprintf("%s (%s)", e.Path, config.FormatSize(e.Bytes)))
	}
	if len(left) > leftOutNamed {
		names = append(names, fmt.Sprintf("and %d more", len(left)-leftOutNamed))
	}
	msg := fmt.Sprintf("the checkpoint leaves out %s of untracked files, over AWO_CHECKPOINT_MAX_BYTES (%s): %s."+
		" A later step that runs elsewhere will not have them; add them to .gitignore, or raise the limit",
		config.FormatSize(total), config.FormatSize(s.maxBytes), strings.Join(names, ", "))
	log.Warn("checkpoint leaves out untracked files over AWO_CHECKPOINT_MAX_BYTES",
		"left_out_bytes", total, "limit_bytes", s.maxBytes, "paths", names)
	if s.warn != nil {
		s.warn(msg)
	}
}

// mark records that the sandbox is at checkpoint id. Failing costs only a
// restore, should this executor run the next step.
func (s saveStage) mark(spec sandbox.Spec, id string, log *slog.Logger) {
	if err := s.sandboxes.Mark(spec, id); err != nil {
		log.Warn("marking the sandbox as checkpointed", "err", err)
	}
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
