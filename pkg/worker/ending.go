package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Ending is what the event stream says about whether a work order has
// ended.
type Ending struct {
	// Known: the stream holds events of the work order. Events older than
	// the stream's max age are gone, so an old work order may be unknown.
	Known bool
	// Ended: its latest terminal event (completed, failed, cancelled) is
	// newer than its latest retry request.
	Ended bool
	At    time.Time // when that terminal event was stored; zero unless Ended
}

// ReadEnding reads a work order's last terminal and retry events directly
// from the stream (one direct get per subject), without replaying its
// history.
func ReadEnding(ctx context.Context, b *bus.Bus, wo workorder.ID) (Ending, error) {
	last := func(subject string) (*jetstream.RawStreamMsg, error) {
		m, err := b.LastMsg(ctx, subject)
		if err != nil {
			return nil, fmt.Errorf("reading whether %s ended: %w", wo, err)
		}
		return m, nil
	}
	var end Ending
	var endSeq uint64
	for _, typ := range []string{events.TypeCompleted, events.TypeFailed, events.TypeCancelled} {
		m, err := last(bus.EventSubject(wo, typ))
		if err != nil {
			return Ending{}, err
		}
		if m != nil && m.Sequence > endSeq {
			endSeq, end.At = m.Sequence, m.Time
		}
	}
	retry, err := last(bus.EventSubject(wo, events.TypeRetryRequested))
	if err != nil {
		return Ending{}, err
	}
	switch {
	case retry != nil && retry.Sequence > endSeq:
		return Ending{Known: true}, nil
	case endSeq > 0:
		end.Known, end.Ended = true, true
		return end, nil
	}
	latest, err := last(bus.WorkOrderFilter(wo))
	if err != nil {
		return Ending{}, err
	}
	return Ending{Known: latest != nil}, nil
}

// EndingReader is ReadEnding on b, for whoever takes it as a function (the
// executor's sandbox housekeeping).
func EndingReader(b *bus.Bus) func(context.Context, workorder.ID) (Ending, error) {
	return func(ctx context.Context, wo workorder.ID) (Ending, error) { return ReadEnding(ctx, b, wo) }
}
