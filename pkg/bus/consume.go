package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// Delivery is one decoded message handed to a Handler.
type Delivery struct {
	Event   events.Event
	Subject string
	Meta    *jetstream.MsgMetadata
	msg     jetstream.Msg
}

// NumDelivered is how many times JetStream has delivered this message,
// this delivery included.
func (d *Delivery) NumDelivered() int { return int(d.Meta.NumDelivered) }

// Handler processes one delivery. nil → ack; an error wrapped with
// Permanent → dead-letter + term; any other error → nak with backoff until
// MaxDeliver is reached, then dead-letter + term.
type Handler func(ctx context.Context, d *Delivery) error

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type rejectedError struct{ err error }

func (r rejectedError) Error() string { return r.err.Error() }
func (r rejectedError) Unwrap() error { return permanentError(r) }

// Reject marks err as a refusal of the message itself (a forged event):
// it is dead-lettered at once, like a Permanent error, but the consumer's
// OnGiveUp is not told. OnGiveUp records a visible failure of the work
// order, and a forger must not be able to fail somebody else's.
func Reject(err error) error {
	if err == nil {
		return nil
	}
	return rejectedError{err}
}

func isRejected(err error) bool {
	var r rejectedError
	return errors.As(err, &r)
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// GiveUpFunc is told about a delivery the wrapper is about to dead-letter,
// so the owner can record a visible failure (e.g. step.failed).
type GiveUpFunc func(ctx context.Context, d *Delivery, err error)

// ConsumeOptions configure Consume. Zero values take the defaults noted.
type ConsumeOptions struct {
	Name       string        // consumer name for logs and DLQ subjects (required)
	Workers    int           // handlers running at once (default 1)
	AckWait    time.Duration // the consumer's AckWait; heartbeats go every third of it (default 30s)
	MaxDeliver int           // the consumer's MaxDeliver; <=0 means unlimited
	// OrderKey, when set, routes deliveries with the same key to the same
	// worker so they are handled one at a time, in delivery order. The
	// Delivery it is given holds the subject and Event.WorkOrderID only.
	OrderKey func(*Delivery) string
	Backoff  func(delivered int) time.Duration // default: 1s·2^(n-1), at most 1 min
	OnGiveUp GiveUpFunc
	// Observe, when set, is told what became of every delivery (for
	// metrics). It runs on the worker goroutine, so it must be quick.
	Observe func(Observation)
	Logger  *slog.Logger
	// PullWhenFree pulls a message only when a worker is free to run it, so
	// a replica never holds messages another replica could be running
	// (step workers; see intake.go). It cannot be combined with OrderKey.
	PullWhenFree bool
}

// Outcome is what the wrapper did with one delivery.
type Outcome string

// Outcomes of a delivery.
const (
	OutcomeAcked        Outcome = "acked"         // handled (or acked after a failed ack, which JetStream redelivers)
	OutcomeSkipped      Outcome = "skipped"       // an unknown event type, acked without the handler
	OutcomeRetried      Outcome = "retried"       // handed back with a delay
	OutcomeDeadLettered Outcome = "dead_lettered" // copied to the DLQ and terminated
	OutcomeTerminated   Outcome = "terminated"    // not a JetStream message; dropped
)

// Observation reports one delivery's fate.
type Observation struct {
	Consumer string
	// Delivered is JetStream's delivery count; above 1 it is a redelivery.
	Delivered int
	Outcome   Outcome
}

// DefaultBackoff doubles from one second up to a minute.
func DefaultBackoff(delivered int) time.Duration {
	d := time.Second
	for i := 1; i < delivered && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// Consume runs h over the consumer's messages until ctx is cancelled, then
// stops pulling, lets running handlers finish (their context stays live
// until they return) and returns. It is the only place that acks.
func (b *Bus) Consume(ctx context.Context, cons jetstream.Consumer, h Handler, o ConsumeOptions) error {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger.With("consumer", o.Name)
	if o.PullWhenFree {
		return b.consumeWhenFree(ctx, cons, h, o, log)
	}
	return b.consumeBatched(ctx, cons, h, o, log)
}

// consumeBatched is Consume for event consumers: one batched iterator, its
// messages spread over the workers (by OrderKey when set).
func (b *Bus) consumeBatched(ctx context.Context, cons jetstream.Consumer, h Handler, o ConsumeOptions, log *slog.Logger) error {
	// Pull requests expire after PullWait and are renewed: a pull the
	// server lost under load then stalls a hand-off for seconds, not the
	// default half minute.
	it, err := cons.Messages(jetstream.PullMaxMessages(o.Workers), jetstream.PullExpiry(PullWait))
	if err != nil {
		return fmt.Errorf("consuming %s: %w", o.Name, err)
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// Drain: stop pulling, hand out what is buffered.
			it.Drain()
		case <-stopped:
		}
	}()

	// Handlers get a context that outlives ctx: a shutdown lets the work in
	// hand finish instead of abandoning it half-done.
	hctx := context.WithoutCancel(ctx)
	queues := make([]chan jetstream.Msg, o.Workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan jetstream.Msg)
		wg.Add(1)
		go func(q chan jetstream.Msg) {
			defer wg.Done()
			for msg := range q {
				b.handle(hctx, msg, h, o, log)
			}
		}(queues[i])
	}

	next := 0
	var loopErr error
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
			// A report, not an end: the iterator pulls again by itself (a
			// slow or restarting server). Stopping here took a whole
			// service down after a quiet half minute.
			log.Warn("no heartbeat from the server for a while; still consuming", "consumer", o.Name)
			continue
		}
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() == nil {
				loopErr = fmt.Errorf("consuming %s: %w", o.Name, err)
			}
			break
		}
		i := next
		if o.OrderKey != nil {
			i = int(keyHash(orderKeyOf(msg, o.OrderKey)) % uint32(o.Workers))
		} else {
			next = (next + 1) % o.Workers
		}
		queues[i] <- msg
	}
	close(stopped)
	it.Stop()
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	return loopErr
}

func orderKeyOf(msg jetstream.Msg, key func(*Delivery) string) string {
	// The key functions in use look at the work-order id only: the
	// Delivery they get holds the subject and that id, read from its
	// header alone (the handler decodes the whole event once).
	d := &Delivery{Subject: msg.Subject(), msg: msg, Event: events.Event{WorkOrderID: events.WorkOrderOf(msg.Headers())}}
	return key(d)
}

func keyHash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func (b *Bus) handle(ctx context.Context, msg jetstream.Msg, h Handler, o ConsumeOptions, log *slog.Logger) {
	meta, err := msg.Metadata()
	if err != nil {
		log.Error("message without JetStream metadata; terminating it", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		o.observe(0, OutcomeTerminated)
		return
	}
	d := &Delivery{Subject: msg.Subject(), Meta: meta, msg: msg}
	e, err := decodeStored(msg.Headers(), msg.Data(), meta.Sequence.Stream)
	switch {
	case errors.Is(err, events.ErrUnknownType):
		log.Warn("skipping event of unknown type", "type", e.Type, "subject", msg.Subject(), "seq", meta.Sequence.Stream)
		_ = msg.Ack()
		o.observe(d.NumDelivered(), OutcomeSkipped)
		return
	case err != nil:
		b.giveUp(ctx, d, Permanent(fmt.Errorf("undecodable message: %w", err)), o, log)
		return
	}
	d.Event = e
	log = log.With("work_order_id", string(e.WorkOrderID), "type", events.ShortName(e.Type), "seq", e.Seq)

	ctx, span := traceDelivery(ctx, o.Name, d)
	log = tracing.Logger(ctx, log)
	herr := runWithHeartbeat(ctx, msg, o.AckWait/3, func() error { return h(ctx, d) })
	defer endDelivery(span, herr)
	switch {
	case herr == nil:
		ack := msg.Ack
		if o.PullWhenFree {
			// Confirmed before the worker pulls again, so the server never
			// counts a finished step and the next one against one worker.
			ack = func() error { return msg.DoubleAck(ctx) }
		}
		if err := ack(); err != nil {
			log.Warn("ack failed; the message will be redelivered", "err", err)
		}
		o.observe(d.NumDelivered(), OutcomeAcked)
	case IsPermanent(herr) || (o.MaxDeliver > 0 && d.NumDelivered() >= o.MaxDeliver):
		b.giveUp(ctx, d, herr, o, log)
	default:
		delay := o.Backoff(d.NumDelivered())
		log.Warn("handler failed; will retry", "err", herr, "delivered", d.NumDelivered(), "retry_in", delay)
		if err := msg.NakWithDelay(delay); err != nil {
			log.Warn("nak failed; the message will be redelivered after AckWait", "err", err)
		}
		o.observe(d.NumDelivered(), OutcomeRetried)
	}
}

func (o ConsumeOptions) observe(delivered int, outcome Outcome) {
	if o.Observe != nil {
		o.Observe(Observation{Consumer: o.Name, Delivered: delivered, Outcome: outcome})
	}
}

// runWithHeartbeat tells JetStream the message is still being worked on, so
// a long agent step is not redelivered while it is healthy.
func runWithHeartbeat(ctx context.Context, msg jetstream.Msg, every time.Duration, f func() error) error {
	if every <= 0 {
		return f()
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return f()
}

// Header names added to dead-lettered messages.
const (
	HeaderDLQError     = "Awo-Dlq-Error"
	HeaderDLQConsumer  = "Awo-Dlq-Consumer"
	HeaderDLQDelivered = "Awo-Dlq-Delivered"
	HeaderDLQSubject   = "Awo-Dlq-Subject"
	HeaderDLQSequence  = "Awo-Dlq-Sequence"
)

func (b *Bus) giveUp(ctx context.Context, d *Delivery, cause error, o ConsumeOptions, log *slog.Logger) {
	log.Error("giving up on message; dead-lettering it", "subject", d.Subject, "delivered", d.NumDelivered(), "err", cause)
	if o.OnGiveUp != nil && d.Event.Type != "" && !isRejected(cause) {
		o.OnGiveUp(ctx, d, cause)
	}
	dl := DLQCopy(o.Name, d.Subject, d.msg.Headers(), d.msg.Data(), cause, d.NumDelivered(), d.Meta.Sequence.Stream)
	if _, err := b.JS.PublishMsg(ctx, dl); err != nil {
		// Without the DLQ copy, terminating would lose the message: leave it
		// to be redelivered instead.
		log.Error("dead-letter publish failed; leaving message for redelivery", "err", err)
		_ = d.msg.NakWithDelay(o.Backoff(d.NumDelivered()))
		o.observe(d.NumDelivered(), OutcomeRetried)
		return
	}
	if err := d.msg.TermWithReason(textcut.Bytes(redact.Or(b.Redactor).String(cause.Error()), 200, "")); err != nil {
		log.Warn("term failed", "err", err)
	}
	o.observe(d.NumDelivered(), OutcomeDeadLettered)
}
