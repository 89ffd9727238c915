package bus

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// Every consumer traces through this package, so each service gets the
// same spans without code of its own: one span per delivery, the child of
// the traceparent its event carries (a step worker adds one per step, see
// pkg/worker). What a handler publishes carries the current
// span's traceparent on (see stampTrace), which is how one trace follows a
// work order from the HTTP request through every service.
var tracer = tracing.Tracer("pkg/bus")

// consumerSpan is built once: a variadic option per call would allocate.
var consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// traceDelivery starts the span of one delivery to consumer, named for the
// consumer and the event, e.g. "orchestrator step.completed". With tracing
// off it costs a context value and still passes the event's trace on.
func traceDelivery(ctx context.Context, consumer string, d *Delivery) (context.Context, trace.Span) {
	ctx = tracing.FromTraceParent(ctx, d.Event.TraceParent)
	// Named once it is known to be recorded: the name costs an allocation
	// that tracing switched off should not pay.
	ctx, span := tracer.Start(ctx, "delivery", consumerSpan...)
	if span.IsRecording() {
		span.SetName(consumer + " " + events.ShortName(d.Event.Type))
		span.SetAttributes(
			tracing.KeyWorkOrderID.String(string(d.Event.WorkOrderID)),
			tracing.KeyEventType.String(d.Event.Type),
			tracing.KeyEventID.String(d.Event.ID),
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", d.Subject),
			attribute.String("messaging.consumer.group.name", consumer),
			attribute.Int64("messaging.message.delivery_count", int64(d.NumDelivered())),
			attribute.Int64("awo.stream_seq", int64(d.Event.Seq)),
		)
	}
	return ctx, span
}

// endDelivery closes a delivery's span with what the handler returned.
func endDelivery(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		tracing.Fail(span, err)
	}
	span.End()
}

// stampTrace makes e carry the span context of ctx, so whoever consumes e
// continues this trace. Without one, e keeps what it was given (the
// orchestrator's decisions carry their request's traceparent).
func stampTrace(ctx context.Context, e *events.Event) {
	if tp := tracing.TraceParent(ctx); tp != "" {
		e.TraceParent = tp
	}
}
