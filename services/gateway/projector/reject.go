package projector

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
)

// Rejections counts the events the read store refused as data;
// *metrics.Metrics is one (awo_projection_rejected_total).
type Rejections interface {
	ProjectionRejected()
}

// DLQConsumer names the projector in WORKORDERS_DLQ: its copies go to
// workorders.dlq.projector.<work order id>, with Awo-Dlq-Consumer set to it.
const DLQConsumer = "projector"

// dlqAttempts bounds the tries to dead-letter one refused event. The event
// is skipped either way: it stays in WORKORDERS_EVENTS at its sequence and
// the log line says so, whereas waiting for a DLQ that refuses this
// process (a NATS permission missing) would stall the projection as the
// poison itself did.
const dlqAttempts = 5

// reject handles an event the store refused as data (readmodel.ErrRejected)
// after the store has recorded it as applied: it is counted, logged with
// its work order and dead-lettered with the reason, and then skipped.
//
// The store's checkpoint moves before the DLQ copy is written, so a crash
// in between leaves no DLQ copy (the log line and the event in
// WORKORDERS_EVENTS remain); the other order would need the store to
// expose its checkpoint, and would dead-letter the event again after
// such a crash anyway.
func reject(ctx context.Context, js jetstream.JetStream, log *slog.Logger, msg jetstream.Msg, e events.Event, cause error, r Rejections) {
	if r != nil {
		r.ProjectionRejected()
	}
	log.Error("the read store refused an event as data; dead-lettering and skipping it",
		"type", events.ShortName(e.Type), "dlq", bus.StreamDLQ, "err", cause)
	delay := minRetry
	for attempt := 1; ; attempt++ {
		err := bus.DeadLetter(ctx, js, DLQConsumer, msg, e.Seq, cause)
		if err == nil {
			return
		}
		if attempt == dlqAttempts || ctx.Err() != nil {
			log.Error("could not dead-letter the refused event; skipped anyway, it stays in the event stream",
				"type", events.ShortName(e.Type), "stream", bus.StreamEvents, "err", err)
			return
		}
		if !sleep(ctx, delay) {
			return
		}
		delay = min(delay*2, time.Second)
	}
}
