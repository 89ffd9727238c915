package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// workloadSteps are the six agent steps of a full workflow.
var workloadSteps = []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute,
	workorder.StepReview, workorder.StepCommit, workorder.StepCreatePR}

// workload hands out the events of one work order after another, as a busy
// stream would: requested, started, dispatched/started/completed for each of
// six steps, completed (21 events per work order).
type workload struct {
	seq     uint64
	pending []events.Event
	orders  int
}

func (w *workload) next() events.Event {
	if len(w.pending) == 0 {
		w.orders++
		w.pending = w.workOrder(workorder.ID(fmt.Sprintf("wo-%08x", w.orders)))
	}
	e := w.pending[0]
	w.pending = w.pending[1:]
	w.seq++
	e.Seq = w.seq
	return e
}

func (w *workload) workOrder(id workorder.ID) []events.Event {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(w.orders) * time.Minute)
	mk := func(typ string, data any) events.Event {
		at = at.Add(time.Second)
		return events.New(fmt.Sprintf("%s.%s.%d", id, events.ShortName(typ), at.Unix()), typ, "bench", id, at, data)
	}
	evs := []events.Event{
		mk(events.TypeRequested, &events.Requested{WorkOrderID: id, RepositoryURL: "https://github.com/acme/demo",
			SandboxType: workorder.SandboxWorktree, UserRequest: "Fix authentication bug", SelectedCommands: workloadSteps}),
		mk(events.TypeStarted, &events.Started{SandboxIdentifier: id.SandboxIdentifier()}),
	}
	for _, step := range workloadSteps {
		evs = append(evs,
			mk(events.TypeStepDispatched, &events.StepDispatched{Step: step, Attempt: 1}),
			mk(events.TypeStepStarted, &events.StepStarted{Step: step, Attempt: 1}),
			mk(events.TypeStepCompleted, &events.StepResult{Step: step, AgentName: step.AgentName(), Attempt: 1,
				Success: true, Output: "done: " + string(step), DurationSeconds: 12.5, SessionID: "session-" + string(step),
				CostUSD: 0.05, Usage: &events.Usage{InputTokens: 2000, OutputTokens: 300}, NumTurns: 4}))
	}
	return append(evs, mk(events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/1"}))
}

// BenchmarkProjection applies a realistic event stream, one transaction per
// event, as the projector does.
func BenchmarkProjection(b *testing.B) {
	s := open(b, server.New(b))
	ctx := context.Background()
	var w workload
	for b.Loop() {
		if err := s.Apply(ctx, w.next()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.seq)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPlainInsert is the yardstick for BenchmarkProjection: one
// autocommitted single-row INSERT per iteration on the same kind of server.
func BenchmarkPlainInsert(b *testing.B) {
	db := server.New(b)
	pool := newPool(b, db.URL)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE scratch (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	var n int64
	for b.Loop() {
		n++
		if _, err := pool.Exec(ctx, "INSERT INTO scratch (id, payload) VALUES ($1, $2)", n, "payload"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "inserts/s")
}
