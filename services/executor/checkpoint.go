package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

// scratchFunc returns a path for one bundle on its way to or from the
// store, and what removes it.
type scratchFunc func(wo workorder.ID) (path string, cleanup func(), err error)

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
