// Package checkpoint keeps the latest sandbox checkpoint of each work
// order in a JetStream object store, where every executor replica can reach
// it: one object per work order, named by its id, holding the git bundle,
// with the checkpoint's commits, branch and the step that saved it as
// object metadata, so that finding the latest checkpoint is one info
// lookup that reads no bundle.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// Store is the checkpoint bucket (bus.BucketCheckpoints).
type Store struct {
	obj jetstream.ObjectStore
}

// Open binds to the bucket, which bus.EnsureStreams creates.
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	obj, err := js.ObjectStore(ctx, bus.BucketCheckpoints)
	if err != nil {
		return nil, fmt.Errorf("opening the checkpoint store %s: %w", bus.BucketCheckpoints, err)
	}
	return &Store{obj: obj}, nil
}

// Saved is a stored checkpoint and the step attempt that saved it.
type Saved struct {
	sandbox.Checkpoint
	Step    workorder.Step
	Attempt int
	Size    uint64 // bytes of the bundle
}

// Metadata keys of a checkpoint object.
const (
	keyID         = "checkpoint"
	keyIndex      = "index"
	keyHead       = "head"
	keyBranch     = "branch"
	keyBaseBranch = "base-branch"
	keyBase       = "base"
	keyStep       = "step"
	keyAttempt    = "attempt"
)

// Put stores the bundle file at path as the work order's latest
// checkpoint, replacing the one before.
func (s *Store) Put(ctx context.Context, wo workorder.ID, step workorder.Step, attempt int, cp sandbox.Checkpoint, path string) (Saved, error) {
	f, err := os.Open(path)
	if err != nil {
		return Saved{}, fmt.Errorf("storing the checkpoint of %s: %w", wo, err)
	}
	defer f.Close()
	info, err := s.obj.Put(ctx, jetstream.ObjectMeta{
		Name:        string(wo),
		Description: fmt.Sprintf("sandbox of %s after %s (attempt %d)", wo, step, attempt),
		Metadata: map[string]string{
			keyID: cp.ID, keyIndex: cp.Index, keyHead: cp.Head, keyBranch: cp.Branch,
			keyBaseBranch: cp.BaseBranch, keyBase: cp.Base,
			keyStep: string(step), keyAttempt: strconv.Itoa(attempt),
		},
	}, f)
	if err != nil {
		return Saved{}, fmt.Errorf("storing the checkpoint of %s in %s: %w", wo, bus.BucketCheckpoints, err)
	}
	return saved(info)
}

// Latest describes the work order's latest checkpoint without reading its
// bundle; ok is false when it has none.
func (s *Store) Latest(ctx context.Context, wo workorder.ID) (cp Saved, ok bool, err error) {
	info, err := s.obj.GetInfo(ctx, string(wo))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return Saved{}, false, nil
	}
	if err != nil {
		return Saved{}, false, fmt.Errorf("looking up the checkpoint of %s: %w", wo, err)
	}
	cp, err = saved(info)
	return cp, err == nil, err
}

// Get writes the work order's latest checkpoint's bundle to the file at
// path and describes it. The description comes with the bundle, so a
// checkpoint saved in between cannot pair one's bundle with the other's
// commits.
func (s *Store) Get(ctx context.Context, wo workorder.ID, path string) (Saved, error) {
	res, err := s.obj.Get(ctx, string(wo))
	if err != nil {
		return Saved{}, fmt.Errorf("fetching the checkpoint of %s: %w", wo, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return Saved{}, fmt.Errorf("fetching the checkpoint of %s: %w", wo, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return Saved{}, fmt.Errorf("fetching the checkpoint of %s: %w", wo, err)
	}
	// The reader checks the object's digest at its end.
	if _, err := io.Copy(f, res); err != nil {
		f.Close()
		return Saved{}, fmt.Errorf("fetching the checkpoint of %s: %w", wo, err)
	}
	if err := f.Close(); err != nil {
		return Saved{}, fmt.Errorf("fetching the checkpoint of %s: %w", wo, err)
	}
	return saved(info)
}

func saved(info *jetstream.ObjectInfo) (Saved, error) {
	m := info.Metadata
	attempt, _ := strconv.Atoi(m[keyAttempt])
	s := Saved{
		Checkpoint: sandbox.Checkpoint{
			ID: m[keyID], Index: m[keyIndex], Head: m[keyHead], Branch: m[keyBranch],
			BaseBranch: m[keyBaseBranch], Base: m[keyBase],
		},
		Step: workorder.Step(m[keyStep]), Attempt: attempt, Size: info.Size,
	}
	if s.ID == "" {
		return Saved{}, fmt.Errorf("checkpoint object %s in %s has no %q metadata", info.Name, info.Bucket, keyID)
	}
	return s, nil
}
