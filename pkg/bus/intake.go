package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PullWait is how long a pull request waits on the server for a message
// before it is renewed, by every consumer of the services (and the
// benchmark's raw floor, to measure the same). A free worker always has
// one pull outstanding, so a new message is handed over at once; the wait
// only sets how often an idle consumer asks again, and how long a pull the
// server lost can hold things up.
const PullWait = 5 * time.Second

// pullRetry is the pause after a pull failed for a passing reason (a
// reconnect, a leader election), so a worker does not spin.
const pullRetry = time.Second

// consumeWhenFree is Consume for step workers. Each of the o.Workers
// goroutines pulls one message only when it is idle and runs it before
// pulling again, so a replica holds at most o.Workers un-acked messages:
// none waits in a client buffer, ack-waiting, while another replica is idle
// and could run it. Step commands need no order among themselves (the
// orchestrator dispatches one step of a work order at a time), so there is
// no OrderKey routing; Consume's batched iterator stays the fast path for
// event consumers that need it.
//
// On shutdown the outstanding pulls are abandoned at once: the client
// drops their inboxes and the server skips a pull request nobody listens
// to. A message the server sent just before it noticed is handed straight
// back (nak) when it arrives in time, else redelivered after AckWait.
func (b *Bus) consumeWhenFree(ctx context.Context, cons jetstream.Consumer, h Handler, o ConsumeOptions, log *slog.Logger) error {
	if o.OrderKey != nil {
		return fmt.Errorf("consuming %s: PullWhenFree cannot keep an OrderKey's order", o.Name)
	}
	// Handlers get a context that outlives ctx (see Consume).
	hctx := context.WithoutCancel(ctx)
	pullCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			if err := b.pullAndRun(pullCtx, hctx, cons, h, o, log); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(pullCtx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// pullAndRun is one worker: pull one message, run it, repeat until ctx is
// done or the consumer is gone.
func (b *Bus) pullAndRun(ctx, hctx context.Context, cons jetstream.Consumer, h Handler, o ConsumeOptions, log *slog.Logger) error {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, PullWait)
		msg, err := cons.Next(jetstream.FetchContext(pctx))
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			continue // nothing to do yet
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
			errors.Is(err, nats.ErrConnectionClosed):
			return fmt.Errorf("consuming %s: %w", o.Name, err)
		default:
			log.Warn("pull failed; trying again", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(pullRetry):
			}
			continue
		}
		if ctx.Err() != nil {
			// The pull was answered after shutdown began: let another
			// replica have it now.
			if err := msg.Nak(); err != nil {
				log.Warn("handing back a message pulled during shutdown failed; it is redelivered after AckWait", "err", err)
			}
			if meta, err := msg.Metadata(); err == nil {
				o.observe(int(meta.NumDelivered), OutcomeRetried)
			}
			return nil
		}
		b.handle(hctx, msg, h, o, log)
	}
	return nil
}
