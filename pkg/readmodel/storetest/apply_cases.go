package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func testEmpty(t *testing.T, s readmodel.Store) {
	ctx := context.Background()
	if seq := applied(t, s); seq != 0 {
		t.Errorf("AppliedSequence = %d, want 0", seq)
	}
	if _, err := s.Get(ctx, "wo-00000000"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Get unknown: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Steps(ctx, "wo-00000000"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Steps unknown: err = %v, want ErrNotFound", err)
	}
	if ids := list(t, s, readmodel.Filter{}); len(ids) != 0 {
		t.Errorf("List = %v, want nothing", ids)
	}
}

func testLifecycle(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000a")
	evs := st.lifecycle(id, "https://github.com/acme/demo")

	// The row after the first event already reads as pending.
	apply(t, s, evs[0])
	wantWO, _ := fold(t, evs[:1])
	if got := get(t, s, id); !reflect.DeepEqual(got, wantWO) {
		t.Fatalf("after requested:\n got  %+v\n want %+v", got, wantWO)
	}
	if got := steps(t, s, id); len(got) != 0 {
		t.Fatalf("steps after requested = %+v, want none", got)
	}

	apply(t, s, evs[1:]...)
	order := matchesFold(t, s, id, evs, "after lifecycle")
	// Spelled out, so the suite does not only trust Fold.
	wantOrder := []string{"create-branch#1:true", "planning#1:false", "planning#2:true", "create-pr#1:true"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("step order = %v, want %v (internal steps hidden, execution order)", order, wantOrder)
	}
	got := get(t, s, id)
	if got.Status != workorder.StatusCompleted || got.CostUSD != 0.75 || got.GitCommitCount != 2 ||
		got.AgentSessionID == nil || *got.AgentSessionID != "session-3" {
		t.Errorf("row = %+v: want completed, cost 0.75, 2 commits, latest session session-3", got)
	}
	if seq := applied(t, s); seq != evs[len(evs)-1].Seq {
		t.Errorf("AppliedSequence = %d, want %d", seq, evs[len(evs)-1].Seq)
	}
}

func testReplay(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000b")
	evs := st.lifecycle(id, "https://github.com/acme/demo")
	apply(t, s, evs...)
	wantWO, wantSteps, wantSeq := get(t, s, id), steps(t, s, id), applied(t, s)

	apply(t, s, evs...)              // a full replay from sequence 1
	apply(t, s, evs[len(evs)-3:]...) // a redelivered tail
	if got := get(t, s, id); !reflect.DeepEqual(got, wantWO) {
		t.Errorf("row changed by replay:\n got  %+v\n want %+v", got, wantWO)
	}
	if got := steps(t, s, id); !reflect.DeepEqual(got, wantSteps) {
		t.Errorf("steps changed by replay: got %d records, want %d", len(got), len(wantSteps))
	}
	if seq := applied(t, s); seq != wantSeq {
		t.Errorf("AppliedSequence = %d after replay, want %d", seq, wantSeq)
	}
}

// testLateEvent delivers an older event after a newer one (seq 5, then 3),
// as a redelivery racing the stream would: the row stays at 5.
func testLateEvent(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000f")
	apply(t, s, st.requested(id, "https://github.com/acme/demo")) // seq 1
	st.seq = 2
	late := st.next(id, events.TypeStarted, &events.Started{SandboxIdentifier: "late-sandbox"}) // seq 3
	st.seq = 4
	failed := st.next(id, events.TypeFailed, &events.Failed{ErrorMessage: "boom"}) // seq 5
	apply(t, s, failed)
	want := get(t, s, id)
	apply(t, s, late)
	if got := get(t, s, id); !reflect.DeepEqual(got, want) {
		t.Errorf("a late event changed the row:\n got  %+v\n want %+v", got, want)
	}
	if got := get(t, s, id); got.Version != 5 || got.Status != workorder.StatusFailed {
		t.Errorf("row at version %d, status %s; want 5, failed", got.Version, got.Status)
	}
	if seq := applied(t, s); seq != 5 {
		t.Errorf("AppliedSequence = %d, want 5", seq)
	}
}

func testUnknownWorkOrder(t *testing.T, s readmodel.Store) {
	var st stream
	e := st.next("wo-0000000c", events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})
	apply(t, s, e)
	if seq := applied(t, s); seq != e.Seq {
		t.Errorf("AppliedSequence = %d, want %d", seq, e.Seq)
	}
	if _, err := s.Get(context.Background(), "wo-0000000c"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Get: err = %v, want ErrNotFound (no row without its requested event)", err)
	}
}

func testInvalidEvent(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000d")
	req := st.requested(id, "https://github.com/acme/demo")
	apply(t, s, req)
	want := get(t, s, id)

	bad := st.next(id, events.TypeStepCompleted, &events.Completed{})
	if err := s.Apply(context.Background(), bad); !errors.Is(err, readmodel.ErrInvalidEvent) {
		t.Fatalf("Apply(bad payload): err = %v, want ErrInvalidEvent", err)
	}
	if seq := applied(t, s); seq != bad.Seq {
		t.Errorf("AppliedSequence = %d, want %d: a bad event must not stall the projection", seq, bad.Seq)
	}
	if got := get(t, s, id); !reflect.DeepEqual(got, want) {
		t.Errorf("bad event changed the row:\n got  %+v\n want %+v", got, want)
	}
	// The projection goes on after it.
	apply(t, s, st.next(id, events.TypeStarted, &events.Started{}))
	if got := get(t, s, id); got.Status != workorder.StatusRunning {
		t.Errorf("status = %s after started, want running", got.Status)
	}
}

// testConcurrent reads while one writer applies, as the gateway does with
// the projector; run it with -race.
func testConcurrent(t *testing.T, s readmodel.Store) {
	var st stream
	var evs []events.Event
	ids := make([]workorder.ID, 10)
	for i := range ids {
		ids[i] = workorder.ID(fmt.Sprintf("wo-%08x", 0x100+i))
		evs = append(evs, st.lifecycle(ids[i], "https://github.com/acme/demo")...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := s.List(ctx, readmodel.Filter{}); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				for _, id := range ids {
					if _, err := s.Get(ctx, id); err != nil && !errors.Is(err, readmodel.ErrNotFound) && ctx.Err() == nil {
						errs <- err
						return
					}
					if _, err := s.Steps(ctx, id); err != nil && !errors.Is(err, readmodel.ErrNotFound) && ctx.Err() == nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	apply(t, s, evs...)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent read: %v", err)
	}
	if got := list(t, s, readmodel.Filter{Status: workorder.StatusCompleted}); len(got) != len(ids) {
		t.Errorf("%d completed work orders, want %d", len(got), len(ids))
	}
}

// testRetry: a work order that failed, was retried and completed reads as
// completed without the old error, and its history shows both attempts of
// the step that failed.
func testRetry(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000f")
	evs := []events.Event{
		st.requested(id, "https://github.com/acme/demo"),
		st.next(id, events.TypeStarted, &events.Started{SandboxIdentifier: id.SandboxIdentifier()}),
		st.stepResult(id, events.StepResult{Step: workorder.StepExecute, Attempt: 1, ErrorMessage: "tests are red"}),
		st.next(id, events.TypeFailed, &events.Failed{Step: workorder.StepExecute, ErrorMessage: "execute failed: tests are red"}),
	}
	apply(t, s, evs...)
	if got := get(t, s, id); got.Status != workorder.StatusFailed || got.ErrorMessage == nil {
		t.Fatalf("before the retry: %+v, want failed with a reason", got)
	}
	retry := st.next(id, events.TypeRetryRequested, &events.RetryRequested{Round: 1})
	apply(t, s, retry)
	if got := get(t, s, id); got.Status != workorder.StatusRunning || got.ErrorMessage != nil {
		t.Fatalf("after the retry: status %s, error %v; want running without the old error", got.Status, got.ErrorMessage)
	}
	rest := []events.Event{
		st.stepResult(id, events.StepResult{Step: workorder.StepExecute, Attempt: 2, Success: true, Output: "done"}),
		st.next(id, events.TypeCompleted, &events.Completed{}),
	}
	apply(t, s, rest...)
	all := append(append(evs, retry), rest...)
	order := matchesFold(t, s, id, all, "after the retried run")
	if want := []string{"execute#1:false", "execute#2:true"}; !reflect.DeepEqual(order, want) {
		t.Errorf("step history = %v, want %v", order, want)
	}
	if got := get(t, s, id); got.Status != workorder.StatusCompleted || got.ErrorMessage != nil {
		t.Errorf("final row: status %s, error %v; want completed without error", got.Status, got.ErrorMessage)
	}
}

// testFollowUp: a follow-up round reopens a completed work order, its
// steps are kept with their round next to the first run's, and a store
// rebuilt from the events knows the round (Postgres keeps it in the row's
// metadata, so a step applied later is stamped with it).
func testFollowUp(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000001f")
	evs := []events.Event{
		st.requested(id, "https://github.com/acme/demo"),
		st.next(id, events.TypeStarted, &events.Started{SandboxIdentifier: id.SandboxIdentifier()}),
		st.stepResult(id, events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true, BranchName: "feat/x"}),
		st.stepResult(id, events.StepResult{Step: workorder.StepCommit, Attempt: 1, Success: true}),
		st.next(id, events.TypeCompleted, &events.Completed{}),
		st.next(id, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "also the empty case", Round: 2}),
	}
	apply(t, s, evs...)
	if got := get(t, s, id); got.Status != workorder.StatusRunning || got.Round != 2 {
		t.Fatalf("after the follow-up request: status %s round %d, want running in round 2", got.Status, got.Round)
	}
	rest := []events.Event{
		st.next(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepFollowUp, Attempt: 1}),
		st.stepResult(id, events.StepResult{Step: workorder.StepFollowUp, Attempt: 1, Success: true, Output: "handled"}),
		st.stepResult(id, events.StepResult{Step: workorder.StepCommit, Attempt: 2, Success: true}),
		st.next(id, events.TypeCompleted, &events.Completed{}),
	}
	apply(t, s, rest...)
	matchesFold(t, s, id, append(evs, rest...), "after the round")
	var rounds []string
	for _, r := range steps(t, s, id) {
		rounds = append(rounds, fmt.Sprintf("%s#%d@%d", r.Step, r.Attempt, r.Round))
	}
	if want := []string{"create-branch#1@1", "commit#1@1", "follow-up#1@2", "commit#2@2"}; !reflect.DeepEqual(rounds, want) {
		t.Errorf("step history = %v, want %v", rounds, want)
	}
	if got := get(t, s, id); got.Status != workorder.StatusCompleted || got.CurrentPhase != nil {
		t.Errorf("final row: status %s phase %v; want completed", got.Status, got.CurrentPhase)
	}
}

// testBudget: the work order shows its cost cap (nil without one), a retry
// with max_cost_usd replaces it, and one without keeps it.
func testBudget(t *testing.T, s readmodel.Store) {
	var st stream
	const capped, uncapped = workorder.ID("wo-000000b1"), workorder.ID("wo-000000b2")
	req := st.requested(capped, "https://github.com/acme/demo")
	req.Data.(*events.Requested).MaxCostUSD = 0.01
	apply(t, s, req, st.requested(uncapped, "https://github.com/acme/demo"))
	if got := get(t, s, uncapped).MaxCostUSD; got != nil {
		t.Errorf("without a cap: max_cost_usd %v, want nil", *got)
	}
	wantCap := func(when string, want float64) {
		t.Helper()
		if got := get(t, s, capped).MaxCostUSD; got == nil || *got != want {
			t.Errorf("%s: max_cost_usd %v, want %v", when, got, want)
		}
	}
	wantCap("requested", 0.01)
	apply(t, s,
		st.next(capped, events.TypeStarted, &events.Started{SandboxIdentifier: capped.SandboxIdentifier()}),
		st.stepResult(capped, events.StepResult{Step: workorder.StepPlanning, Attempt: 1, CostUSD: 0.0124, ErrorMessage: "budget exceeded"}),
		st.next(capped, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "budget exceeded"}))
	apply(t, s, st.next(capped, events.TypeRetryRequested, &events.RetryRequested{Round: 1}))
	wantCap("after a retry without a cap", 0.01)
	apply(t, s, st.next(capped, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "budget exceeded"}),
		st.next(capped, events.TypeRetryRequested, &events.RetryRequested{Round: 2, MaxCostUSD: 1.5}))
	wantCap("after a retry with max_cost_usd 1.5", 1.5)
	if got := get(t, s, capped).CostUSD; got != 0.0124 {
		t.Errorf("cost_usd %v, want 0.0124", got)
	}
}

// testTotalCost: total_cost_usd is the sum of the work order's step
// results' cost_usd over every attempt and round, 0 before any, and
// survives the store (Postgres keeps it in the row's metadata).
func testTotalCost(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-000000c1")
	apply(t, s, st.requested(id, "https://github.com/acme/demo"))
	if got := get(t, s, id); got.TotalCostUSD != 0 {
		t.Errorf("requested: total_cost_usd %v, want 0", got.TotalCostUSD)
	}
	apply(t, s,
		st.next(id, events.TypeStarted, &events.Started{SandboxIdentifier: id.SandboxIdentifier()}),
		st.stepResult(id, events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true, CostUSD: 0.0004}),
		st.stepResult(id, events.StepResult{Step: workorder.StepPlanning, Attempt: 1, CostUSD: 0.25, ErrorMessage: "no plan"}),
		st.stepResult(id, events.StepResult{Step: workorder.StepPlanning, Attempt: 2, Success: true, CostUSD: 0.5}),
		st.next(id, events.TypeCompleted, &events.Completed{}),
		st.next(id, events.TypeFollowUpRequested, &events.FollowUpRequested{Round: 2, PromptText: "more"}),
		st.stepResult(id, events.StepResult{Step: workorder.StepFollowUp, Attempt: 1, Success: true, CostUSD: 1}))
	got := get(t, s, id)
	if got.TotalCostUSD != 1.7504 || got.TotalCostUSD != got.CostUSD {
		t.Errorf("total_cost_usd %v (cost_usd %v), want 1.7504 for both", got.TotalCostUSD, got.CostUSD)
	}
}

// testWaiting: while the step in hand waits, the work order stays running
// and shows until when (waiting_until) and why (current_phase); the step's
// next start, a retry while it waits, a result and the work order's end
// clear both.
func testWaiting(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-000000c1")
	until := base.Add(time.Hour)
	msg := "waiting for Claude Code's usage limit to reset: trying execute again at 13:00:00 UTC"
	wait := func() events.Event {
		return st.next(id, events.TypeStepWaiting, &events.StepWaiting{Step: workorder.StepExecute, Attempt: 1,
			WaitingUntil: until, Reason: events.WaitUsageLimit, Message: msg, CostUSD: 0.1})
	}
	start := func() events.Event {
		return st.next(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepExecute, Attempt: 1})
	}
	var evs []events.Event
	step := func(when string, e events.Event, waiting bool, phase string) {
		t.Helper()
		evs = append(evs, e)
		apply(t, s, e)
		matchesFold(t, s, id, evs, when)
		got := get(t, s, id)
		switch {
		case waiting && (got.WaitingUntil == nil || !got.WaitingUntil.Equal(until)):
			t.Errorf("%s: waiting_until %v, want %s", when, got.WaitingUntil, until)
		case !waiting && got.WaitingUntil != nil:
			t.Errorf("%s: waiting_until %s, want null", when, *got.WaitingUntil)
		}
		if gotPhase := ""; got.CurrentPhase != nil && *got.CurrentPhase != phase || got.CurrentPhase == nil && phase != "" {
			if got.CurrentPhase != nil {
				gotPhase = *got.CurrentPhase
			}
			t.Errorf("%s: current_phase %q, want %q", when, gotPhase, phase)
		}
	}
	step("requested", st.requested(id, "https://github.com/acme/demo"), false, "")
	step("started", st.next(id, events.TypeStarted, &events.Started{SandboxIdentifier: id.SandboxIdentifier()}), false, "")
	step("execute started", start(), false, "execute")
	step("waiting", wait(), true, msg)
	if got := get(t, s, id); got.Status != workorder.StatusRunning || got.CostUSD != 0.1 {
		t.Errorf("waiting: status %s cost %v; want running, the interrupted run's 0.1", got.Status, got.CostUSD)
	}
	step("started again", start(), false, "execute")
	step("waiting again", wait(), true, msg)
	step("retried while waiting", st.next(id, events.TypeRetryRequested, &events.RetryRequested{Round: 1, MaxCostUSD: 3}), false, "")
	if got := get(t, s, id); got.Status != workorder.StatusRunning || got.MaxCostUSD == nil || *got.MaxCostUSD != 3 {
		t.Errorf("retried while waiting: status %s cap %v; want running with the new cap", got.Status, got.MaxCostUSD)
	}
	step("a retry while not waiting", st.next(id, events.TypeRetryRequested, &events.RetryRequested{Round: 2}), false, "")
	step("waiting a third time", wait(), true, msg)
	step("completed its step", st.stepResult(id, events.StepResult{Step: workorder.StepExecute, Attempt: 1, Success: true}), false, "")
	step("waiting at the last step", wait(), true, msg)
	step("cancelled", st.next(id, events.TypeCancelled, &events.Cancelled{Reason: "enough"}), false, "")
	if got := get(t, s, id); got.Status != workorder.StatusCancelled {
		t.Errorf("status %s, want cancelled", got.Status)
	}
	step("a late wait after the end", wait(), false, "")
}
