package bus_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A step handler learns whether an earlier run of its command was cut
// short, so it can distrust what that run left behind.
func TestConsumeSteps_HandlerSeesTheDeliveryCount(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := bus.Delivered(ctx); got != 0 {
		t.Fatalf("Delivered outside a handler = %d", got)
	}
	cmd := events.RunStep{WorkOrderID: "wo-0000d00e", Step: workorder.StepExecute, Attempt: 1}
	if err := b.PublishCommand(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 4)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.ConsumeSteps(runCtx, bus.StepWorker{Service: "executor", AckWait: 5 * time.Second, MaxDeliver: 3, Grace: time.Second},
			func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
				n := bus.Delivered(ctx)
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
