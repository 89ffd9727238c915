// Package orchestrator is the service that decides: it consumes every
// work-order event, folds it into the work order's state, runs the pure
// machine.Transition and appends what it decides (guarded, so two replicas
// can never both decide) before sending the step commands workers act on.
package orchestrator

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/internal/lru"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

// Micro service identity, as `nats micro ls` shows it.
const (
	MicroName        = "awo-orchestrator"
	MicroDescription = "Decides the next step of every work order"
)

// ConsumerName is the durable consumer every orchestrator replica shares.
const ConsumerName = "orchestrator"

const (
	// workers bounds how many work orders one replica decides for at once;
	// deciding is a few JetStream round trips, so a handful keeps two cores
	// busy without starving the workers on the same machine.
	workers = 8
	// cacheSize bounds the folded states kept in memory; an evicted work
	// order is rebuilt from its history on its next event.
	cacheSize = 10_000
	// maxRaces is how often one delivery may lose the guarded append to
	// another writer before it is handed back to JetStream for a later retry.
	maxRaces = 5
	// maxChain bounds how many rounds of decisions one delivery appends
	// before leaving the rest to the next delivery (a start and its first
	// dispatch take two).
	maxChain = 4
)

// Deps is everything Run needs, built by main.
type Deps struct {
	Config config.Orchestrator
	// Bus is the orchestrator's JetStream; its Source stamps the events
	// the orchestrator appends.
	Bus    *bus.Bus
	Logger *slog.Logger
	// Metrics, when set, records deliveries and the consumer's backlog.
	Metrics *metrics.Metrics
}

// Run consumes WORKORDERS_EVENTS through the durable "orchestrator" consumer
// until ctx is cancelled, then lets the decisions in hand finish and returns.
func Run(ctx context.Context, d Deps) error {
	if d.Bus == nil || d.Bus.JS == nil {
		return errors.New("orchestrator: Deps.Bus (with its JetStream) is required")
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	stream, err := d.Bus.OpenStream(ctx, bus.StreamEvents)
	if err != nil {
		return startErr(ctx, err)
	}
	cons, err := d.Bus.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "Decides what happens next for every work order",
		FilterSubject: bus.AllEvents,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       d.Config.AckWait,
		MaxDeliver:    d.Config.MaxDeliver,
	})
	if err != nil {
		return startErr(ctx, err)
	}
	h := newHandler(d.Bus, stream, log)
	stopTimers, err := startTimers(ctx, d, h, log)
	if err != nil {
		return startErr(ctx, err)
	}
	defer stopTimers()
	d.Metrics.WatchConsumer(d.Bus.JS, bus.StreamEvents, ConsumerName)
	log.Info("orchestrator consuming events", "consumer", ConsumerName, "workers", workers)
	return d.Bus.Consume(ctx, cons, h.handle, bus.ConsumeOptions{
		Name:       ConsumerName,
		Workers:    workers,
		AckWait:    d.Config.AckWait,
		MaxDeliver: d.Config.MaxDeliver,
		// One work order's events are decided one at a time, in stream
		// order; different work orders proceed in parallel.
		OrderKey: func(d *bus.Delivery) string { return string(d.Event.WorkOrderID) },
		OnGiveUp: h.giveUp,
		Observe:  d.Metrics.ObserveDelivery(),
		Logger:   log,
	})
}

// startTimers binds the shared timer consumer and consumes it until ctx is
// cancelled, and re-arms the timers of waiting work orders that have none.
// stop ends both and waits for them.
func startTimers(ctx context.Context, d Deps, h *handler, log *slog.Logger) (stop func(), err error) {
	cons, err := d.Bus.CreateOrUpdateConsumer(ctx, bus.StreamTimers, jetstream.ConsumerConfig{
		Durable:       TimerConsumerName,
		Description:   "Wakes waiting steps at their time (NakWithDelay until then)",
		FilterSubject: bus.AllTimers,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       d.Config.AckWait,
		// A timer is handed back until its time, however often that takes.
		MaxDeliver: -1,
	})
	if err != nil {
		return nil, err
	}
	// Its own cancel: Consume may return before ctx ends (an error).
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := h.runTimers(ctx, cons, log); err != nil {
			log.Error("timer consumer stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := h.rearm(ctx, d.Bus, log); err != nil && ctx.Err() == nil {
			log.Error("re-arming the timers of waiting work orders", "err", err)
		}
	}()
	return func() { cancel(); wg.Wait() }, nil
}

// startErr reports a start-up failure, unless it is only the shutdown
// arriving while starting: stopping is not an error.
func startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func newHandler(b *bus.Bus, seqs sequences, log *slog.Logger) *handler {
	return &handler{bus: b, source: b.Source, events: seqs, cache: lru.New[workorder.ID, machine.State](cacheSize),
		sent: lru.New[string, struct{}](cacheSize), log: log, now: time.Now, timers: timers{js: b.JS}}
}
