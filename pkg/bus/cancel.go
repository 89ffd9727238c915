package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
var cancelledSubject = EventSubject("*", events.TypeCancelled)

// LastEvent returns the newest stored event of type typ about wo, read with
// a direct get (no consumer); ok is false when there is none.
func (b *Bus) LastEvent(ctx context.Context, wo workorder.ID, typ string) (e events.Event, ok bool, err error) {
	msg, err := b.lastMsg(ctx, EventSubject(wo, typ))
	if err != nil || msg == nil {
		return events.Event{}, false, err
	}
	e, err = decodeStored(msg.Header, msg.Data, msg.Sequence)
	if err != nil {
		return events.Event{}, false, fmt.Errorf("decoding the last %s of %s: %w", events.ShortName(typ), wo, err)
	}
	return e, true, nil
}

// lastMsg is the last message stored on subject of the events stream, nil
// when there is none: one direct get.
func (b *Bus) lastMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	stream, err := b.eventsStream(ctx)
	if err != nil {
		return nil, err
	}
	msg, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the last message on %s: %w", subject, err)
	}
	return msg, nil
}

// eventsStream is the events stream's handle, looked up on first use: its
// cached config tells the client to use direct gets, so a read is then one
// round trip.
func (b *Bus) eventsStream(ctx context.Context) (jetstream.Stream, error) {
	b.eventsMu.Lock()
	defer b.eventsMu.Unlock()
	if b.events == nil {
		s, err := b.JS.Stream(ctx, StreamEvents)
		if err != nil {
			return nil, fmt.Errorf("opening stream %s: %w", StreamEvents, err)
		}
		b.events = s
	}
	return b.events, nil
}

// Cancelled reports whether wo stands cancelled: its latest
// workorder.cancelled is newer than its latest retry request. Two direct
// gets, cheap enough to ask before every step.
func (b *Bus) Cancelled(ctx context.Context, wo workorder.ID) (bool, error) {
	c, ok, err := b.LastEvent(ctx, wo, events.TypeCancelled)
	if err != nil || !ok {
		return false, err
	}
	r, ok, err := b.LastEvent(ctx, wo, events.TypeRetryRequested)
	if err != nil {
		return false, err
	}
	return !ok || c.Seq > r.Seq, nil
}

// stale says why cmd must not run, or "" when it may: its work order stands
// cancelled, a later dispatch superseded it (a command left in the queue by
// a cancel, then overtaken by the retry's new attempt, must not run beside
// it in the same sandbox), or it has already completed (its worker died
// between recording the result and acking: running it again would redo the
// step on top of its own work, maybe beside the next step).
func (b *Bus) stale(ctx context.Context, cmd events.RunStep) (string, error) {
	cancelled, err := b.Cancelled(ctx, cmd.WorkOrderID)
	if err != nil || cancelled {
		return "its work order is cancelled", err
	}
	last, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeStepDispatched)
	if err != nil || !ok {
		return "", err
	}
	if d, _ := last.Data.(*events.StepDispatched); d != nil && (d.Step != cmd.Step || d.Attempt != cmd.Attempt) {
		return fmt.Sprintf("superseded by the dispatch of %s attempt %d", d.Step, d.Attempt), nil
	}
	done, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeStepCompleted)
	if err != nil || !ok {
		return "", err
	}
	if r, _ := done.Data.(*events.StepResult); r != nil && r.Step == cmd.Step && r.Attempt == cmd.Attempt {
		return "it has already completed", nil
	}
	return "", nil
}

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
func (b *Bus) watchCancellations(ctx context.Context, w *cancelWatch, onCancelled OnCancelledFunc, log *slog.Logger) (func(), error) {
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
				if still, err := b.Cancelled(ctx, e.WorkOrderID); err != nil || !still {
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
