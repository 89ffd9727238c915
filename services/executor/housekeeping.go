package executor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// SandboxStore is what housekeeping needs of the sandboxes on disk;
// *sandbox.Manager is one.
type SandboxStore interface {
	List(ctx context.Context) ([]sandbox.Entry, error)
	RemoveIf(ctx context.Context, e sandbox.Entry, decide func(context.Context) (bool, error)) (bool, error)
}

// Housekeeper removes the sandboxes of work orders that ended more than
// Retention ago. Whether and when a work order ended comes from the event
// stream; a sandbox whose work order the stream no longer knows (its events
// expired) goes by when it was last used instead. A sandbox a step is using
// is never touched.
type Housekeeper struct {
	Sandboxes SandboxStore
	// Ending says whether a work order ended and when; worker.ReadEnding.
	Ending    func(ctx context.Context, wo workorder.ID) (worker.Ending, error)
	Retention time.Duration
	Now       func() time.Time // time.Now when nil
	Logger    *slog.Logger
	// Removed, when set, is told about every sandbox removed (a metric).
	Removed func(kind workorder.SandboxType)
}

// Interval is how often Run sweeps: often enough that a sandbox outlives
// its retention by at most a quarter of it, at most every 10 minutes, at
// least every second.
func (h *Housekeeper) Interval() time.Duration {
	return min(max(h.Retention/4, time.Second), 10*time.Minute)
}

// Run sweeps once at once and then every Interval until ctx is cancelled.
// Failures are logged and the next sweep tries again.
func (h *Housekeeper) Run(ctx context.Context) {
	t := time.NewTicker(h.Interval())
	defer t.Stop()
	for {
		if _, err := h.Sweep(ctx); err != nil && ctx.Err() == nil {
			h.log().Warn("sandbox housekeeping failed; trying again at the next sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep removes every sandbox that is due and returns how many it removed.
// One sandbox that cannot be judged or removed does not stop the others;
// their errors are joined.
func (h *Housekeeper) Sweep(ctx context.Context) (int, error) {
	entries, err := h.Sandboxes.List(ctx)
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		var why string
		ok, err := h.Sandboxes.RemoveIf(ctx, e, func(ctx context.Context) (bool, error) {
			var due bool
			due, why, err = h.due(ctx, e)
			return due, err
		})
		if err != nil {
			h.log().Warn("sandbox housekeeping: sandbox kept", "work_order_id", e.WorkOrderID, "sandbox", e.Dir, "err", err)
			errs = append(errs, err)
			continue
		}
		if ok {
			removed++
			h.log().Info("removed the sandbox of a finished work order", "work_order_id", e.WorkOrderID,
				"sandbox", e.Dir, "sandbox_type", e.Kind, "reason", why, "retention", h.Retention)
			if h.Removed != nil {
				h.Removed(e.Kind)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// due decides, with the sandbox held against steps, whether it goes.
func (h *Housekeeper) due(ctx context.Context, e sandbox.Entry) (bool, string, error) {
	now := h.now()
	if e.WorkOrderID != "" {
		end, err := h.Ending(ctx, e.WorkOrderID)
		if err != nil {
			return false, "", err
		}
		switch {
		case end.Ended:
			return now.Sub(end.At) >= h.Retention, "work order ended at " + end.At.UTC().Format(time.RFC3339), nil
		case end.Known:
			return false, "", nil // running, or running again after a retry
		}
	}
	return now.Sub(e.LastUsed) >= h.Retention, "work order unknown to the event stream; sandbox last used at " +
		e.LastUsed.UTC().Format(time.RFC3339), nil
}

func (h *Housekeeper) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Housekeeper) log() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// startHousekeeping runs the sandbox housekeeper beside the consumer when
// AWO_SANDBOX_RETENTION is set; the returned function waits for it to stop
// after ctx is cancelled.
func (x *executor) startHousekeeping(ctx context.Context, d Deps) (wait func()) {
	if d.Config.SandboxRetention <= 0 {
		x.log.Info("sandbox housekeeping off: sandboxes are kept", "retention", d.Config.SandboxRetention)
		return func() {}
	}
	h := &Housekeeper{Sandboxes: x.sandboxes, Ending: worker.EndingReader(d.Bus), Retention: d.Config.SandboxRetention, Logger: x.log}
	if count := d.Metrics.SandboxRemovals(); count != nil {
		h.Removed = func(kind workorder.SandboxType) { count(string(kind)) }
	}
	x.log.Info("sandbox housekeeping on", "retention", h.Retention, "interval", h.Interval(), "dir", d.Config.TempDir)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	return func() { <-done }
}
