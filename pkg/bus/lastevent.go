package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrNoEvent means a work order has no event of the type asked for.
var ErrNoEvent = errors.New("no such event")

// LastEvent returns the last event of type typ recorded for work order wo,
// with its stream sequence, or ErrNoEvent. It is one direct get, for the
// rare question about a single event; History reads a whole work order.
func (b *Bus) LastEvent(ctx context.Context, wo workorder.ID, typ string) (events.Event, error) {
	st, err := b.JS.Stream(ctx, StreamEvents)
	if err != nil {
		return events.Event{}, fmt.Errorf("reading %s of %s: %w", events.ShortName(typ), wo, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, EventSubject(wo, typ))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.Event{}, fmt.Errorf("%s of %s: %w", events.ShortName(typ), wo, ErrNoEvent)
	}
	if err != nil {
		return events.Event{}, fmt.Errorf("reading %s of %s: %w", events.ShortName(typ), wo, err)
	}
	e, err := events.Decode(m.Header, m.Data)
	if err != nil {
		return events.Event{}, fmt.Errorf("decoding %s of %s: %w", events.ShortName(typ), wo, err)
	}
	e.Seq = m.Sequence
	return e, nil
}
