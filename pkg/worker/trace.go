package worker

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// Every step a worker performs gets a span, the child of its command's
// delivery span (pkg/bus), so each service gets the same spans without
// code of its own.
var tracer = tracing.Tracer("pkg/worker")

// traceSteps runs next inside the span of the step, and gives it a logger
// that carries the trace's ids.
func traceSteps(service string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
			ctx, span := startStepSpan(ctx, service, &cmd)
			res, err := next(ctx, cmd, tracing.Logger(ctx, log))
			var s skipped
			switch {
			case errors.As(err, &s):
				skipStep(span, s.why)
			case errors.Is(err, errStopped):
				endStep(span, res, nil)
			default:
				endStep(span, res, err)
			}
			return res, err
		}
	}
}

// startStepSpan starts the span of one step a worker performs, inside the
// span ctx carries (its command's delivery).
func startStepSpan(ctx context.Context, service string, cmd *events.RunStep) (context.Context, trace.Span) {
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
// must not run (see Stale).
func skipStep(span trace.Span, why string) {
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(tracing.KeyOutcome.String("skipped"), attribute.String("awo.skip_reason", why))
	}
}
