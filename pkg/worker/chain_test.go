package worker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// StartStep proves a command fresh by appending its start guarded by the
// command's dispatch: with nothing since the dispatch it reads nothing, and
// the stored start names the dispatch as the event before it. Anything
// since (a cancel, a later dispatch, the step's result) makes the append
// conflict, and the reads then say why the command must not run; a start
// already stored (a redelivery) or a command without its dispatch's
// sequence is checked by reading.
func TestStartStep_GuardedByTheDispatch(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	cases := []struct {
		name        string
		noSeq       bool
		since       func(wo workorder.ID, cmd events.RunStep)
		startTwice  bool
		why         string // "" runs
		reads, prev bool   // reads expected; the start stored with Prev
	}{
		{name: "nothing since the dispatch", prev: true},
		{name: "cancelled since", why: "cancelled", reads: true, since: func(wo workorder.ID, _ events.RunStep) {
			publish(t, b, wo, "c", events.TypeCancelled, &events.Cancelled{Reason: "stop"})
		}},
		{name: "a later dispatch", why: "superseded", reads: true, since: func(wo workorder.ID, cmd events.RunStep) {
			publish(t, b, wo, "d2", events.TypeStepDispatched, &events.StepDispatched{Step: cmd.Step, Attempt: 2})
		}},
		{name: "already completed", why: "already completed", reads: true, since: func(wo workorder.ID, cmd events.RunStep) {
			if err := worker.FinishStep(ctx, b, cmd, events.StepResult{Success: true}, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the same attempt sent again after a wait started", why: "superseded by a later command", reads: true,
			since: func(wo workorder.ID, cmd events.RunStep) {
				again := cmd
				again.Args.Waits, again.DispatchSeq = 1, publish(t, b, wo, "w1", events.TypeStepWaiting, &events.StepWaiting{Step: cmd.Step, Attempt: 1})
				if _, why, err := worker.StartStep(ctx, b, again, "w"); err != nil || why != "" {
					t.Fatalf("the command sent after the wait: %q, %v", why, err)
				}
			}},
		{name: "redelivered after its start", startTwice: true, reads: true, prev: true},
		{name: "no dispatch sequence (an older orchestrator)", noSeq: true, reads: true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wo := workorder.ID("wo-0000c4a" + string(rune('0'+i)))
			cmd := events.RunStep{WorkOrderID: wo, Step: workorder.StepExecute, Attempt: 1}
			dispatch := publish(t, b, wo, "d1", events.TypeStepDispatched, &events.StepDispatched{Step: cmd.Step, Attempt: 1})
			if !c.noSeq {
				cmd.DispatchSeq = dispatch
			}
			if c.since != nil {
				c.since(wo, cmd)
			}
			if c.startTwice {
				if _, why, err := worker.StartStep(ctx, b, cmd, "w"); err != nil || why != "" {
					t.Fatalf("first start: %q, %v", why, err)
				}
			}
			reads := env.CountDirectGets(t)
			seq, why, err := worker.StartStep(ctx, b, cmd, "w")
			if err != nil {
				t.Fatal(err)
			}
			if c.why == "" && why != "" || !strings.Contains(why, c.why) {
				t.Fatalf("StartStep says %q; want %q", why, c.why)
			}
			if n := reads(); (n > 0) != c.reads {
				t.Errorf("direct gets sent: %d; want some: %t", n, c.reads)
			}
			started, ok, err := b.LastEvent(ctx, wo, events.TypeStepStarted)
			if err != nil {
				t.Fatal(err)
			}
			if c.why != "" {
				if ok && started.ID == cmd.ID()+".started" {
					t.Fatalf("a command that must not run recorded a start: %+v", started)
				}
				return
			}
			if !ok || started.Seq != seq {
				t.Fatalf("stored start %+v (found %t); StartStep returned seq %d", started, ok, seq)
			}
			if gotPrev := started.Prev != nil && *started.Prev == dispatch; gotPrev != c.prev {
				t.Errorf("stored start's Prev = %v; want the dispatch's seq %d: %t", started.Prev, dispatch, c.prev)
			}
		})
	}
}

// A step's result is appended guarded by its start, so it too names the
// event before it; with an event in between it is stored all the same,
// unguarded.
func TestFinishStep_GuardedByTheStart(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	for i, between := range []bool{false, true} {
		wo := workorder.ID("wo-0000f1a" + string(rune('0'+i)))
		cmd := events.RunStep{WorkOrderID: wo, Step: workorder.StepPlanning, Attempt: 1}
		cmd.DispatchSeq = publish(t, b, wo, "d1", events.TypeStepDispatched, &events.StepDispatched{Step: cmd.Step, Attempt: 1})
		started, why, err := worker.StartStep(ctx, b, cmd, "w")
		if err != nil || why != "" {
			t.Fatalf("start: %q, %v", why, err)
		}
		if between {
			publish(t, b, wo, "c", events.TypeCancelled, &events.Cancelled{})
		}
		if err := worker.FinishStep(ctx, b, cmd, events.StepResult{Success: true}, started); err != nil {
			t.Fatal(err)
		}
		done, ok, err := b.LastEvent(ctx, wo, events.TypeStepCompleted)
		if err != nil || !ok {
			t.Fatalf("between=%t: result stored: %t, %v", between, ok, err)
		}
		if between && done.Prev != nil {
			t.Errorf("result stored after a cancel claims to follow seq %d directly", *done.Prev)
		}
		if !between && (done.Prev == nil || *done.Prev != started) {
			t.Errorf("result's Prev = %v; want the start's seq %d", done.Prev, started)
		}
	}
}

func publish(t *testing.T, b *bus.Bus, wo workorder.ID, id, typ string, data any) uint64 {
	t.Helper()
	seq, err := b.PublishEvent(context.Background(), b.Event(string(wo)+"."+id, typ, wo, data), nil)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// A retry now racing the timer: the step waited, the timer's wake-up sent
// its command again (DispatchSeq: the wait), and before any worker took it
// the user asked to retry now, which sent another command of the same
// attempt marked IgnoreAccountLimit (DispatchSeq: the retry). Whichever a
// worker takes first, only the retry's runs: were the timer's to start
// first, it would wait again on the account flag and then supersede the
// retry's, losing what the user asked for. And a command redelivered after
// its own run waited must not run again beside the one sent after the
// wait.
func TestStartStep_RetryNowRacingTheTimersResend(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	wo := workorder.ID("wo-0000c4b0")
	first := events.RunStep{WorkOrderID: wo, Step: workorder.StepExecute, Attempt: 1}
	first.DispatchSeq = publish(t, b, wo, "d1", events.TypeStepDispatched, &events.StepDispatched{Step: first.Step, Attempt: 1})
	started, why, err := worker.StartStep(ctx, b, first, "w")
	if err != nil || why != "" {
		t.Fatalf("first start: %q, %v", why, err)
	}
	if err := worker.WaitStep(ctx, b, first, events.StepWaiting{Reason: events.WaitUsageLimit}, started); err != nil {
		t.Fatal(err)
	}
	waited, _, err := b.LastEvent(ctx, wo, events.TypeStepWaiting)
	if err != nil {
		t.Fatal(err)
	}
	timers := first
	timers.Args.Waits, timers.DispatchSeq = 1, waited.Seq
	retry := first
	retry.Args.Waits, retry.Args.IgnoreAccountLimit = 2, true
	retry.DispatchSeq = publish(t, b, wo, "retry_requested.r1", events.TypeRetryRequested, &events.RetryRequested{Round: 1, Reason: "now"})

	if _, why, err := worker.StartStep(ctx, b, first, "w"); err != nil || why == "" {
		t.Fatalf("the first command redelivered after its run waited: %q, %v; want it refused", why, err)
	}
	_, why, err = worker.StartStep(ctx, b, timers, "w")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(why, "retry") {
		t.Fatalf("the timer's command taken before the retry's: %q; want it superseded by the retry", why)
	}
	if _, why, err := worker.StartStep(ctx, b, retry, "w"); err != nil || why != "" {
		t.Fatalf("the retry's command: %q, %v; want it to run", why, err)
	}
}

// A retry recorded while the step's command ran (the gateway's read model
// still showed the step waiting) is refused by the orchestrator: the step
// did not wait. That command, redelivered after its worker died, still
// runs; were it refused too, the step would never finish.
func TestStartStep_RetryWhileTheCommandRanDoesNotStopItsRedelivery(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	wo := workorder.ID("wo-0000c4b1")
	cmd := events.RunStep{WorkOrderID: wo, Step: workorder.StepExecute, Attempt: 1, Args: events.StepArgs{Waits: 1}}
	publish(t, b, wo, "d1", events.TypeStepDispatched, &events.StepDispatched{Step: cmd.Step, Attempt: 1})
	cmd.DispatchSeq = publish(t, b, wo, "w1", events.TypeStepWaiting, &events.StepWaiting{Step: cmd.Step, Attempt: 1})
	if _, why, err := worker.StartStep(ctx, b, cmd, "w"); err != nil || why != "" {
		t.Fatalf("first start: %q, %v", why, err)
	}
	publish(t, b, wo, "retry_requested.r1", events.TypeRetryRequested, &events.RetryRequested{Round: 1, Reason: "now"})
	if _, why, err := worker.StartStep(ctx, b, cmd, "w"); err != nil || why != "" {
		t.Fatalf("redelivered: %q, %v; want it to run", why, err)
	}
}
