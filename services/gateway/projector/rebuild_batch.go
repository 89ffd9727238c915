package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

// rebuildBatch is how many events a rebuild hands a readmodel.BatchApplier
// at once: a Postgres rebuild then commits once per batch instead of once
// per event (measured: bench/cmd/history, docs/performance.md).
const rebuildBatch = 500

// batch gathers a rebuild's events for a store that applies many at once,
// and applies them one at a time for a store that does not, or when the
// store says a batch must be (readmodel.ErrNotBatchable).
type batch struct {
	js      jetstream.JetStream
	store   readmodel.Store
	batcher readmodel.BatchApplier
	log     *slog.Logger
	r       Rejections
	stats   *RebuildStats
	pending []pendingEvent
}

type pendingEvent struct {
	msg jetstream.Msg
	e   events.Event
	log *slog.Logger
}

func newBatch(js jetstream.JetStream, store readmodel.Store, log *slog.Logger, r Rejections, stats *RebuildStats) *batch {
	b := &batch{js: js, store: store, log: log, r: r, stats: stats}
	b.batcher, _ = store.(readmodel.BatchApplier)
	return b
}

func (b *batch) add(ctx context.Context, msg jetstream.Msg, e events.Event, log *slog.Logger) error {
	b.pending = append(b.pending, pendingEvent{msg: msg, e: e, log: log})
	if b.batcher != nil && len(b.pending) < rebuildBatch {
		return nil
	}
	return b.flush(ctx)
}

// flush applies the pending events.
func (b *batch) flush(ctx context.Context) error {
	defer func() { b.pending = b.pending[:0] }()
	if len(b.pending) == 0 {
		return nil
	}
	if b.batcher != nil && len(b.pending) > 1 {
		evs := make([]events.Event, len(b.pending))
		for i, p := range b.pending {
			evs[i] = p.e
		}
		err := b.batcher.ApplyBatch(ctx, evs)
		if err == nil {
			return nil
		}
		if !errors.Is(err, readmodel.ErrNotBatchable) {
			return err
		}
	}
	for _, p := range b.pending {
		out, err := apply(ctx, b.js, b.store, p.log, p.msg, p.e, b.r)
		if err != nil {
			return fmt.Errorf("applying %s: %w", events.ShortName(p.e.Type), err)
		}
		if out == refused {
			b.stats.Rejected++
		}
		if out != applied {
			b.stats.Skipped++
		}
	}
	return nil
}
