// Package webhooks sends work-order events to HTTP receivers
// (AWO_WEBHOOK_URLS): each event a structured-mode CloudEvent, signed as
// the Standard Webhooks specification says, delivered at least once and
// in order by a durable JetStream consumer per receiver. See
// docs/webhooks.md.
package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
)

// ConsumerPrefix starts the name of every receiver's durable consumer.
const ConsumerPrefix = "webhook-"

// DLQConsumer is the consumer part of the subject given-up deliveries are
// dead-lettered on (workorders.dlq.webhooks.<work order id>); the
// Awo-Dlq-Consumer header names the receiver's own consumer.
const DLQConsumer = "webhooks"

// HeaderDLQWebhookURL on a dead letter is the receiver it was meant for,
// without user information, query or fragment.
const HeaderDLQWebhookURL = "Awo-Dlq-Webhook-Url"

// Backoff bounds: the first retry after a second, doubling up to this.
const (
	firstRetry = time.Second
	maxBackoff = 5 * time.Minute
)

// ConsumerName is the durable consumer of the receiver at rawURL: a hash,
// so the URL (and whatever credentials it holds) stays out of JetStream's
// consumer list, and the same URL resumes the same consumer after a
// restart.
func ConsumerName(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return ConsumerPrefix + hex.EncodeToString(sum[:4])
}

// Options are the sender's settings and collaborators.
type Options struct {
	Config  config.Webhooks
	Bus     *bus.Bus // required
	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Sender delivers events to every configured receiver.
type Sender struct {
	o       Options
	log     *slog.Logger
	targets []*target
}

// New checks the configuration as Load does (a caller may build it by
// hand) and prepares a sender; it contacts nothing.
func New(o Options) (*Sender, error) {
	c := o.Config
	if o.Bus == nil {
		return nil, errors.New("webhooks: Options.Bus is required")
	}
	if len(c.Key) == 0 {
		return nil, errors.New("webhooks: a signing key is required (AWO_WEBHOOK_SECRET)")
	}
	if len(c.Events) == 0 {
		c.Events = config.DefaultWebhookEvents
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	o.Config = c
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Sender{o: o, log: log}
	client := newClient(c.Timeout, c.AllowPrivate)
	seen := map[string]bool{}
	for _, raw := range c.URLs {
		if problem := config.CheckWebhookURL(raw, c.AllowPrivate); problem != "" {
			return nil, fmt.Errorf("webhooks: AWO_WEBHOOK_URLS %s %s", config.WebhookTarget(raw), problem)
		}
		name := ConsumerName(raw)
		if seen[name] {
			continue
		}
		seen[name] = true
		u, _ := url.Parse(raw)
		s.targets = append(s.targets, &target{
			s: s, url: raw, host: u.Hostname(), shown: config.WebhookTarget(raw), consumer: name,
			client: client,
			log:    log.With("webhook_host", u.Hostname(), "consumer", name),
		})
	}
	return s, nil
}

// Consumers are the durable consumer names, one per receiver.
func (s *Sender) Consumers() []string {
	out := make([]string, len(s.targets))
	for i, t := range s.targets {
		out[i] = t.consumer
	}
	return out
}

// Run delivers until ctx is cancelled, one goroutine per receiver. An
// attempt in flight at cancellation is abandoned and its event handed
// back to JetStream, so the next start (or another replica) sends it.
func (s *Sender) Run(ctx context.Context) error {
	errs := make([]error, len(s.targets))
	var wg sync.WaitGroup
	for i, t := range s.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = t.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// consumerConfig is the receiver's durable consumer. MaxAckPending 1 is
// what keeps the order: while one event waits for its retry, JetStream
// hands out no later one, so a receiver sees every event after the one
// before it, for every work order at once. It costs throughput (one
// receiver takes one event at a time, and a receiver failing on one
// event holds back all others until it accepts or MaxAge passes), which
// the few events of a work order's life can afford.
func (t *target) consumerConfig() jetstream.ConsumerConfig {
	c := t.s.o.Config
	filters := make([]string, len(c.Events))
	for i, typ := range c.Events {
		filters[i] = bus.TypeFilter(typ)
	}
	return jetstream.ConsumerConfig{
		Durable:     t.consumer,
		Description: "outbound webhook to " + t.host,
		// A new receiver starts with the events from now on: it is not
		// sent the whole history of the stream.
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// An attempt lasts at most Timeout; past AckWait JetStream would
		// send the event again while it is still being delivered.
		AckWait:        max(30*time.Second, 2*c.Timeout+5*time.Second),
		MaxDeliver:     -1,
		MaxAckPending:  1,
		FilterSubjects: filters,
	}
}

// backoff is the delay before attempt delivered+1: a second, doubling up
// to five minutes.
func backoff(delivered int) time.Duration {
	d := firstRetry
	for i := 1; i < delivered && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
