package worker

import (
	"context"
	"log/slog"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
)

// BenchmarkStepSpan_Off is what the step span adds to a step when no
// provider is installed (no OTLP endpoint); pkg/bus's BenchmarkTraceHooks_Off
// is the delivery span around it. Run it alone: TestTraceSteps installs a
// provider for the whole test binary.
func BenchmarkStepSpan_Off(b *testing.B) {
	h := traceSteps("executor")(func(context.Context, events.RunStep, *slog.Logger) (events.StepResult, error) {
		return events.StepResult{Success: true}, nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h(ctx, testCmd, quietLog); err != nil {
			b.Fatal(err)
		}
	}
}
