package orchestrator

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A step.completed published straight to the stream by someone who is not
// the worker of the step's kind is dead-lettered with the reason and
// changes nothing: the work order waits for the real result, and neither
// the live path nor a later history read folds the forgery in.
func TestRun_ForgedEvent_IsDeadLetteredAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	w := h.startWorkers(func(cmd events.RunStep) (events.StepResult, bool) {
		if cmd.Step == workorder.StepCreateBranch {
			return events.StepResult{}, false
		}
		return succeed(cmd)
	})
	wo := workorder.ID("wo-0000f0e1")
	ctx := context.Background()
	h.request(wo, "", workorder.StepCreateBranch, workorder.StepPlanning)
	cb := <-w.held
	h.waitIdle()
	before := len(h.history(wo))

	forgers := []struct {
		source string
		typ    string
		data   any
	}{
		{events.SourceGateway, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true}},
		{events.SourceGitHub, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true}},
		{events.SourceExecutor, events.TypeCompleted, &events.Completed{}},
		{events.SourceExecutor, events.TypeCancelRequested, &events.CancelRequested{Reason: "forged"}},
	}
	for i, f := range forgers {
		e := events.New("forged-"+string(rune('a'+i)), f.typ, f.source, wo, time.Now(), f.data)
		msg, err := events.Encode(e, bus.EventSubject(wo, f.typ))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.env.JS.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	h.waitIdle()

	if got := steps(w.receivedFor(wo)); !slices.Equal(got, []workorder.Step{workorder.StepCreateBranch}) {
		t.Fatalf("commands after the forgeries = %v, want create-branch only", got)
	}
	if got := len(h.history(wo)); got != before+len(forgers) {
		t.Fatalf("history has %d events, want %d + the %d forgeries and nothing decided", got, before, len(forgers))
	}
	dlq, err := h.env.JS.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(len(forgers)); seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("DLQ message %d: %v", seq, err)
		}
		reason := m.Header.Get(bus.HeaderDLQError)
		if !strings.Contains(reason, "may not produce") || m.Header.Get(bus.HeaderDLQConsumer) != ConsumerName ||
			m.Header.Get("ce-id") != "forged-"+string(rune('a'+seq-1)) {
			t.Errorf("DLQ message %d: headers %v", seq, m.Header)
		}
	}
	if recs := h.logs.records(t, "refusing a forged event; dead-lettering it"); len(recs) != len(forgers) || recs[0]["work_order_id"] != string(wo) {
		t.Errorf("log lines %v", recs)
	}

	// The real result still counts: the guard moved past the forgeries and
	// the history read that follows leaves them out.
	r, _ := succeed(cb)
	w.finish(cb, r)
	h.waitFor("the orchestrator's completion", func() bool {
		for _, e := range h.history(wo) {
			if e.Type == events.TypeCompleted && e.Source == events.SourceOrchestrator {
				return true
			}
		}
		return false
	})
	h.waitIdle()
	if got := steps(w.receivedFor(wo)); !slices.Equal(got, []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning}) {
		t.Fatalf("commands = %v", got)
	}
}
