package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// The request's trace context is what workorder.requested carries: with
// tracing off, the caller's own traceparent passes through untouched; with
// it on, the event names the request's server span, which is the caller's
// child and is named for the route.
//
// One test, in this order, because the global tracer provider can be set
// only once per test binary for tracers already taken: the provider is made
// once and kept, and the tracing-off half can only run before it is (a
// second run, as with -count=2, checks the tracing-on half alone).
var (
	providerOnce sync.Once
	spanExporter *tracetest.InMemoryExporter
)

func TestCreate_RequestedEventCarriesTheRequestsTrace(t *testing.T) {
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const caller = "00-" + callerTrace + "-00f067aa0ba902b7-01"
	shutdown, err := tracing.Setup(context.Background(), tracing.Settings{}, "awo-gateway", "test", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())

	h := newHarness(t)
	requested := func(id workorder.ID) events.Event {
		t.Helper()
		hist, err := h.bus.History(context.Background(), id, 0)
		if err != nil || len(hist.Events) == 0 || hist.Events[0].Type != events.TypeRequested {
			t.Fatalf("history of %s: %+v, %v", id, hist.Events, err)
		}
		return hist.Events[0]
	}
	body := `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix it", "agent_work_order_id": "%s"}`

	off := workorder.ID("wo-0000000a")
	if spanExporter != nil {
		t.Log("the tracer provider is already set in this test binary: checking the tracing-on half only")
	} else if r := h.do(http.MethodPost, "/api/agent-work-orders", strings.NewReader(strings.Replace(body, "%s", string(off), 1)),
		"Content-Type", "application/json", "traceparent", caller); r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	} else if got := requested(off).TraceParent; got != caller {
		t.Errorf("tracing off: requested event traceparent %q, want the caller's %q", got, caller)
	}

	providerOnce.Do(func() {
		spanExporter = tracetest.NewInMemoryExporter()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExporter)))
	})
	exp := spanExporter
	exp.Reset()

	on := workorder.ID("wo-0000000b")
	if r := h.do(http.MethodPost, "/api/agent-work-orders", strings.NewReader(strings.Replace(body, "%s", string(on), 1)),
		"Content-Type", "application/json", "traceparent", caller); r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	if r := h.get("/api/agent-work-orders/wo-0000ffff"); r.status != http.StatusNotFound {
		t.Fatalf("GET unknown: %d", r.status)
	}
	// The server spans; the projector's span of applying the request
	// (below the POST's) may or may not have ended yet.
	var spans []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanKind() == trace.SpanKindServer {
			spans = append(spans, s)
		}
	}
	if len(spans) != 2 {
		t.Fatalf("%d server spans, want the POST's and the GET's", len(spans))
	}
	post, get := spans[0], spans[1]
	if post.Name() != "POST /api/agent-work-orders" || attrValue(post, "http.response.status_code") != "201" ||
		attrValue(post, string(tracing.KeyWorkOrderID)) != string(on) {
		t.Errorf("POST span %q %v", post.Name(), post.Attributes())
	}
	if post.Parent().TraceID().String() != callerTrace || post.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("POST span parent %v, want the caller's span", post.Parent())
	}
	want := "00-" + callerTrace + "-" + post.SpanContext().SpanID().String() + "-01"
	if got := requested(on).TraceParent; got != want {
		t.Errorf("tracing on: requested event traceparent %q, want the request span's %q", got, want)
	}
	if get.Name() != "GET /api/agent-work-orders/{agent_work_order_id}" || attrValue(get, "http.response.status_code") != "404" ||
		attrValue(get, string(tracing.KeyWorkOrderID)) != "wo-0000ffff" {
		t.Errorf("GET span %q %v", get.Name(), get.Attributes())
	}
}

func attrValue(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if kv.Key == attribute.Key(key) {
			return kv.Value.Emit()
		}
	}
	return ""
}
