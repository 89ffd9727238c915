package bus

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
)

// BenchmarkTraceHooks_Off is what tracing adds to one hand-off when no
// provider is installed (no OTLP endpoint): the delivery span and the
// traceparent stamped on the outgoing event (a step worker's step span is
// pkg/worker's BenchmarkStepSpan_Off).
func BenchmarkTraceHooks_Off(b *testing.B) {
	b.Run("no traceparent", func(b *testing.B) { benchmarkTraceHooks(b, "") })
	b.Run("traceparent from upstream", func(b *testing.B) {
		benchmarkTraceHooks(b, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	})
}

func benchmarkTraceHooks(b *testing.B, traceparent string) {
	cmd := &events.RunStep{WorkOrderID: "wo-1a2b3c4d", Step: "planning", Attempt: 1}
	d := &Delivery{
		Event:   events.Event{ID: cmd.ID(), Type: events.TypeRunStep, WorkOrderID: cmd.WorkOrderID, TraceParent: traceparent, Data: cmd},
		Subject: "workorders.commands.executor.planning",
		Meta:    &jetstream.MsgMetadata{NumDelivered: 1},
	}
	base := context.Background()
	outID := cmd.ID() + ".completed"
	b.ReportAllocs()
	for b.Loop() {
		ctx, span := traceDelivery(base, "executor", d)
		out := events.Event{ID: outID}
		stampTrace(ctx, &out)
		endDelivery(span, nil)
		if out.TraceParent != traceparent {
			b.Fatalf("traceparent %q carried on as %q", traceparent, out.TraceParent)
		}
	}
}
