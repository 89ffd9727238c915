package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
	"github.com/agentworkorders/awo/pkg/workorder"
)

var (
	quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))
	testCmd  = events.RunStep{WorkOrderID: "wo-0000a1b2", Step: workorder.StepExecute, Attempt: 1}
	errBoom  = errors.New("boom")
)

// calls records whether the wrapped handler ran, and answers with res, err.
type calls struct {
	ran bool
	ctx context.Context
	res events.StepResult
	err error
}

func (c *calls) handler(ctx context.Context, _ events.RunStep, _ *slog.Logger) (events.StepResult, error) {
	c.ran, c.ctx = true, ctx
	return c.res, c.err
}

// fakeSteps records what startFinish and recordStop record.
type fakeSteps struct {
	seq      uint64
	why      string
	startErr error
	finished []events.StepResult
	guards   []uint64
	ctxErr   error // the finish context's error: the result is recorded past a cancel
	waited   []events.StepWaiting
}

func (f *fakeSteps) start(context.Context, events.RunStep, string) (uint64, string, error) {
	return f.seq, f.why, f.startErr
}

func (f *fakeSteps) finish(ctx context.Context, _ events.RunStep, r events.StepResult, started uint64) error {
	f.finished, f.guards, f.ctxErr = append(f.finished, r), append(f.guards, started), ctx.Err()
	return nil
}

func (f *fakeSteps) wait(ctx context.Context, _ events.RunStep, w events.StepWaiting, started uint64) error {
	f.waited, f.guards, f.ctxErr = append(f.waited, w), append(f.guards, started), ctx.Err()
	return nil
}

func TestAdmission(t *testing.T) {
	cases := []struct {
		name     string
		admit    error
		why      string
		staleErr error
		ran      bool
		settled  bool
		err      error
	}{
		{name: "admitted", ran: true},
		{name: "refused: handed back", admit: errBoom, err: errBoom},
		{name: "refused and stale: settled", admit: errBoom, why: "its work order is cancelled", settled: true},
		{name: "refused, staleness unknown: handed back", admit: errBoom, why: "x", staleErr: errors.New("no stream"), err: errBoom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var next calls
			h := admission(
				func(context.Context, events.RunStep) error { return c.admit },
				func(context.Context, events.RunStep) (string, error) { return c.why, c.staleErr },
			)(next.handler)
			_, err := h(t.Context(), testCmd, quietLog)
			if next.ran != c.ran || settled(err) != c.settled || (c.err != nil && !errors.Is(err, c.err)) || (c.err == nil && !c.settled && err != nil) {
				t.Fatalf("ran %t, err %v (settled %t); want ran %t, err %v, settled %t", next.ran, err, settled(err), c.ran, c.err, c.settled)
			}
		})
	}
	var next calls
	if _, err := admission(nil, nil)(next.handler)(t.Context(), testCmd, quietLog); err != nil || !next.ran {
		t.Fatalf("without Admit: ran %t, err %v", next.ran, err)
	}
}

func TestStartFinish(t *testing.T) {
	cases := []struct {
		name     string
		steps    fakeSteps
		next     calls
		ran      bool
		finished bool
		settled  bool
		err      error
	}{
		{name: "runs and records the result guarded by the start", steps: fakeSteps{seq: 7}, next: calls{res: events.StepResult{Success: true}}, ran: true, finished: true},
		{name: "a failed step is a result too", steps: fakeSteps{seq: 7}, next: calls{res: events.StepResult{ErrorMessage: "no"}}, ran: true, finished: true},
		{name: "stale: skipped", steps: fakeSteps{why: "it has already completed"}, settled: true},
		{name: "start not recorded: handed back", steps: fakeSteps{startErr: errBoom}, err: errBoom},
		{name: "interrupted: handed back, no result", steps: fakeSteps{seq: 7}, next: calls{err: errBoom}, ran: true, err: errBoom},
		{name: "stopped: recorded already", steps: fakeSteps{seq: 7}, next: calls{err: errStopped}, ran: true, settled: true},
		{name: "waits: recorded, no result", steps: fakeSteps{seq: 7}, next: calls{err: Wait(events.StepWaiting{Reason: events.WaitUsageLimit})}, ran: true, settled: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			h := startFinish(&c.steps, "w")(func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
				cancel() // the grace ran out while the result was reached
				return c.next.handler(ctx, cmd, log)
			})
			_, err := h(ctx, testCmd, quietLog)
			if c.next.ran != c.ran || settled(err) != c.settled || !errors.Is(err, c.err) && !c.settled {
				t.Fatalf("ran %t, err %v; want ran %t, err %v, settled %t", c.next.ran, err, c.ran, c.err, c.settled)
			}
			if (len(c.steps.finished) == 1) != c.finished {
				t.Fatalf("results recorded: %+v; want one: %t", c.steps.finished, c.finished)
			}
			var w *Waiting
			if errors.As(c.next.err, &w) && (len(c.steps.waited) != 1 || c.steps.waited[0].Reason != w.Reason || c.steps.guards[0] != 7 || c.steps.ctxErr != nil) {
				t.Fatalf("waits recorded: %+v guarded by %v (context: %v); want one, guarded by 7, live", c.steps.waited, c.steps.guards, c.steps.ctxErr)
			}
			if c.finished && (c.steps.guards[0] != 7 || c.steps.finished[0] != c.next.res || c.steps.ctxErr != nil) {
				t.Fatalf("recorded %+v guarded by %d (context: %v); want %+v guarded by 7, live", c.steps.finished[0], c.steps.guards[0], c.steps.ctxErr, c.next.res)
			}
		})
	}
}

func TestRecordStop(t *testing.T) {
	for _, cancelled := range []bool{false, true} {
		var s fakeSteps
		ctx, cancel := context.WithCancelCause(t.Context())
		next := calls{res: events.StepResult{Success: true, DurationSeconds: 3}, err: nil}
		h := recordStop(&s)(func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
			if cancelled {
				cancel(&CancelledError{Reason: "enough"})
			}
			return next.handler(ctx, cmd, log)
		})
		res, err := h(ctx, testCmd, quietLog)
		if !cancelled {
			if err != nil || res != next.res || len(s.finished) != 0 {
				t.Fatalf("not cancelled: %+v, %v, recorded %+v; want the handler's answer, nothing recorded", res, err, s.finished)
			}
			continue
		}
		want := events.StepResult{ErrorMessage: "stopped: the work order was cancelled: enough", DurationSeconds: 3}
		if !errors.Is(err, errStopped) || res != want || len(s.finished) != 1 || s.finished[0] != want || s.guards[0] != 0 || s.ctxErr != nil {
			t.Fatalf("cancelled: %+v, %v, recorded %+v (guards %v, context %v); want %+v recorded unguarded, errStopped", res, err, s.finished, s.guards, s.ctxErr, want)
		}
	}
}

// A cancel stops a step in hand, and the clean-up after it waits for the
// step to end.
func TestWatchCancel(t *testing.T) {
	w := newCancelWatch()
	inStep := make(chan struct{})
	var cause error
	h := watchCancel(w)(func(ctx context.Context, _ events.RunStep, _ *slog.Logger) (events.StepResult, error) {
		close(inStep)
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond)
		cause = context.Cause(ctx)
		return events.StepResult{}, nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h(t.Context(), testCmd, quietLog)
	}()
	<-inStep
	var mu sync.Mutex
	cleaned := false
	w.stop(testCmd.WorkOrderID, &CancelledError{Reason: "r"}, func() {
		mu.Lock()
		defer mu.Unlock()
		cleaned = true
		var ce *CancelledError
		if !errors.As(cause, &ce) || ce.Reason != "r" {
			t.Errorf("the step saw cause %v; want the cancel", cause)
		}
	})
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !cleaned {
		t.Fatal("the clean-up did not run")
	}
	// Another work order's step is not stopped.
	w.stop("wo-0000ffff", &CancelledError{}, nil)
}

var recordSpans = sync.OnceValue(func() *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	return rec
})

func TestTraceSteps(t *testing.T) {
	rec := recordSpans()
	cases := []struct {
		name    string
		next    calls
		outcome string
	}{
		{name: "completed", next: calls{res: events.StepResult{Success: true}}, outcome: "completed"},
		{name: "failed", next: calls{res: events.StepResult{ErrorMessage: "no"}}, outcome: "failed"},
		{name: "interrupted", next: calls{err: errBoom}, outcome: "interrupted"},
		{name: "skipped", next: calls{err: skipped{"it has already completed"}}, outcome: "skipped"},
		{name: "stopped", next: calls{res: events.StepResult{ErrorMessage: "stopped: x"}, err: errStopped}, outcome: "failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _ = traceSteps("executor")(c.next.handler)(t.Context(), testCmd, quietLog)
			spans := rec.Ended()
			last := spans[len(spans)-1]
			if last.Name() != "executor step execute" || tracing.TraceParent(c.next.ctx) == "" {
				t.Fatalf("span %q, handler's traceparent %q", last.Name(), tracing.TraceParent(c.next.ctx))
			}
			var outcome string
			for _, a := range last.Attributes() {
				if a.Key == tracing.KeyOutcome {
					outcome = a.Value.AsString()
				}
				if a.Key == attribute.Key("awo.skip_reason") && !strings.Contains(a.Value.AsString(), "completed") {
					t.Errorf("skip reason %q", a.Value.AsString())
				}
			}
			if outcome != c.outcome {
				t.Fatalf("outcome %q; want %q", outcome, c.outcome)
			}
		})
	}
}
