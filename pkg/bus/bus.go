package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrConflict means a publish guarded by the expected last sequence of a
// work order's subjects lost the race: someone else appended first. The
// caller reloads the work order and decides again.
var ErrConflict = errors.New("work order changed concurrently")

// jsErrWrongLastSequence is JetStream's error code for a failed
// expected-last-sequence check. (A replicated stream answers 10164 instead
// when another append on the same subjects is still being agreed on, even
// one already acknowledged: that is not an answer yet, see IsTransient.)
const jsErrWrongLastSequence = 10071

// isWrongLastSequence reports whether err is a failed guard.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrWrongLastSequence
}

// Bus publishes and reads CloudEvents on JetStream.
type Bus struct {
	JS     jetstream.JetStream
	Source string // CloudEvents source of everything this process publishes

	eventsMu sync.Mutex
	events   jetstream.Stream // WORKORDERS_EVENTS, looked up once for direct gets

	// Redactor removes secrets from every event's data before it is
	// published (see publish); nil is redact.Default().
	Redactor *redact.Redactor
}

// New returns a Bus whose events carry source as their CloudEvents source,
// e.g. "awo/executor".
func New(js jetstream.JetStream, source string) *Bus {
	return &Bus{JS: js, Source: source}
}

// Event builds an event from this bus's source.
func (b *Bus) Event(id, typ string, wo workorder.ID, data any) events.Event {
	return events.New(id, typ, b.Source, wo, time.Now(), data)
}

// PublishEvent appends e to the work order's event subjects. With guard
// set, the append only succeeds if the last event of the work order still
// has sequence *guard (0: no event yet); otherwise ErrConflict.
// It returns the stream sequence of the stored event.
func (b *Bus) PublishEvent(ctx context.Context, e events.Event, guard *uint64) (uint64, error) {
	ack, err := b.Append(ctx, e, guard)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// Append is PublishEvent with the stream's whole answer: Duplicate says
// e's id was already stored (inside the duplicate window), in which case
// the guard was not checked and Sequence is the earlier copy's.
func (b *Bus) Append(ctx context.Context, e events.Event, guard *uint64) (*jetstream.PubAck, error) {
	var opts []jetstream.PublishOpt
	if guard != nil {
		opts = append(opts, jetstream.WithExpectLastSequenceForSubject(*guard, WorkOrderFilter(e.WorkOrderID)))
	}
	return b.publish(ctx, EventSubject(e.WorkOrderID, e.Type), e, opts...)
}

// Publish stores e on subject, unguarded: a command on the commands
// stream, whose subject names the service that takes it. An event id seen
// inside the duplicate window is dropped by JetStream.
func (b *Bus) Publish(ctx context.Context, subject string, e events.Event) error {
	_, err := b.publish(ctx, subject, e)
	return err
}

func (b *Bus) publish(ctx context.Context, subject string, e events.Event, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	stampTrace(ctx, &e)
	msg, err := events.Encode(e, subject)
	if err != nil {
		return nil, err
	}
	// Every event of the process passes here, so this is where secrets are
	// taken out: a step's output or error, a user's request, a reason. The
	// encoded JSON is redacted string by string, whatever its escaping.
	msg.Data = redact.Or(b.Redactor).JSON(msg.Data)
	// Every attempt sends the same Nats-Msg-Id (the event's id): when an
	// attempt was stored but its answer lost in an election, the stream
	// answers the next one as a duplicate with the first one's sequence,
	// before it checks a guard, so a retried guarded append cannot fail
	// on its own earlier copy, and nothing is stored twice.
	//
	// A single server checks a guard before the message id, though: there
	// a retried guarded append that meets its own earlier copy fails its
	// guard, so it looks for that copy before calling it a conflict.
	var ack *jetstream.PubAck
	err = retryTransient(ctx, func(ctx context.Context, retried bool) error {
		var err error
		ack, err = b.JS.PublishMsg(ctx, msg, opts...)
		if retried && isWrongLastSequence(err) {
			if stored, ok := b.ownCopy(ctx, msg); ok {
				ack, err = stored, nil
			}
		}
		return err
	})
	if err != nil {
		if isWrongLastSequence(err) {
			return nil, fmt.Errorf("publishing %s for %s: %w", events.ShortName(e.Type), e.WorkOrderID, ErrConflict)
		}
		if IsStreamFull(err) {
			return nil, fmt.Errorf("publishing %s to %s: %w: %w", events.ShortName(e.Type), subject, ErrStreamFull, err)
		}
		return nil, fmt.Errorf("publishing %s to %s: %w", events.ShortName(e.Type), subject, err)
	}
	return ack, nil
}

// storedCopyTimeout bounds ownCopy's read, which runs on a context of its
// own.
const storedCopyTimeout = 2 * time.Second

// ownCopy is storedCopy for a retried append that failed its guard. The
// attempt's context may be spent by then (a burst of appends), so the read
// gets its own: otherwise an append that was stored would be answered as a
// conflict, and the gateway would answer 409 "already exists" for the work
// order its own request created.
func (b *Bus) ownCopy(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, bool) {
	return b.storedCopy(context.WithoutCancel(ctx), msg)
}

// storedCopy is the answer the stream would have given to msg, when the
// last message on msg's subject is msg itself (the same Nats-Msg-Id).
func (b *Bus) storedCopy(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, bool) {
	ctx, cancel := context.WithTimeout(ctx, storedCopyTimeout)
	defer cancel()
	id := msg.Header.Get(nats.MsgIdHdr)
	last, err := b.LastMsg(ctx, msg.Subject)
	if id == "" || err != nil || last == nil || last.Header.Get(nats.MsgIdHdr) != id {
		return nil, false
	}
	return &jetstream.PubAck{Stream: StreamEvents, Sequence: last.Sequence, Duplicate: true}, true
}

// decodeStored decodes a message read from the events stream at seq: the
// event with its sequence and, when its append was guarded, Prev. On an
// error it returns what Decode could read (the type of an unknown event).
func decodeStored(h nats.Header, data []byte, seq uint64) (events.Event, error) {
	e, err := events.Decode(h, data)
	if err != nil {
		return e, err
	}
	e.Seq = seq
	if prev, ok := guardOf(h, e.WorkOrderID); ok {
		e.Prev = &prev
	}
	return e, nil
}

// guardOf is the sequence an event's append was guarded by, read from the
// stored message's headers: JetStream keeps the expected-last-sequence
// headers it checked, so a message stored with them proves that the work
// order's event before it had that sequence. ok is false for an unguarded
// append, or one guarded on anything but the work order's subjects.
func guardOf(h nats.Header, wo workorder.ID) (seq uint64, ok bool) {
	v := h.Get(jetstream.ExpectedLastSubjSeqHeader)
	if v == "" || h.Get(jetstream.ExpectedLastSubjSeqSubjHeader) != WorkOrderFilter(wo) {
		return 0, false
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	return seq, err == nil
}

// History is a work order's events stored after some sequence.
type History struct {
	Events []events.Event // the decodable events of known types, in stream order
	// LastSeq is the sequence of the last message on the work order's
	// subjects, including any left out of Events. It is the guard for the
	// next append: a state that stopped at the last event it understood
	// would lose every race from then on.
	LastSeq uint64
}

// History returns the events of one work order stored after sequence
// after, each with its stream sequence. Messages of unknown type or that
// cannot be decoded are skipped rather than failing the read: the consumer
// wrapper skipped or dead-lettered them when they were delivered, and one
// bad message must not block a work order for good.
func (b *Bus) History(ctx context.Context, wo workorder.ID, after uint64) (History, error) {
	h := History{LastSeq: after}
	err := b.Read(ctx, StreamEvents, []string{WorkOrderFilter(wo)}, after, func(m Message) {
		h.LastSeq = m.Seq
		e, err := decodeStored(m.Header, m.Data, m.Seq)
		if err != nil {
			return // unknown type or undecodable: see above
		}
		h.Events = append(h.Events, e)
	})
	if err != nil {
		return h, fmt.Errorf("reading history of %s: %w", wo, err)
	}
	return h, nil
}

// OneShotThreshold is the inactivity threshold of the ordered consumers
// made for a single read. The server keeps an idle ordered consumer for 5
// minutes by default and allows 1000 consumers per stream, so a busy
// orchestrator reading histories would run out within minutes.
const OneShotThreshold = 15 * time.Second

// DropConsumer deletes a consumer made for one read or one viewer once it
// is done with, so the server does not keep it until its threshold. It is
// best effort: the threshold is the backstop.
func DropConsumer(js jetstream.JetStream, stream string, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || info.Name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = js.DeleteConsumer(ctx, stream, info.Name)
}
