package worker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
)

func noStep(context.Context, events.RunStep, *slog.Logger) (events.StepResult, error) {
	return events.StepResult{Success: true}, nil
}

// A service told to stop while its step worker is still starting (creating
// its consumer, subscribing) has been shut down, not failed: Run returns
// nil however far the start got.
func TestRun_StoppedWhileStarting_ReturnsNil(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	w := worker.Config{Service: "executor", AckWait: 5 * time.Second, MaxDeliver: 3, Grace: time.Second}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := worker.Run(cancelled, b, w, noStep); err != nil {
		t.Fatalf("Run with ctx cancelled before it started = %v, want nil", err)
	}
	// Cut short at assorted points of the start: whatever it was doing,
	// the answer is nil, and Run returns promptly.
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- worker.Run(ctx, b, w, noStep) }()
		time.Sleep(time.Duration(i) * 150 * time.Microsecond)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run cancelled after %dµs = %v, want nil", i*150, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Run cancelled after %dµs did not return", i*150)
		}
	}
}

// A start that fails for a reason of its own is still reported.
func TestRun_RealStartErrorIsReturned(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Not a valid durable consumer name: JetStream refuses it.
	w := worker.Config{Service: "bad.name", AckWait: 5 * time.Second, MaxDeliver: 3, Grace: time.Second}
	err := worker.Run(ctx, b, w, noStep)
	if err == nil || !strings.Contains(err.Error(), "creating the bad.name consumer") {
		t.Fatalf("Run = %v, want the consumer creation's error", err)
	}
}
