package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// More work orders' histories than nats-server allows consumers on a stream
// (1000), read within a minute, as an orchestrator taking on a burst of new
// work orders does: a read must leave nothing on the server behind it, or
// the reads after the thousandth fail (JetStream error 10026) and those
// work orders hang.
func TestHistory_MoreWorkOrdersThanTheConsumerCapLeaveNoConsumers(t *testing.T) {
	const n = 1100
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ids := make([]workorder.ID, n)
	for i := range ids {
		ids[i] = workorder.ID(fmt.Sprintf("wo-%08x", i+1))
		zero := uint64(0)
		seq, err := b.PublishEvent(ctx, b.Event(fmt.Sprintf("r%d", i), events.TypeRequested, ids[i], &events.Requested{WorkOrderID: ids[i]}), &zero)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.PublishEvent(ctx, b.Event(fmt.Sprintf("s%d", i), events.TypeStarted, ids[i], &events.Started{}), &seq); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan workorder.ID)
	errs := make(chan error, n)
	for range 8 {
		wg.Go(func() {
			for id := range work {
				h, err := b.History(ctx, id, 0)
				if err == nil && len(h.Events) != 2 {
					err = fmt.Errorf("history of %s: %d events, want 2", id, len(h.Events))
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d histories read in %v", n, time.Since(start))

	// Nothing the reads made may stay on the server.
	stream, err := env.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if left := info.State.Consumers; left != 0 {
		t.Errorf("%d consumers left on %s after %d history reads, want 0", left, bus.StreamEvents, n)
	}
}
