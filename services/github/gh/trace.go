package gh

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/tracing"
)

var tracer = tracing.Tracer("services/github/gh")

// traceCall starts the span of one gh invocation, named for its
// subcommand, e.g. "gh pr create", inside the span of the step it serves.
func traceCall(ctx context.Context, name string) (context.Context, trace.Span) {
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
}

// endCall closes a gh invocation's span with gh's exit code.
func endCall(span trace.Span, err error) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	code := 0
	var ghErr *Error
	if errors.As(err, &ghErr) {
		code = ghErr.ExitCode
	} else if err != nil {
		code = -1
	}
	span.SetAttributes(attribute.Int("process.exit.code", code))
	if err != nil {
		tracing.Fail(span, err)
	}
}
