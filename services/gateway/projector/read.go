package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

// readEvents reads WORKORDERS_EVENTS after sequence after (0: from the
// first) through an ordered consumer, which keeps no state on the server,
// and hands each message to each until each says it is done or fails, or
// the stream cannot be read. idle is called when nothing is pending at the
// start; readEvents returns nil at once if it answers true.
//
// The projector and the rebuild both read with it.
func readEvents(ctx context.Context, js jetstream.JetStream, after uint64, idle func() bool,
	each func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (done bool, err error)) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.AllEvents},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, cfg)
	if err != nil {
		return fmt.Errorf("creating ordered consumer on %s: %w", bus.StreamEvents, err)
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 && idle() {
		return nil
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("reading %s: %w", bus.StreamEvents, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("reading %s: %w", bus.StreamEvents, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			// An ordered consumer only hands out JetStream messages; this
			// is a broken invariant, not a message to skip silently.
			return fmt.Errorf("reading %s: message without metadata: %w", bus.StreamEvents, err)
		}
		if done, err := each(msg, meta); done || err != nil {
			return err
		}
	}
}

// decode turns a stream message into an event with its sequence set, and
// returns a logger carrying its work order. ok is false for a message to
// skip: an unknown type (written by a newer version) or an undecodable
// one, both logged.
func decode(log *slog.Logger, msg jetstream.Msg, seq uint64) (e events.Event, _ *slog.Logger, ok bool) {
	e, err := events.Decode(msg.Headers(), msg.Data())
	log = log.With("work_order_id", string(e.WorkOrderID), "seq", seq, "subject", msg.Subject())
	switch {
	case errors.Is(err, events.ErrUnknownType):
		log.Debug("skipping event of unknown type", "type", e.Type)
		return e, log, false
	case err != nil:
		log.Warn("skipping undecodable event", "err", err)
		return e, log, false
	}
	e.Seq = seq
	return e, log, true
}

// outcome is what became of an event offered to the read store.
type outcome int

const (
	failed outcome = iota // the store failed: see the error
	applied
	unfoldable // the read model cannot fold it: logged and skipped
	refused    // the store refused it as data: dead-lettered and skipped
)

// apply offers e, read from msg, to store once. The error is the store
// failing, for the caller to retry or give up on; an event the read model
// cannot fold and one the store refuses as data (readmodel.ErrRejected,
// see reject) are skipped and are no error, since retrying them would stall
// the projection for good.
func apply(ctx context.Context, js jetstream.JetStream, store readmodel.Store, log *slog.Logger,
	msg jetstream.Msg, e events.Event, r Rejections) (outcome, error) {
	err := store.Apply(ctx, e)
	switch {
	case err == nil:
		return applied, nil
	case errors.Is(err, readmodel.ErrInvalidEvent):
		log.Warn("skipping event the read model cannot fold", "type", events.ShortName(e.Type), "err", err)
		return unfoldable, nil
	case errors.Is(err, readmodel.ErrRejected):
		// The store has moved its checkpoint past the event already.
		reject(ctx, js, log, msg, e, err, r)
		return refused, nil
	}
	return failed, err
}
