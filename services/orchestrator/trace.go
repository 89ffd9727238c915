package orchestrator

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

// annotateDecision records what was decided on the span of the delivery it
// was decided for (started by the consumer wrapper, one per event), so a
// trace shows each decision: the state reached, the events appended and
// the commands sent. The events and commands carry this span's traceparent
// (the bus stamps it), so the work they cause hangs below the decision.
func annotateDecision(ctx context.Context, st machine.State, dec machine.Decision) {
	// dec is everything one delivery carried out: the decisions appended in
	// a chain and the commands sent.
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	decided := make([]string, len(dec.Events))
	for i, e := range dec.Events {
		decided[i] = events.ShortName(e.Type)
	}
	commands := make([]string, len(dec.Commands))
	for i, c := range dec.Commands {
		commands[i] = c.ID()
	}
	span.SetAttributes(
		attribute.String("awo.state", st.String()),
		attribute.StringSlice("awo.decided_events", decided),
		attribute.StringSlice("awo.commands", commands),
	)
}
