package tracing

import (
	"context"
	"errors"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A span's error leaves the process for the collector: it is redacted.
func TestFail_RedactsTheError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, span := tp.Tracer("t").Start(context.Background(), "s")
	Fail(span, errors.New("push failed: https://x-access-token:ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5@github.com/a/b"))
	span.End()
	got := rec.Ended()[0]
	texts := got.Status().Description
	for _, ev := range got.Events() {
		for _, a := range ev.Attributes {
			texts += " " + a.Value.Emit()
		}
	}
	if strings.Contains(texts, "ghp_") || !strings.Contains(texts, "[REDACTED]") {
		t.Errorf("span texts: %s", texts)
	}
}
