package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestPublishEvent_GuardRejectsStaleSequence(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	wo := workorder.ID("wo-0000beef")
	zero := uint64(0)
	seq1, err := b.PublishEvent(ctx, b.Event("e1", events.TypeRequested, wo, &events.Requested{WorkOrderID: wo}), &zero)
	if err != nil {
		t.Fatal(err)
	}
	// A second writer that still believes the work order is empty loses.
	_, err = b.PublishEvent(ctx, b.Event("e2", events.TypeStarted, wo, &events.Started{}), &zero)
	if !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("want ErrConflict, got %v", err)
	}
	if _, err := b.PublishEvent(ctx, b.Event("e3", events.TypeStarted, wo, &events.Started{}), &seq1); err != nil {
		t.Fatalf("guarded publish at the right sequence: %v", err)
	}
	hist, err := b.History(ctx, wo, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Events) != 2 || hist.Events[0].Type != events.TypeRequested || hist.Events[1].Type != events.TypeStarted || hist.LastSeq != hist.Events[1].Seq {
		t.Fatalf("history = %+v", hist)
	}
	rest, err := b.History(ctx, wo, seq1)
	if err != nil || len(rest.Events) != 1 || rest.Events[0].ID != "e3" {
		t.Fatalf("history after %d = %+v, %v", seq1, rest, err)
	}
	none, err := b.History(ctx, "wo-00000000", 0)
	if err != nil || len(none.Events) != 0 || none.LastSeq != 0 {
		t.Fatalf("history of unknown = %+v, %v", none, err)
	}
}

func TestPublishEvent_DuplicateIDIsDropped(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	wo := workorder.ID("wo-0000cafe")
	for range 3 {
		if _, err := b.PublishEvent(ctx, b.Event("same-id", events.TypeRequested, wo, &events.Requested{WorkOrderID: wo}), nil); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := b.History(ctx, wo, 0)
	if err != nil || len(hist.Events) != 1 {
		t.Fatalf("want one stored event, got %d (%v)", len(hist.Events), err)
	}
}

func TestConsume_RetriesThenDeadLettersAndReportsGiveUp(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: "executor", FilterSubject: bus.CommandFilter("executor"),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second, MaxDeliver: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := events.RunStep{WorkOrderID: "wo-0000d00d", Step: workorder.StepPlanning, Attempt: 1}
	if err := worker.PublishCommand(ctx, b, cmd); err != nil {
		t.Fatal(err)
	}
	calls := 0
	gaveUp := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(runCtx, cons, func(ctx context.Context, d *bus.Delivery) error {
			calls++
			return errors.New("boom")
		}, bus.ConsumeOptions{
			Name: "executor", MaxDeliver: 3, AckWait: 5 * time.Second,
			Backoff:  func(int) time.Duration { return 10 * time.Millisecond },
			OnGiveUp: func(ctx context.Context, d *bus.Delivery, err error) { gaveUp <- err },
		})
	}()
	select {
	case err := <-gaveUp:
		if err == nil || err.Error() != "boom" {
			t.Fatalf("give-up cause = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("handler never gave up")
	}
	// The DLQ copy carries the reason.
	var msg *jetstream.RawStreamMsg
	dlq, _ := env.JS.Stream(ctx, bus.StreamDLQ)
	for ctx.Err() == nil {
		if msg, err = dlq.GetLastMsgForSubject(ctx, "workorders.dlq.executor.planning"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if msg == nil || msg.Header.Get(bus.HeaderDLQError) != "boom" {
		t.Fatalf("DLQ message = %+v (%v)", msg, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Fatalf("handler called %d times, want MaxDeliver=3", calls)
	}
}

// noHeartbeatOnce is a consumer whose message iterator first reports a
// missed heartbeat, as a slow or restarting server makes it do.
type noHeartbeatOnce struct{ jetstream.Consumer }

func (c noHeartbeatOnce) Messages(opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	it, err := c.Consumer.Messages(opts...)
	return &heartbeatMissed{MessagesContext: it}, err
}

type heartbeatMissed struct {
	jetstream.MessagesContext
	reported bool
}

func (it *heartbeatMissed) Next(opts ...jetstream.NextOpt) (jetstream.Msg, error) {
	if !it.reported {
		it.reported = true
		return nil, jetstream.ErrNoHeartbeat
	}
	return it.MessagesContext.Next(opts...)
}

// A missed heartbeat is a report, not the end of consuming: the message
// published after it is still handled and Consume keeps running.
func TestConsume_MissedHeartbeat_KeepsConsuming(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: "executor", FilterSubject: bus.CommandFilter("executor"), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan struct{}, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(runCtx, noHeartbeatOnce{cons}, func(context.Context, *bus.Delivery) error {
			handled <- struct{}{}
			return nil
		}, bus.ConsumeOptions{Name: "executor"})
	}()
	if err := worker.PublishCommand(ctx, b, events.RunStep{WorkOrderID: "wo-0000beef", Step: workorder.StepPlanning, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-handled:
	case err := <-done:
		t.Fatalf("Consume ended after a missed heartbeat: %v", err)
	case <-ctx.Done():
		t.Fatal("the command was never handled")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
