package bus_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A command that reached the worker after the shutdown began is handed
// back untouched: no step.started, no handler. The next worker runs it.
func TestConsumeSteps_AfterShutdownBegan_StartsNothingNew(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	first := events.RunStep{WorkOrderID: "wo-00000a01", Step: workorder.StepPlanning, Attempt: 1}
	second := events.RunStep{WorkOrderID: "wo-00000a02", Step: workorder.StepPlanning, Attempt: 1}
	for _, c := range []events.RunStep{first, second} {
		if err := b.PublishCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var ran []workorder.ID
	var outcomes []bus.Outcome
	started, release := make(chan struct{}), make(chan struct{})
	w := bus.StepWorker{Service: "executor", Workers: 1, AckWait: 5 * time.Second, MaxDeliver: 5, Grace: 10 * time.Second,
		Observe: func(o bus.Observation) { mu.Lock(); outcomes = append(outcomes, o.Outcome); mu.Unlock() }}
	h := func(ctx context.Context, cmd events.RunStep, _ *slog.Logger) (events.StepResult, error) {
		mu.Lock()
		ran = append(ran, cmd.WorkOrderID)
		mu.Unlock()
		if cmd.WorkOrderID == first.WorkOrderID {
			close(started)
			<-release
		}
		return events.StepResult{Success: true}, nil
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.ConsumeSteps(runCtx, w, h) }()
	<-started
	time.Sleep(300 * time.Millisecond) // the second command is pulled and waits for the busy worker
	stop()
	close(release) // the first step finishes inside its grace
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(ran) != 1 || len(outcomes) != 2 || outcomes[0] != bus.OutcomeAcked || outcomes[1] != bus.OutcomeRetried {
		t.Fatalf("after shutdown: ran %v, outcomes %v; want only the first run and the second handed back", ran, outcomes)
	}
	mu.Unlock()
	if h, err := b.History(ctx, second.WorkOrderID, 0); err != nil || len(h.Events) != 0 {
		t.Fatalf("events of the handed-back command: %+v, %v", h.Events, err)
	}

	// The next worker takes it.
	runCtx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- b.ConsumeSteps(runCtx, w, h) }()
	for ctx.Err() == nil {
		if h, _ := b.History(ctx, second.WorkOrderID, 0); len(h.Events) == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 || ran[1] != second.WorkOrderID {
		t.Fatalf("ran %v, want the second command run by the next worker", ran)
	}
}
