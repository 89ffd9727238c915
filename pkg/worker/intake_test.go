package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// replicaBus is a Bus on a connection of its own, as another replica has.
func replicaBus(t *testing.T, env *natstest.Env, name string) *bus.Bus {
	t.Helper()
	_, js := env.Client(t, name)
	return bus.New(js, "awo/"+name)
}

// Two step-worker replicas with one worker each share one durable. Slow
// commands are spread over both, and neither holds a command it is not
// running: the consumer never has more un-acked messages than there are
// workers, so a queued command waits on the server, where the first free
// replica takes it.
func TestRun_TakesNoMoreThanItCanRun(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const commands, stepTime = 6, 400 * time.Millisecond

	var (
		mu      sync.Mutex
		ranBy   = map[string]int{}
		running = map[string]int{}
		overlap bool // a replica running two steps at once
		done    atomic.Int32
	)
	handler := func(name string) worker.Handler {
		return func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
			mu.Lock()
			running[name]++
			overlap = overlap || running[name] > 1
			ranBy[name]++
			mu.Unlock()
			time.Sleep(stepTime)
			mu.Lock()
			running[name]--
			mu.Unlock()
			done.Add(1)
			return events.StepResult{Success: true}, nil
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, name := range []string{"replica-a", "replica-b"} {
		b := replicaBus(t, env, name)
		wg.Go(func() {
			err := worker.Run(runCtx, b, worker.Config{
				Service: "executor", Workers: 1, AckWait: 10 * time.Second, MaxDeliver: 3,
				Grace: time.Second, Worker: name, Logger: quiet,
			}, handler(name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	// Both replicas are pulling before the work arrives, so neither gets a
	// head start.
	waitFor(t, ctx, "both replicas pulling", func() bool {
		info, err := consumerInfo(ctx, env, "executor")
		return err == nil && info.NumWaiting >= 2
	})

	b := env.Bus("awo/orchestrator")
	for i := range commands {
		cmd := events.RunStep{WorkOrderID: workorder.ID(fmt.Sprintf("wo-0000%04x", i)), Step: workorder.StepPlanning, Attempt: 1}
		if err := worker.PublishCommand(ctx, b, cmd); err != nil {
			t.Fatal(err)
		}
	}
	maxAckPending := 0
	for done.Load() < commands {
		info, err := consumerInfo(ctx, env, "executor")
		if err != nil {
			t.Fatal(err)
		}
		maxAckPending = max(maxAckPending, info.NumAckPending)
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d steps ran", done.Load(), commands)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if maxAckPending > 2 {
		t.Errorf("the consumer had up to %d un-acked commands with 2 workers in all: a replica took commands it could not run", maxAckPending)
	}
	if maxAckPending == 0 {
		t.Errorf("never saw a command in hand: the sampling is broken")
	}
	if overlap {
		t.Errorf("a replica with one worker ran two steps at once")
	}
	if ranBy["replica-a"] == 0 || ranBy["replica-b"] == 0 || ranBy["replica-a"]+ranBy["replica-b"] != commands {
		t.Errorf("steps run per replica = %v, want all %d spread over both", ranBy, commands)
	}
	info, err := consumerInfo(ctx, env, "executor")
	if err != nil || info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("after the run: consumer %+v (%v), want nothing pending", info, err)
	}
}

var quiet = slog.New(slog.DiscardHandler)

func consumerInfo(ctx context.Context, env *natstest.Env, name string) (*jetstream.ConsumerInfo, error) {
	cons, err := env.JS.Consumer(ctx, bus.StreamCommands, name)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
