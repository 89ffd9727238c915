package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/textcut"
)

// target is one receiver and its consumer.
type target struct {
	s        *Sender
	url      string // as configured; never logged
	host     string // the metrics label and what logs name
	shown    string // the URL without user information or query, for dead letters
	consumer string
	client   *http.Client
	log      *slog.Logger
}

// run creates (or resumes) the consumer and delivers its events one at a
// time until ctx is cancelled.
func (t *target) run(ctx context.Context) error {
	cons, err := t.ensureConsumer(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("webhook to %s: %w", t.host, err)
	}
	t.s.o.Metrics.WatchConsumer(t.s.o.Bus.JS, bus.StreamEvents, t.consumer)
	it, err := cons.Messages(jetstream.PullMaxMessages(1), jetstream.PullExpiry(bus.PullWait))
	if err != nil {
		return fmt.Errorf("webhook to %s: %w", t.host, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	t.log.Info("sending webhooks", "events", len(t.s.o.Config.Events))
	for {
		msg, err := it.Next()
		switch {
		case err == nil:
			t.handle(ctx, msg)
		case errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			t.log.Warn("no heartbeat from the server for a while; still consuming")
		default:
			it.Stop()
			return fmt.Errorf("webhook to %s: %w", t.host, err)
		}
	}
}

// consumer_ creates or updates the consumer, trying again for a minute:
// at start the stream may be in a leader election or not made yet by the
// service that makes it.
func (t *target) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	give := time.Now().Add(time.Minute)
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		cons, err := t.s.o.Bus.CreateOrUpdateConsumer(ctx, bus.StreamEvents, t.consumerConfig())
		if err == nil || ctx.Err() != nil || time.Now().Add(wait).After(give) {
			return cons, err
		}
		t.log.Warn("could not create the webhook consumer yet; trying again", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// handle delivers one event and settles its message: ack when accepted,
// nak with a delay to retry, or dead-letter and terminate.
func (t *target) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return
	}
	log := t.log.With("seq", meta.Sequence.Stream, "delivered", meta.NumDelivered)
	if ctx.Err() != nil {
		// Shutting down with a message already pulled: hand it back now
		// rather than after AckWait.
		_ = msg.Nak()
		return
	}
	e, err := events.Decode(msg.Headers(), msg.Data())
	if errors.Is(err, events.ErrUnknownType) {
		log.Warn("skipping an event of a type this build does not know", "type", e.Type)
		_ = msg.Ack()
		return
	}
	var body []byte
	if err == nil {
		body, err = events.EncodeJSON(e)
	}
	if err != nil {
		t.giveUp(ctx, msg, meta, fmt.Errorf("undecodable event: %w", err), log)
		return
	}
	log = log.With("work_order_id", string(e.WorkOrderID), "type", events.ShortName(e.Type))
	born := e.Time
	if born.IsZero() {
		born = meta.Timestamp
	}
	deadline := born.Add(t.s.o.Config.MaxAge)
	// An event first reached after MaxAge (the service was down that
	// long) is not sent at all. A retry is attempted even a little late
	// (it was timed for the deadline), so the reason recorded is the
	// receiver's last answer.
	if meta.NumDelivered == 1 && !time.Now().Before(deadline) {
		t.giveUp(ctx, msg, meta, fmt.Errorf("not delivered within AWO_WEBHOOK_MAX_AGE (%s) of the event", t.s.o.Config.MaxAge), log)
		return
	}

	start := time.Now()
	res := t.post(ctx, e.ID, body)
	took := time.Since(start)
	switch {
	case res.err == nil:
		if err := msg.Ack(); err != nil {
			log.Warn("ack failed; the event will be sent again", "err", err)
		}
		t.s.o.Metrics.WebhookAttempt(t.host, took, metrics.WebhookDelivered)
		log.Debug("webhook delivered", "took", took)
	case ctx.Err() != nil:
		// The attempt was cut short by a shutdown: not the receiver's
		// failure, so no backoff.
		_ = msg.Nak()
	case res.permanent:
		t.s.o.Metrics.WebhookAttempt(t.host, took, metrics.WebhookFailed)
		t.giveUp(ctx, msg, meta, res.err, log)
	default:
		t.retry(ctx, msg, meta, res, deadline, took, log)
	}
}

// retry hands the message back for another attempt after the backoff, or
// the receiver's Retry-After, but not past the deadline: the last attempt
// is at the deadline, and a failure then gives up.
func (t *target) retry(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, res result, deadline time.Time, took time.Duration, log *slog.Logger) {
	now := time.Now()
	if !now.Before(deadline) {
		t.s.o.Metrics.WebhookAttempt(t.host, took, metrics.WebhookFailed)
		t.giveUp(ctx, msg, meta, fmt.Errorf("still failing after AWO_WEBHOOK_MAX_AGE (%s): %w", t.s.o.Config.MaxAge, res.err), log)
		return
	}
	delay := backoff(int(meta.NumDelivered))
	if res.retryAfter > 0 {
		delay = res.retryAfter
	}
	delay = min(delay, deadline.Sub(now))
	t.s.o.Metrics.WebhookAttempt(t.host, took, metrics.WebhookRetried)
	log.Warn("webhook failed; will retry", "err", res.err, "retry_in", delay)
	if err := msg.NakWithDelay(delay); err != nil {
		log.Warn("nak failed; the event will be sent again after the ack wait", "err", err)
	}
}

// giveUp copies the event to WORKORDERS_DLQ with the reason and the
// receiver, then terminates it. If the copy cannot be stored the event
// is retried instead: terminating it would lose it.
func (t *target) giveUp(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, cause error, log *slog.Logger) {
	reason := oneLine(cause.Error())
	log.Error("giving up on a webhook delivery; dead-lettering it", "err", reason)
	dl := bus.DLQCopy(DLQConsumer, msg.Subject(), msg.Headers(), msg.Data(), errors.New(reason), int(meta.NumDelivered), meta.Sequence.Stream)
	dl.Header.Set(bus.HeaderDLQConsumer, t.consumer)
	dl.Header.Set(HeaderDLQWebhookURL, t.shown)
	// One copy however often a crash between this publish and the term
	// below makes the sender give up on the same event again.
	dl.Header.Set(nats.MsgIdHdr, t.consumer+"."+strconv.FormatUint(meta.Sequence.Stream, 10))
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := bus.PublishRetrying(pctx, t.s.o.Bus.JS, dl); err != nil {
		log.Error("dead-letter publish failed; the event stays queued", "err", err)
		_ = msg.NakWithDelay(backoff(int(meta.NumDelivered)))
		return
	}
	if err := msg.TermWithReason(textcut.Bytes(reason, 200, "")); err != nil {
		log.Warn("term failed", "err", err)
	}
}

// oneLine makes s fit a header value.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
