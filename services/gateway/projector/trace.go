package projector

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
)

var tracer = tracing.Tracer("services/gateway/projector")

// traceApply starts the span of folding one event into the read store, the
// child of the span that published the event: a trace shows when each of
// a work order's facts became visible to readers.
func traceApply(ctx context.Context, e events.Event) (context.Context, trace.Span) {
	ctx, span := tracer.Start(tracing.FromTraceParent(ctx, e.TraceParent), "apply")
	if span.IsRecording() {
		span.SetName("projector " + events.ShortName(e.Type))
		span.SetAttributes(
			tracing.KeyWorkOrderID.String(string(e.WorkOrderID)),
			tracing.KeyEventType.String(e.Type),
			tracing.KeyEventID.String(e.ID),
			attribute.Int64("awo.stream_seq", int64(e.Seq)),
		)
	}
	return ctx, span
}
