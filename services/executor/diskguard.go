package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
)

// FreeSpaceFunc returns the bytes an unprivileged process may still write
// on the file system that holds path.
type FreeSpaceFunc func(path string) (uint64, error)

// errNoFreeSpace: this platform cannot tell how much disk is free.
var errNoFreeSpace = errors.New("free disk space cannot be measured on this platform")

// LowDiskError is a step refused because the sandboxes' disk is nearly
// full. It is retryable: another replica, or this one after housekeeping,
// may have room.
type LowDiskError struct {
	Dir       string
	Free, Min int64
}

func (e *LowDiskError) Error() string {
	return fmt.Sprintf("free disk under %s is %s, below AWO_MIN_FREE_DISK=%s",
		e.Dir, config.FormatSize(e.Free), config.FormatSize(e.Min))
}

// diskGuard refuses steps while the sandboxes' disk has less than min free.
type diskGuard struct {
	dir  string // AGENT_WORK_ORDER_TEMP_DIR
	min  int64  // 0: no check
	free FreeSpaceFunc
}

// check returns a *LowDiskError when free space is under the minimum, and
// another error when it cannot be measured.
func (g diskGuard) check() error {
	if g.min <= 0 {
		return nil
	}
	free, err := g.measure()
	if err != nil {
		return err
	}
	if free < uint64(g.min) {
		return &LowDiskError{Dir: g.dir, Free: int64(free), Min: g.min}
	}
	return nil
}

// measure returns the free space under dir. Before the first sandbox the
// directory may not exist yet; the file system it will be made on is its
// nearest existing parent's.
func (g diskGuard) measure() (uint64, error) {
	path := filepath.Clean(g.dir)
	for {
		if _, err := os.Stat(path); err == nil || filepath.Dir(path) == path {
			break
		}
		path = filepath.Dir(path)
	}
	free, err := g.free(path)
	if err != nil {
		return 0, fmt.Errorf("measuring free disk under %s: %w", g.dir, err)
	}
	return free, nil
}

// admit is the executor's worker.Config.Admit: a step is refused, and
// handed back, while the sandboxes' disk is nearly full. When free space
// cannot be measured the step runs: the guard is a safety margin, not a
// reason to stop all work.
func (x *executor) admit(_ context.Context, cmd events.RunStep) error {
	err := x.disk.check()
	var low *LowDiskError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &low):
		if x.refused != nil {
			x.refused("low_disk")
		}
		return err
	}
	x.log.Warn("disk guard: running the step unchecked", "work_order_id", cmd.WorkOrderID, "step", cmd.Step, "err", err)
	return nil
}
