package system_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/bench/internal/fakes"
	"github.com/agentworkorders/awo/bench/internal/system"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/tracing"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/github/gh"
)

// The issue's acceptance test for traces: one work order, requested over
// HTTP and carried through the gateway, the orchestrator, the executor and
// the github service (each on its own NATS connection, as in the
// all-in-one), is one trace. Its spans — the HTTP request, every
// orchestration decision, every step, every agent run and every gh call —
// share one trace id, and each hangs below the span that caused it.
//
// The global tracer provider is set once per test binary: tracers taken
// before the first set follow it, later sets do not reach them. So the
// provider and its exporter are made once and kept (a second run, as with
// -count=2, finds them in place); no other test of this package sets one.
var spanExporter = sync.OnceValue(func() *tracetest.InMemoryExporter {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return exp
})

func TestTrace_OneWorkOrderIsOneTraceAcrossEveryService(t *testing.T) {
	exp := spanExporter()
	exp.Reset()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := natstest.Start(t).Server
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"AWO_SHUTDOWN_GRACE": "2s", "AGENT_WORK_ORDER_TEMP_DIR": t.TempDir()}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	sandboxes, err := fakes.NewFlatSandboxes(filepath.Join(t.TempDir(), "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	fake := fakegh.Install(t, fakegh.Options{Issues: []events.Issue{{Number: 42, Title: "Login fails", Body: "It does."}}})
	sys, err := system.Start(ctx, system.Options{
		Config: cfg, Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name) },
		Agent: fakes.InstantAgent{}, Sandboxes: sandboxes, GH: &gh.Client{Path: fake.Path},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}

	id := workorder.NewID()
	ended := sys.Ends.Expect(id)
	post(t, sys.URL, map[string]any{
		"agent_work_order_id": id,
		"repository_url":      "https://github.com/acme/demo",
		"user_request":        "Fix the login bug",
		"github_issue_number": "42",
	})
	select {
	case end := <-ended:
		if end.Status != workorder.StatusCompleted {
			t.Fatalf("work order ended %s: %s", end.Status, end.ErrorMessage)
		}
	case <-ctx.Done():
		t.Fatal("work order did not end within a minute")
	}
	if err := sys.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	spans := exp.GetSpans().Snapshots()

	// The trace begins at the gateway: the create request's span.
	root := one(t, spans, func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == "POST /api/agent-work-orders" && attr(s, tracing.KeyWorkOrderID) == string(id)
	})
	if root.Parent().IsValid() {
		t.Errorf("the request span has a parent %s; the client sent no traceparent", root.Parent().SpanID())
	}
	if got := attrOf(root, "http.response.status_code"); got != "201" {
		t.Errorf("request span status code = %s, want 201", got)
	}
	traceID := root.SpanContext().TraceID()

	// Every span about the work order is in that one trace.
	var mine []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanContext().TraceID() == traceID {
			mine = append(mine, s)
		}
		if attr(s, tracing.KeyWorkOrderID) == string(id) && s.SpanContext().TraceID() != traceID {
			t.Errorf("span %q of %s is in trace %s, not the request's %s", s.Name(), id, s.SpanContext().TraceID(), traceID)
		}
	}
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range mine {
		byID[s.SpanContext().SpanID()] = s
	}
	parentOf := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
		t.Helper()
		p, ok := byID[s.Parent().SpanID()]
		if !ok {
			t.Fatalf("span %q has parent %s, which is not in the trace", s.Name(), s.Parent().SpanID())
		}
		return p
	}
	for _, s := range mine {
		if !same(s, root) {
			parentOf(s) // every span but the root hangs below another of the trace
		}
	}

	// The orchestrator decides on the request below the request's span.
	requested := one(t, mine, named("orchestrator workorder.requested"))
	if !same(parentOf(requested), root) {
		t.Errorf("the decision on the request hangs below %q, want the request span", parentOf(requested).Name())
	}
	if got := attrOf(requested, "awo.decided_events"); !strings.Contains(got, "workorder.started") {
		t.Errorf("decision on the request: decided events %s, want workorder.started among them", got)
	}

	// Each step: the worker's step span below the delivery of its command,
	// which hangs below the decision that sent the command; the completion
	// is decided on below the step span.
	steps := []struct {
		step    workorder.Step
		service string
		calls   []string // child spans: agent runs or gh invocations
	}{
		{workorder.StepFetchIssue, "github", []string{"gh issue view"}},
		{workorder.StepCreateBranch, "executor", []string{"claude run"}},
		{workorder.StepPlanning, "executor", []string{"claude run"}},
		{workorder.StepExecute, "executor", []string{"claude run"}},
		{workorder.StepCommit, "executor", []string{"claude run"}},
		{workorder.StepCreatePR, "github", []string{"gh pr list", "gh pr create"}},
	}
	for _, st := range steps {
		stepSpan := one(t, mine, named(st.service+" step "+string(st.step)))
		if attr(stepSpan, tracing.KeyStep) != string(st.step) || attr(stepSpan, tracing.KeyAttempt) != "1" || attr(stepSpan, tracing.KeyOutcome) != "completed" {
			t.Errorf("%s: step span attributes %v", st.step, stepSpan.Attributes())
		}
		delivery := parentOf(stepSpan)
		if delivery.Name() != st.service+" command.run_step" || attr(delivery, tracing.KeyEventID) != events.CommandID(id, st.step, 1) {
			t.Errorf("%s: step span below %q (%s), want the delivery of its command", st.step, delivery.Name(), attr(delivery, tracing.KeyEventID))
		}
		decision := parentOf(delivery)
		if !strings.HasPrefix(decision.Name(), "orchestrator ") || !strings.Contains(attrOf(decision, "awo.commands"), events.CommandID(id, st.step, 1)) {
			t.Errorf("%s: command delivered below %q (commands %s), want the decision that sent it", st.step, decision.Name(), attrOf(decision, "awo.commands"))
		}
		var calls []string
		for _, s := range mine {
			// The orchestrator's and the projector's deliveries of
			// step.started and the step's outcome hang below the step span
			// too: they are its events.
			if s.Parent().SpanID() == stepSpan.SpanContext().SpanID() &&
				!strings.HasPrefix(s.Name(), "orchestrator ") && !strings.HasPrefix(s.Name(), "projector ") {
				calls = append(calls, s.Name())
			}
		}
		slices.Sort(calls)
		want := slices.Sorted(slices.Values(st.calls))
		if !slices.Equal(calls, want) {
			t.Errorf("%s: spans below the step = %v, want %v", st.step, calls, want)
		}
		completed := one(t, mine, func(s sdktrace.ReadOnlySpan) bool {
			return s.Name() == "orchestrator step.completed" && same(parentOf(s), stepSpan)
		})
		if attrOf(completed, "awo.decided_events") == "" {
			t.Errorf("%s: the decision on its completion has no decided events", st.step)
		}
	}
	// Log lines about the work order name its trace.
	for _, msg := range []string{"step started", "decided"} {
		if !hasLine(&logs, msg, "work_order_id="+string(id), "trace_id="+traceID.String()) {
			t.Errorf("no %q log line with the work order's trace_id", msg)
		}
	}
	run := one(t, mine, func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == "claude run" && attr(parentOf(s), tracing.KeyStep) == string(workorder.StepPlanning)
	})
	if attrOf(run, "claude.num_turns") != "1" || attrOf(run, "claude.exit_code") != "0" || attrOf(run, "claude.model") == "" {
		t.Errorf("agent run span attributes %v", run.Attributes())
	}
	finish := one(t, mine, func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == "orchestrator step.completed" && strings.Contains(attrOf(s, "awo.decided_events"), "workorder.completed")
	})
	// The read model applies each event below the span that published it.
	for _, c := range []struct {
		name   string
		parent sdktrace.ReadOnlySpan
	}{{"projector workorder.requested", root}, {"projector workorder.completed", finish}} {
		applied := one(t, mine, named(c.name))
		if !same(parentOf(applied), c.parent) {
			t.Errorf("%s hangs below %q, want %q", c.name, parentOf(applied).Name(), c.parent.Name())
		}
	}
}

func post(t *testing.T, url string, body map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/api/agent-work-orders", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s: %s", resp.Status, answer)
	}
}

func same(a, b sdktrace.ReadOnlySpan) bool {
	return a.SpanContext().SpanID() == b.SpanContext().SpanID()
}

func named(name string) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool { return s.Name() == name }
}

// one returns the only span that matches, failing the test otherwise.
func one(t *testing.T, spans []sdktrace.ReadOnlySpan, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if match(s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		names := make([]string, len(spans))
		for i, s := range spans {
			names[i] = s.Name()
		}
		t.Fatalf("%d spans match, want 1; spans: %v", len(found), names)
	}
	return found[0]
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string { return attrOf(s, string(k)) }

func attrOf(s sdktrace.ReadOnlySpan, k string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == k {
			return kv.Value.Emit()
		}
	}
	return ""
}

// hasLine reports whether a line contains msg=<msg> and every part.
func hasLine(b *syncbuf.Buffer, msg string, parts ...string) bool {
	for line := range strings.Lines(b.String()) {
		if !strings.Contains(line, "msg=\""+msg+"\"") && !strings.Contains(line, "msg="+msg+" ") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}
