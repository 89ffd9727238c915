package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestCancelled_FollowsTheLatestCancelAndRetry(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	wo := workorder.ID("wo-0000c0de")
	check := func(want bool, after string) {
		t.Helper()
		got, err := worker.Cancelled(ctx, b, wo)
		if err != nil || got != want {
			t.Fatalf("after %s: Cancelled = %t, %v; want %t", after, got, err, want)
		}
	}
	pub := func(id, typ string, data any) {
		t.Helper()
		if _, err := b.PublishEvent(ctx, b.Event(id, typ, wo, data), nil); err != nil {
			t.Fatal(err)
		}
	}
	check(false, "nothing")
	pub("r", events.TypeRequested, &events.Requested{WorkOrderID: wo})
	check(false, "requested")
	pub("c0", events.TypeCancelled, &events.Cancelled{Reason: "stop"})
	check(true, "cancelled")
	pub("t1", events.TypeRetryRequested, &events.RetryRequested{Round: 1})
	check(false, "a retry")
	pub("c1", events.TypeCancelled, &events.Cancelled{Reason: "stop again"})
	check(true, "a cancel in round 1")

	last, ok, err := b.LastEvent(ctx, wo, events.TypeCancelled)
	if err != nil || !ok || last.ID != "c1" || last.Seq == 0 || last.Data.(*events.Cancelled).Reason != "stop again" {
		t.Fatalf("LastEvent = %+v, %t, %v", last, ok, err)
	}
	if _, ok, err := b.LastEvent(ctx, wo, events.TypeCompleted); ok || err != nil {
		t.Fatalf("LastEvent of a type never stored = %t, %v", ok, err)
	}
}

// A cancel stops the step in hand, and a step of the same work order that
// arrives while the clean-up runs waits for it: it never runs in a sandbox
// being removed.
func TestRun_CancelStopsTheStepAndHoldsNewOnesUntilCleanedUp(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wo := workorder.ID("wo-0000ca11")

	firstStopped := make(chan error, 1)
	secondRan := make(chan struct{})
	cleaning := make(chan struct{})
	release := make(chan struct{})
	handler := func(ctx context.Context, cmd events.RunStep, _ *slog.Logger) (events.StepResult, error) {
		if cmd.Attempt == 1 {
			<-ctx.Done()
			firstStopped <- context.Cause(ctx)
			return events.StepResult{}, ctx.Err()
		}
		close(secondRan)
		return events.StepResult{Success: true}, nil
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(runCtx, b, worker.Config{
			Service: "github", Workers: 2, AckWait: 5 * time.Second, MaxDeliver: 3,
			OnCancelled: func(ctx context.Context, got workorder.ID, c events.Cancelled, _ *slog.Logger) {
				if got == wo && c.Reason == "stop" {
					close(cleaning)
					<-release
				}
			},
		}, handler)
	}()

	first := events.RunStep{WorkOrderID: wo, Step: workorder.StepCreatePR, Attempt: 1}
	if err := worker.PublishCommand(ctx, b, first); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, b, wo, events.TypeStepStarted)
	if _, err := b.PublishEvent(ctx, b.Event("c", events.TypeCancelled, wo, &events.Cancelled{Reason: "stop"}), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-firstStopped:
		if !errors.Is(cause, worker.ErrWorkOrderCancelled) {
			t.Fatalf("step stopped with %v", cause)
		}
	case <-ctx.Done():
		t.Fatal("the cancel did not stop the step")
	}
	select {
	case <-cleaning:
	case <-ctx.Done():
		t.Fatal("no clean-up after the cancel")
	}

	// Retried while the clean-up still runs: the new attempt waits for it.
	if _, err := b.PublishEvent(ctx, b.Event("r1", events.TypeRetryRequested, wo, &events.RetryRequested{Round: 1}), nil); err != nil {
		t.Fatal(err)
	}
	second := first
	second.Attempt = 2
	if err := worker.PublishCommand(ctx, b, second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-secondRan:
		t.Fatal("a step of the work order ran while its clean-up was in progress")
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	select {
	case <-secondRan:
	case <-ctx.Done():
		t.Fatal("the retried step never ran after the clean-up")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitEvent(t *testing.T, ctx context.Context, b *bus.Bus, wo workorder.ID, typ string) {
	t.Helper()
	for ctx.Err() == nil {
		if _, ok, err := b.LastEvent(ctx, wo, typ); err != nil {
			t.Fatal(err)
		} else if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s", events.ShortName(typ))
}

// A command overtaken by a later dispatch (left in the queue by a cancel,
// then a retry dispatched the next attempt) is acknowledged without
// running; the current one runs.
func TestRun_SupersededCommandIsSkipped(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wo := workorder.ID("wo-0000a77e")
	for _, attempt := range []int{1, 2} {
		id := events.CommandID(wo, workorder.StepCreatePR, attempt) + ".dispatched"
		if _, err := b.PublishEvent(ctx, b.Event(id, events.TypeStepDispatched, wo,
			&events.StepDispatched{Step: workorder.StepCreatePR, Attempt: attempt}), nil); err != nil {
			t.Fatal(err)
		}
	}
	ran := make(chan int, 2)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(runCtx, b, worker.Config{Service: "github", Workers: 1, AckWait: 5 * time.Second, MaxDeliver: 3},
			func(_ context.Context, cmd events.RunStep, _ *slog.Logger) (events.StepResult, error) {
				ran <- cmd.Attempt
				return events.StepResult{Success: true}, nil
			})
	}()
	for _, attempt := range []int{1, 2} {
		if err := worker.PublishCommand(ctx, b, events.RunStep{WorkOrderID: wo, Step: workorder.StepCreatePR, Attempt: attempt}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case a := <-ran:
		if a != 2 {
			t.Fatalf("attempt %d ran; only the latest dispatch may", a)
		}
	case <-ctx.Done():
		t.Fatal("the current command never ran")
	}
	select {
	case a := <-ran:
		t.Fatalf("attempt %d ran as well", a)
	case <-time.After(300 * time.Millisecond):
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A command whose result is already recorded (its worker died before the
// ack) is acked without running again.
func TestRun_CompletedCommandIsNotRunAgain(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wo := workorder.ID("wo-0000d0e1")
	cmd := events.RunStep{WorkOrderID: wo, Step: workorder.StepExecute, Attempt: 1}
	if _, err := b.PublishEvent(ctx, b.Event(events.CommandID(wo, cmd.Step, 1)+".dispatched", events.TypeStepDispatched, wo,
		&events.StepDispatched{Step: cmd.Step, Attempt: 1}), nil); err != nil {
		t.Fatal(err)
	}
	if err := worker.FinishStep(ctx, b, cmd, events.StepResult{Success: true}, 0); err != nil {
		t.Fatal(err)
	}
	if err := worker.PublishCommand(ctx, b, cmd); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(runCtx, b, worker.Config{Service: "executor", Workers: 1, AckWait: 5 * time.Second, MaxDeliver: 3},
			func(context.Context, events.RunStep, *slog.Logger) (events.StepResult, error) {
				ran <- struct{}{}
				return events.StepResult{Success: true}, nil
			})
	}()
	for ctx.Err() == nil {
		info, err := env.JS.Consumer(ctx, bus.StreamCommands, "executor")
		if err == nil {
			if ci := info.CachedInfo(); ci.Delivered.Consumer > 0 && ci.NumAckPending == 0 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-ran:
		t.Fatal("a completed step ran again")
	default:
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStale is what the check before every step command costs: direct
// gets (last cancel, last dispatch, last completion) on a stream that also
// holds other work orders' events.
func BenchmarkStale(b *testing.B) {
	env := natstest.Start(b)
	bb := env.Bus("bench")
	ctx := context.Background()
	for i := range 1000 {
		wo := workorder.ID(fmt.Sprintf("wo-%08x", i))
		d := &events.StepDispatched{Step: workorder.StepExecute, Attempt: 1}
		if _, err := bb.PublishEvent(ctx, bb.Event(string(wo)+".d", events.TypeStepDispatched, wo, d), nil); err != nil {
			b.Fatal(err)
		}
	}
	cmd := events.RunStep{WorkOrderID: "wo-00000007", Step: workorder.StepExecute, Attempt: 1}
	b.ResetTimer()
	for b.Loop() {
		if why, err := worker.Stale(ctx, bb, cmd); err != nil || why != "" {
			b.Fatalf("%q, %v", why, err)
		}
	}
}
