package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// BenchmarkConsume_RoundTrip is one event published and handled through
// the consumer wrapper, one at a time: the path every hand-off between
// services takes. The event carries a traceparent, as events do once
// tracing is used anywhere upstream. It uses the public API only, so it
// runs unchanged against builds with and without tracing, which is how the
// cost of tracing switched off is measured.
func BenchmarkConsume_RoundTrip(b *testing.B) {
	env := natstest.Start(b)
	bs := env.Bus("awo/bench")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "bench", FilterSubject: bus.AllEvents, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		b.Fatal(err)
	}
	handled := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- bs.Consume(ctx, cons, func(context.Context, *bus.Delivery) error {
			handled <- struct{}{}
			return nil
		}, bus.ConsumeOptions{Name: "bench"})
	}()
	b.ResetTimer()
	for i := range b.N {
		wo := workorder.ID(fmt.Sprintf("wo-%08x", i))
		e := bs.Event(string(wo)+".cancel_requested", events.TypeCancelRequested, wo, &events.CancelRequested{Reason: "bench"})
		e.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		if _, err := bs.PublishEvent(ctx, e, nil); err != nil {
			b.Fatal(err)
		}
		select {
		case <-handled:
		case <-time.After(10 * time.Second):
			b.Fatal("event not handled within 10s")
		}
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
