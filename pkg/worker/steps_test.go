package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A step handler learns whether an earlier run of its command was cut
// short, so it can distrust what that run left behind.
func TestRun_HandlerSeesTheDeliveryCount(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := worker.Delivered(ctx); got != 0 {
		t.Fatalf("Delivered outside a handler = %d", got)
	}
	cmd := events.RunStep{WorkOrderID: "wo-0000d00e", Step: workorder.StepExecute, Attempt: 1}
	if err := worker.PublishCommand(ctx, b, cmd); err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 4)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(runCtx, b, worker.Config{Service: "executor", AckWait: 5 * time.Second, MaxDeliver: 3, Grace: time.Second},
			func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
				n := worker.Delivered(ctx)
				seen <- n
				if n == 1 {
					return events.StepResult{}, errors.New("interrupted")
				}
				return events.StepResult{Success: true}, nil
			})
	}()
	var got []int
	for len(got) < 2 {
		select {
		case n := <-seen:
			got = append(got, n)
		case <-ctx.Done():
			t.Fatalf("deliveries seen: %v", got)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("Delivered per run = %v, want [1 2]", got)
	}
}

// Once the shutdown began, nothing new starts: a command waiting while the
// only worker is busy is not run (it stays on the server, or is handed back
// if it was already pulled): no step.started, no handler. The next worker
// runs it.
func TestRun_AfterShutdownBegan_StartsNothingNew(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	first := events.RunStep{WorkOrderID: "wo-00000a01", Step: workorder.StepPlanning, Attempt: 1}
	second := events.RunStep{WorkOrderID: "wo-00000a02", Step: workorder.StepPlanning, Attempt: 1}
	for _, c := range []events.RunStep{first, second} {
		if err := worker.PublishCommand(ctx, b, c); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var ran []workorder.ID
	var outcomes []bus.Outcome
	started, release := make(chan struct{}), make(chan struct{})
	w := worker.Config{Service: "executor", Workers: 1, AckWait: 5 * time.Second, MaxDeliver: 5, Grace: 10 * time.Second,
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
	go func() { done <- worker.Run(runCtx, b, w, h) }()
	<-started
	time.Sleep(300 * time.Millisecond) // the second command waits for the busy worker
	stop()
	close(release) // the first step finishes inside its grace
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	handedBack := len(outcomes) == 2 && outcomes[1] == bus.OutcomeRetried
	if len(ran) != 1 || len(outcomes) == 0 || outcomes[0] != bus.OutcomeAcked || (len(outcomes) > 1 && !handedBack) {
		t.Fatalf("after shutdown: ran %v, outcomes %v; want only the first run, the second not started", ran, outcomes)
	}
	mu.Unlock()
	if h, err := b.History(ctx, second.WorkOrderID, 0); err != nil || len(h.Events) != 0 {
		t.Fatalf("events of the handed-back command: %+v, %v", h.Events, err)
	}

	// The next worker takes it.
	runCtx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- worker.Run(runCtx, b, w, h) }()
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
