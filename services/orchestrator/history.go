package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// history is a work order's events stored after some sequence.
type history struct {
	Events []events.Event // the decodable, known ones, in stream order
	// LastSeq is the sequence of the last message read on the work order's
	// subjects, including those left out of Events.
	LastSeq uint64
}

// readHistory reads the events of wo stored after sequence after.
//
// It differs from bus.History in two ways the orchestrator depends on:
// messages of unknown type or that cannot be decoded are skipped rather than
// failing the read (the consumer wrapper skipped or dead-lettered them when
// they were delivered, so one bad message must not block the work order for
// good), and the sequence of the last message is reported even when that
// message was skipped. The guard of the next append is the last sequence on
// the work order's subjects, whatever is stored there; a state that stopped
// at the last event it understood would lose every race from then on.
func readHistory(ctx context.Context, stream jetstream.Stream, wo workorder.ID, after uint64) (history, error) {
	h := history{LastSeq: after}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.WorkOrderFilter(wo)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return h, fmt.Errorf("reading history of %s: %w", wo, err)
	}
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return h, fmt.Errorf("reading history of %s: %w", wo, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return h, fmt.Errorf("reading history of %s: %w", wo, err)
			}
			pending = meta.NumPending
			h.LastSeq = meta.Sequence.Stream
			e, err := events.Decode(msg.Headers(), msg.Data())
			if err != nil {
				continue // unknown type or undecodable: see above
			}
			e.Seq = meta.Sequence.Stream
			h.Events = append(h.Events, e)
		}
		if err := batch.Error(); err != nil {
			return h, fmt.Errorf("reading history of %s: %w", wo, err)
		}
		if n == 0 {
			return h, fmt.Errorf("reading history of %s: %d messages pending but none delivered", wo, pending)
		}
	}
	return h, nil
}
