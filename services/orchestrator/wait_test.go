package orchestrator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// waitOnce answers execute's first command with step.waiting until `for`
// after it arrives, and remembers until when.
type waitOnce struct {
	after time.Duration
	mu    sync.Mutex
	until time.Time
}

func (w *waitOnce) wait(cmd events.RunStep) *events.StepWaiting {
	if cmd.Step != workorder.StepExecute || cmd.Args.Waits > 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.until = time.Now().Add(w.after)
	return &events.StepWaiting{WaitingUntil: w.until, Reason: events.WaitUsageLimit, Agent: events.AgentClaude,
		Message: "waiting for Claude Code's usage limit to reset", SessionID: "sess-1", CostUSD: 0.5}
}

func (w *waitOnce) waitingUntil() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.until
}

var waitPlan = []workorder.Step{workorder.StepCreateBranch, workorder.StepExecute, workorder.StepCommit}

// executes returns the execute commands wo's workers received and when.
func (w *fakeWorkers) executes(wo workorder.ID) ([]events.RunStep, []time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var cmds []events.RunStep
	var at []time.Time
	for i, c := range w.received {
		if c.WorkOrderID == wo && c.Step == workorder.StepExecute {
			cmds, at = append(cmds, c), append(at, w.at[i])
		}
	}
	return cmds, at
}

func (h *harness) lastOf(wo workorder.ID, typ string) (events.Event, bool) {
	var last events.Event
	found := false
	for _, e := range h.history(wo) {
		if e.Type == typ {
			last, found = e, true
		}
	}
	return last, found
}

func (h *harness) timersStored() uint64 {
	h.t.Helper()
	st, err := h.env.JS.Stream(context.Background(), bus.StreamTimers)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

// A step that waits is sent again, as the same attempt, when its wait is
// over (not before), by the durable timer; the work order then completes.
func TestRun_Wait_TheStepIsSentAgainAtItsTimeAndTheWorkOrderCompletes(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	wt := &waitOnce{after: 2 * time.Second}
	w := h.startWaitingWorkers(succeed, wt.wait)
	wo := workorder.ID("wo-0000c001")
	h.request(wo, "", waitPlan...)

	end := h.waitEnded(wo)
	if end.Type != events.TypeCompleted {
		t.Fatalf("work order ended with %s, want completed", events.ShortName(end.Type))
	}
	cmds, at := w.executes(wo)
	if len(cmds) != 2 {
		t.Fatalf("execute commands = %d, want 2 (the first, and the one after the wait)", len(cmds))
	}
	waiting, _ := h.lastOf(wo, events.TypeStepWaiting)
	again := cmds[1]
	if again.Attempt != 1 || again.Args.Waits != 1 || again.Args.WaitSessionID != "sess-1" || again.Args.IgnoreAccountLimit ||
		again.ID() != string(wo)+".execute.1.w1" || again.DispatchSeq != waiting.Seq || again.Args.SpentUSD != 0.5 {
		t.Errorf("command after the wait = %s %+v (dispatch seq %d, waiting seq %d)", again.ID(), again.Args, again.DispatchSeq, waiting.Seq)
	}
	until := wt.waitingUntil()
	if at[1].Before(until) {
		t.Errorf("sent again at %s, before the wait ended at %s", at[1].Format(time.StampMilli), until.Format(time.StampMilli))
	}
	if late := at[1].Sub(until); late > 3*time.Second {
		t.Errorf("sent again %s after the wait ended, want about at once", late)
	}
	t.Logf("waited %s; sent again %s after the wait ended", at[1].Sub(at[0]).Round(time.Millisecond), at[1].Sub(until).Round(time.Millisecond))
	h.waitIdle()
	h.waitFor("the timer to be acked", func() bool { return h.timersStored() == 0 })
	for id, n := range countIDs(h.history(wo)) {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
}

// The timer outlives the orchestrator that set it: one started after the
// wait ended sends the step again, whether the timer is still stored or
// was lost (then start-up re-arms it).
func TestRun_Wait_ARestartedOrchestratorStillSendsTheStepAgain(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("timer lost %v", lost), func(t *testing.T) {
			h := newHarness(t)
			stop := h.startOrchestrator("a")
			wt := &waitOnce{after: 2 * time.Second}
			w := h.startWaitingWorkers(succeed, wt.wait)
			wo := workorder.ID("wo-0000c002")
			h.request(wo, "", waitPlan...)
			h.waitFor("the step to wait", func() bool { _, ok := h.lastOf(wo, events.TypeStepWaiting); return ok })
			h.waitFor("its timer", func() bool { return h.timersStored() == 1 })
			stop()
			if lost {
				st, err := h.env.JS.Stream(context.Background(), bus.StreamTimers)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Purge(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Until(wt.waitingUntil()) + 500*time.Millisecond)
			if cmds, _ := w.executes(wo); len(cmds) != 1 {
				t.Fatalf("execute sent %d times while no orchestrator ran, want once", len(cmds))
			}
			h.startOrchestrator("b")
			if end := h.waitEnded(wo); end.Type != events.TypeCompleted {
				t.Fatalf("work order ended with %s, want completed", events.ShortName(end.Type))
			}
			if cmds, _ := w.executes(wo); len(cmds) != 2 || cmds[1].Args.Waits != 1 {
				t.Fatalf("execute commands = %d, want the first and one after the wait", len(cmds))
			}
		})
	}
}

// A waiting work order can be cancelled: it ends at once and its step is
// never sent again, not even when the timer fires.
func TestRun_Wait_CancelWhileWaiting(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	wt := &waitOnce{after: 2 * time.Second}
	w := h.startWaitingWorkers(succeed, wt.wait)
	wo := workorder.ID("wo-0000c003")
	h.request(wo, "", waitPlan...)
	h.waitFor("the step to wait", func() bool { _, ok := h.lastOf(wo, events.TypeStepWaiting); return ok })

	e := h.ext.Event(string(wo)+".cancel_requested", events.TypeCancelRequested, wo, &events.CancelRequested{Reason: "not now"})
	if _, err := h.ext.PublishEvent(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}
	if end := h.waitEnded(wo); end.Type != events.TypeCancelled {
		t.Fatalf("work order ended with %s, want cancelled", events.ShortName(end.Type))
	}
	if time.Now().After(wt.waitingUntil()) {
		t.Fatal("the cancel took longer than the wait; the test proves nothing")
	}
	// The timer fires, finds the wait over and is acked, sending nothing.
	h.waitFor("the timer to fire and be acked", func() bool { return h.timersStored() == 0 })
	h.waitIdle()
	if cmds, _ := w.executes(wo); len(cmds) != 1 {
		t.Fatalf("execute sent %d times, want once: a cancelled work order's step must not be sent again", len(cmds))
	}
}

// A retry while the step waits sends it again at once, marked to run
// past the account limit, long before the wait would end.
func TestRun_Wait_RetryWhileWaitingSendsTheStepNow(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	wt := &waitOnce{after: time.Hour}
	w := h.startWaitingWorkers(succeed, wt.wait)
	wo := workorder.ID("wo-0000c004")
	h.request(wo, "", waitPlan...)
	h.waitFor("the step to wait", func() bool { _, ok := h.lastOf(wo, events.TypeStepWaiting); return ok })

	asked := time.Now()
	e := h.ext.Event(string(wo)+".retry_requested.r1", events.TypeRetryRequested, wo, &events.RetryRequested{Round: 1, Reason: "now"})
	if _, err := h.ext.PublishEvent(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}
	if end := h.waitEnded(wo); end.Type != events.TypeCompleted || end.ID != string(wo)+".completed.r1" {
		t.Fatalf("work order ended with %s %s, want completed under %s.completed.r1", events.ShortName(end.Type), end.ID, wo)
	}
	cmds, at := w.executes(wo)
	if len(cmds) != 2 {
		t.Fatalf("execute commands = %d, want 2", len(cmds))
	}
	retry, _ := h.lastOf(wo, events.TypeRetryRequested)
	if c := cmds[1]; !c.Args.IgnoreAccountLimit || c.Args.Waits != 2 || c.Attempt != 1 || c.DispatchSeq != retry.Seq {
		t.Errorf("command after the retry = %s %+v (dispatch seq %d, retry seq %d)", c.ID(), c.Args, c.DispatchSeq, retry.Seq)
	}
	t.Logf("sent again %s after the retry was asked for", at[1].Sub(asked).Round(time.Millisecond))
}
