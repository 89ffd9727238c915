package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// The observer hears each delivery's fate: a message that fails until
// MaxDeliver is retried, redelivered and dead-lettered; one that succeeds is
// acked once.
func TestConsume_ObserveReportsRedeliveriesAndDeadLetters(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: "executor", FilterSubject: bus.CommandFilter("executor"),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second, MaxDeliver: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	failing := events.RunStep{WorkOrderID: "wo-0000bad1", Step: workorder.StepPlanning, Attempt: 1}
	fine := events.RunStep{WorkOrderID: "wo-0000f1e1", Step: workorder.StepPlanning, Attempt: 1}
	for _, c := range []events.RunStep{failing, fine} {
		if err := worker.PublishCommand(ctx, b, c); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	seen := map[workorder.ID][]bus.Observation{}
	var current workorder.ID // set by the handler; one worker, so the observation that follows is its
	done := make(chan struct{})
	runCtx, stop := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() {
		consumed <- b.Consume(runCtx, cons, func(_ context.Context, d *bus.Delivery) error {
			mu.Lock()
			current = d.Event.WorkOrderID
			mu.Unlock()
			if d.Event.WorkOrderID == failing.WorkOrderID {
				return errors.New("boom")
			}
			return nil
		}, bus.ConsumeOptions{
			Name: "executor", MaxDeliver: 2, AckWait: 5 * time.Second,
			Backoff: func(int) time.Duration { return 10 * time.Millisecond },
			Observe: func(o bus.Observation) {
				mu.Lock()
				defer mu.Unlock()
				seen[current] = append(seen[current], o)
				if len(seen[failing.WorkOrderID]) == 2 && len(seen[fine.WorkOrderID]) == 1 {
					close(done)
				}
			},
		})
	}()
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("observations so far: %+v", seen)
	}
	stop()
	if err := <-consumed; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	wantFailing := []bus.Observation{
		{Consumer: "executor", Delivered: 1, Outcome: bus.OutcomeRetried},
		{Consumer: "executor", Delivered: 2, Outcome: bus.OutcomeDeadLettered},
	}
	if got := seen[failing.WorkOrderID]; len(got) != 2 || got[0] != wantFailing[0] || got[1] != wantFailing[1] {
		t.Errorf("failing message observed as %+v, want %+v", got, wantFailing)
	}
	wantFine := bus.Observation{Consumer: "executor", Delivered: 1, Outcome: bus.OutcomeAcked}
	if got := seen[fine.WorkOrderID]; len(got) != 1 || got[0] != wantFine {
		t.Errorf("fine message observed as %+v, want [%+v]", got, wantFine)
	}
}
