package projector

import (
	"context"
	"fmt"
)

// progressView is what a waiter reads of a projection's progress, taken
// under the projection's lock.
type progressView struct {
	applied  uint64 // the highest position handled
	ready    bool   // the backlog present at start is handled
	stopped  bool
	storeErr error           // the store's error while it fails
	advanced <-chan struct{} // closed on the next change
}

// waitFor returns once view says pos is handled and the start's backlog
// with it; ctx's cause if that takes too long, ErrStopped once the
// projection has stopped, and the store's error at once while the store
// fails. what names a position in errors ("event 7 (applied 5)").
func waitFor(ctx context.Context, pos uint64, what, did string, view func() progressView) error {
	for {
		v := view()
		at := fmt.Sprintf("waiting for %s %d (%s %d)", what, pos, did, v.applied)
		switch {
		case v.ready && v.applied >= pos:
			return nil
		case v.stopped:
			return fmt.Errorf("%s: %w", at, ErrStopped)
		case v.storeErr != nil:
			return fmt.Errorf("%s: the read store is failing: %w", at, v.storeErr)
		}
		select {
		case <-v.advanced:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", at, context.Cause(ctx))
		}
	}
}
