package bus

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// Every consumer and step worker traces through this package, so each
// service gets the same spans without code of its own: one span per
// delivery, the child of the traceparent its event carries, and one per
// step a worker performs. What a handler publishes carries the current
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

// traceStep starts the span of one step a worker performs, inside the
// delivery span of its command. The step runs under the worker's own
// context (which outlives a shutdown by the grace period), so the span is
// moved onto it.
func traceStep(stepCtx, deliveryCtx context.Context, service string, cmd *events.RunStep) (context.Context, trace.Span) {
	ctx := trace.ContextWithSpan(stepCtx, trace.SpanFromContext(deliveryCtx))
	ctx, span := tracer.Start(ctx, "step")
	if span.IsRecording() {
		span.SetName(service + " step " + string(cmd.Step))
		span.SetAttributes(
			tracing.KeyWorkOrderID.String(string(cmd.WorkOrderID)),
			tracing.KeyStep.String(string(cmd.Step)),
			tracing.KeyAttempt.Int(cmd.Attempt),
			attribute.String("awo.service", service),
		)
	}
	return ctx, span
}

// endStep closes a step's span: completed, failed with the step's reason,
// or interrupted (handed back for another delivery).
func endStep(span trace.Span, res events.StepResult, err error) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	switch {
	case err != nil:
		span.SetAttributes(tracing.KeyOutcome.String("interrupted"))
		tracing.Fail(span, err)
	case res.Success:
		span.SetAttributes(tracing.KeyOutcome.String("completed"))
	default:
		span.SetAttributes(tracing.KeyOutcome.String("failed"))
		span.SetStatus(codes.Error, res.ErrorMessage)
	}
}

// skipStep closes the span of a step that was not run because its command
// must not run (see stale).
func skipStep(span trace.Span, why string) {
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(tracing.KeyOutcome.String("skipped"), attribute.String("awo.skip_reason", why))
	}
}

// stampTrace makes e carry the span context of ctx, so whoever consumes e
// continues this trace. Without one, e keeps what it was given (the
// orchestrator's decisions carry their request's traceparent).
func stampTrace(ctx context.Context, e *events.Event) {
	if tp := tracing.TraceParent(ctx); tp != "" {
		e.TraceParent = tp
	}
}
