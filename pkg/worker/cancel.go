package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrWorkOrderCancelled is the cause of a step context cancelled because
// its work order was cancelled (see CancelledError).
var ErrWorkOrderCancelled = errors.New("the work order was cancelled")

// CancelledError carries the reason a work order was cancelled; it wraps
// ErrWorkOrderCancelled.
type CancelledError struct{ Reason string }

func (e *CancelledError) Error() string {
	if e.Reason == "" {
		return ErrWorkOrderCancelled.Error()
	}
	return fmt.Sprintf("%v: %s", ErrWorkOrderCancelled, e.Reason)
}

func (e *CancelledError) Unwrap() error { return ErrWorkOrderCancelled }

// cancelledSubject matches workorder.cancelled of every work order.
var cancelledSubject = bus.EventSubject("*", events.TypeCancelled)

// OnCancelledFunc runs after a work order was cancelled and every step of it
// this worker had in hand has ended; no new step of it starts meanwhile.
type OnCancelledFunc func(ctx context.Context, wo workorder.ID, c events.Cancelled, log *slog.Logger)

// cancelWatch is a worker's view of its steps in hand per work order, so
// that a workorder.cancelled event stops them and the clean-up after it
// waits for them.
type cancelWatch struct {
	mu       sync.Mutex
	idle     *sync.Cond // signalled when a step ends
	next     uint64
	steps    map[workorder.ID]map[uint64]context.CancelCauseFunc
	cleaning map[workorder.ID]chan struct{} // closed when the clean-up is done
}

func newCancelWatch() *cancelWatch {
	w := &cancelWatch{
		steps:    map[workorder.ID]map[uint64]context.CancelCauseFunc{},
		cleaning: map[workorder.ID]chan struct{}{},
	}
	w.idle = sync.NewCond(&w.mu)
	return w
}

// begin registers a step of wo and returns its context, which a
// cancellation of wo cancels with a *CancelledError. It first waits for a
// clean-up of wo in progress, so a step never runs in a sandbox being
// removed. end must be called when the step is over.
func (w *cancelWatch) begin(ctx context.Context, wo workorder.ID) (context.Context, func(), error) {
	w.mu.Lock()
	for {
		ch, busy := w.cleaning[wo]
		if !busy {
			break
		}
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	sctx, cancel := context.WithCancelCause(ctx)
	w.next++
	id := w.next
	if w.steps[wo] == nil {
		w.steps[wo] = map[uint64]context.CancelCauseFunc{}
	}
	w.steps[wo][id] = cancel
	return sctx, func() {
		w.mu.Lock()
		delete(w.steps[wo], id)
		if len(w.steps[wo]) == 0 {
			delete(w.steps, wo)
		}
		w.mu.Unlock()
		w.idle.Broadcast()
		cancel(nil)
	}, nil
}

// stop cancels wo's steps in hand with cause and, while clean runs, holds
// back new steps of wo until those in hand have ended. clean may be nil.
func (w *cancelWatch) stop(wo workorder.ID, cause error, clean func()) {
	w.mu.Lock()
	for _, cancel := range w.steps[wo] {
		cancel(cause)
	}
	if clean == nil {
		w.mu.Unlock()
		return
	}
	for {
		ch, busy := w.cleaning[wo]
		if !busy {
			break
		}
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
	done := make(chan struct{})
	w.cleaning[wo] = done
	for len(w.steps[wo]) > 0 {
		w.idle.Wait()
	}
	w.mu.Unlock()

	clean()

	w.mu.Lock()
	delete(w.cleaning, wo)
	close(done)
	w.mu.Unlock()
}

// watchCancellations subscribes (core NATS, no consumer) to every
// workorder.cancelled and stops the steps in hand of that work order, then
// runs onCancelled, unless a retry has been requested since. The returned
// function unsubscribes and waits for clean-ups in progress.
func watchCancellations(ctx context.Context, b *bus.Bus, w *cancelWatch, onCancelled OnCancelledFunc, log *slog.Logger) (func(), error) {
	var wg sync.WaitGroup
	sub, err := b.JS.Conn().Subscribe(cancelledSubject, func(msg *nats.Msg) {
		e, err := events.Decode(msg.Header, msg.Data)
		if err != nil {
			log.Warn("ignoring an undecodable workorder.cancelled", "subject", msg.Subject, "err", err)
			return
		}
		c, _ := e.Data.(*events.Cancelled)
		if c == nil {
			c = &events.Cancelled{}
		}
		wlog := log.With("work_order_id", string(e.WorkOrderID))
		var clean func()
		if onCancelled != nil {
			clean = func() {
				// A retry requested meanwhile owns the sandbox again.
				if still, err := Cancelled(ctx, b, e.WorkOrderID); err != nil || !still {
					wlog.Info("not cleaning up after the cancel: retried since, or unknown", "err", err)
					return
				}
				onCancelled(ctx, e.WorkOrderID, *c, wlog)
			}
		}
		wg.Add(1)
		// Off the subscription's goroutine: waiting for steps to end must
		// not hold up other work orders' cancellations.
		go func() {
			defer wg.Done()
			w.stop(e.WorkOrderID, &CancelledError{Reason: c.Reason}, clean)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", cancelledSubject, err)
	}
	// The subscription must be registered with the server before the first
	// command is taken, or a cancel published right then would be missed.
	if err := b.JS.Conn().Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribing to %s: %w", cancelledSubject, err)
	}
	return func() {
		_ = sub.Unsubscribe()
		wg.Wait()
	}, nil
}

// watchCancel registers each step with w before anything checks that its
// command may run, so a cancel that arrives after the check still stops
// the step: next runs under a context the cancel cancels.
func watchCancel(w *cancelWatch) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
			cmdCtx, end, err := w.begin(ctx, cmd.WorkOrderID)
			if err != nil {
				return events.StepResult{}, err
			}
			defer end()
			return next(cmdCtx, cmd, log)
		}
	}
}

// recordStop records the outcome of a step its work order's cancel
// stopped, "stopped: <cause>", and settles the command (errStopped): it is
// not handed back, since nothing of a cancelled work order runs again
// unless it is retried, which sends a new command. The stop is recorded so
// the step history shows where the work order ended.
func recordStop(s steps) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
			res, err := next(ctx, cmd, log)
			cause := context.Cause(ctx)
			if !errors.Is(cause, ErrWorkOrderCancelled) {
				return res, err
			}
			res = events.StepResult{ErrorMessage: "stopped: " + cause.Error(), DurationSeconds: res.DurationSeconds}
			if err := s.finish(context.WithoutCancel(ctx), cmd, res, 0); err != nil {
				log.Warn("recording the stopped step", "err", err)
			}
			log.Info("step stopped: its work order was cancelled", "cause", cause)
			return res, errStopped
		}
	}
}
