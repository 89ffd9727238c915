package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// LastEvent returns the newest stored event of type typ about wo, read with
// a direct get (no consumer); ok is false when there is none.
func (b *Bus) LastEvent(ctx context.Context, wo workorder.ID, typ string) (e events.Event, ok bool, err error) {
	msg, err := b.LastMsg(ctx, EventSubject(wo, typ))
	if err != nil || msg == nil {
		return events.Event{}, false, err
	}
	e, err = decodeStored(msg.Header, msg.Data, msg.Sequence)
	if err != nil {
		return events.Event{}, false, fmt.Errorf("decoding the last %s of %s: %w", events.ShortName(typ), wo, err)
	}
	return e, true, nil
}

// LastMsg is the last message stored on subject (a filter with wildcards
// too) of the events stream, nil when there is none: one direct get.
func (b *Bus) LastMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
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
