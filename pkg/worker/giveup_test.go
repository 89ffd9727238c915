package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// deadWorker is an executor that dies during every delivery: it takes the
// command and never answers, so JetStream redelivers it after AckWait
// until MaxDeliver.
func deadWorker(t *testing.T, ctx context.Context, env *natstest.Env, w worker.Config) {
	t.Helper()
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, bus.StreamCommands, worker.ConsumerConfig(w))
	if err != nil {
		t.Fatal(err)
	}
	for taken := 0; taken < w.MaxDeliver; {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the dead worker got %d of %d deliveries: %v", taken, w.MaxDeliver, err)
			}
			continue
		}
		_ = msg // dropped: no ack, no nak, no heartbeat
		taken++
	}
}

// stepWorker is the executor's step worker with a short AckWait.
var stepWorker = worker.Config{Service: "executor", AckWait: 500 * time.Millisecond, MaxDeliver: 2, Grace: time.Second, Logger: quiet}

// watchAdvisory records the max-deliveries advisories the server sends.
func watchAdvisory(t *testing.T, env *natstest.Env) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 8)
	sub, err := env.NC.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+bus.StreamCommands+".executor", ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

// The executor died on the command's last delivery. The two replicas that
// come up next (or were idle all along) settle it: one DLQ copy with the
// reason, one step.failed naming the step, the command gone from the work
// queue, and the step never run again. Both replicas hear the advisory;
// each effect happens once.
func TestRun_SettlesACommandItsWorkerDiedOn(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	advisories := watchAdvisory(t, env)

	cmd := events.RunStep{WorkOrderID: "wo-0000dead", Step: workorder.StepExecute, Attempt: 1}
	if err := worker.PublishCommand(ctx, env.Bus("awo/orchestrator"), cmd); err != nil {
		t.Fatal(err)
	}
	deadWorker(t, ctx, env, stepWorker)

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, name := range []string{"replica-a", "replica-b"} {
		b := replicaBus(t, env, name)
		wg.Go(func() {
			err := worker.Run(runCtx, b, stepWorker, func(context.Context, events.RunStep, *slog.Logger) (events.StepResult, error) {
				t.Errorf("%s ran a step JetStream had given up on", name)
				return events.StepResult{Success: true}, nil
			})
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	defer func() { stop(); wg.Wait() }()
	select {
	case <-advisories:
	case <-ctx.Done():
		t.Fatal("JetStream never gave up on the command")
	}

	assertSettled(t, ctx, env, cmd, 0)
}

// An advisory nobody heard (a process that pulls but does not watch) leaves
// the command behind the ack floor; the next watcher to start settles it.
func TestWatchAbandoned_SweepsWhatNobodyHeard(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	advisories := watchAdvisory(t, env)

	cmd := events.RunStep{WorkOrderID: "wo-0000beef", Step: workorder.StepPlanning, Attempt: 2}
	if err := worker.PublishCommand(ctx, env.Bus("awo/orchestrator"), cmd); err != nil {
		t.Fatal(err)
	}
	deadWorker(t, ctx, env, stepWorker)
	// One more pull, by a worker that does not watch: it triggers the
	// advisory, which only this test hears.
	cons, err := env.JS.Consumer(ctx, bus.StreamCommands, "executor")
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := cons.Next(jetstream.FetchMaxWait(3 * time.Second)); err == nil {
		t.Fatalf("delivered once more after MaxDeliver: %v", msg.Subject())
	}
	select {
	case <-advisories:
	case <-ctx.Done():
		t.Fatal("JetStream never gave up on the command")
	}
	// A command that is merely queued is left alone by the sweep.
	queued := events.RunStep{WorkOrderID: "wo-0000f00d", Step: workorder.StepPlanning, Attempt: 1}
	if err := worker.PublishCommand(ctx, env.Bus("awo/orchestrator"), queued); err != nil {
		t.Fatal(err)
	}

	stop, err := worker.WatchAbandoned(ctx, env.Bus("awo/executor"), stepWorker)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	assertSettled(t, ctx, env, cmd, 1)
	if n := eventsOfType(t, ctx, env, queued.WorkOrderID, events.TypeStepFailed); n != 0 {
		t.Errorf("the queued command's step failed %d times, want left alone", n)
	}
}

// assertSettled waits until the command is gone from the work queue
// (leaving others commands), then checks the DLQ copy and step.failed.
func assertSettled(t *testing.T, ctx context.Context, env *natstest.Env, cmd events.RunStep, others uint64) {
	t.Helper()
	waitFor(t, ctx, "the command to leave the work queue", func() bool {
		return streamMsgs(t, ctx, env, bus.StreamCommands) == others
	})
	// Give a second replica time to repeat what it would repeat.
	time.Sleep(300 * time.Millisecond)

	dlq, err := env.JS.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("DLQ holds %d messages (%v), want exactly one copy", info.State.Msgs, info.State.Subjects)
	}
	dead, err := dlq.GetLastMsgForSubject(ctx, "workorders.dlq.executor."+string(cmd.Step))
	if err != nil {
		t.Fatalf("no DLQ copy on the step's subject: %v", err)
	}
	if reason := dead.Header.Get(bus.HeaderDLQError); !strings.Contains(reason, "no worker answered within AWO_ACK_WAIT") {
		t.Errorf("DLQ reason = %q", reason)
	}
	if got, err := events.Decode(dead.Header, dead.Data); err != nil || got.Data.(*events.RunStep).WorkOrderID != cmd.WorkOrderID {
		t.Errorf("DLQ copy does not hold the command: %+v, %v", got, err)
	}

	if n := eventsOfType(t, ctx, env, cmd.WorkOrderID, events.TypeStepFailed); n != 1 {
		t.Fatalf("step.failed published %d times, want once", n)
	}
	hist, err := env.Bus("test").History(ctx, cmd.WorkOrderID, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := hist.Events[0].Data.(*events.StepResult)
	want := "the executor service gave up on " + string(cmd.Step) + " after 2 deliveries: no worker answered within AWO_ACK_WAIT (500ms) (it died or hung)"
	if r.Success || r.Step != cmd.Step || r.Attempt != cmd.Attempt || r.ErrorMessage != want {
		t.Errorf("step.failed = %+v, want step %s attempt %d with %q", r, cmd.Step, cmd.Attempt, want)
	}
}

func streamMsgs(t *testing.T, ctx context.Context, env *natstest.Env, name string) uint64 {
	t.Helper()
	st, err := env.JS.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func eventsOfType(t *testing.T, ctx context.Context, env *natstest.Env, wo workorder.ID, typ string) int {
	t.Helper()
	hist, err := env.Bus("test").History(ctx, wo, 0)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	n := 0
	for _, e := range hist.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}
