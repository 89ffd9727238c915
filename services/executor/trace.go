package executor

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/tracing"
	"github.com/agentworkorders/awo/services/executor/agent"
)

var tracer = tracing.Tracer("services/executor")

// tracedAgent gives every agent run a span, the child of the step's span
// (which the step worker protocol starts), whatever runs the agent: the
// Claude Code CLI in production, a fake in tests.
type tracedAgent struct {
	AgentRunner
}

func (t tracedAgent) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	ctx, span := tracer.Start(ctx, "claude run", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if !span.IsRecording() {
		return t.AgentRunner.Run(ctx, req)
	}
	// The model the CLI reports at start is the one that ran; the request
	// may name only an alias such as "sonnet".
	// OnMessage is never called after Run returns, so model is settled
	// when it is read below.
	model, on := req.Model, req.OnMessage
	req.OnMessage = func(m agent.Message) {
		if m.Init != nil && m.Init.Model != "" {
			model = m.Init.Model
		}
		if on != nil {
			on(m)
		}
	}
	span.SetAttributes(attribute.String("claude.requested_model", req.Model), attribute.Int("claude.max_turns", req.MaxTurns),
		attribute.String("agent", agentName(req.Agent)))
	res, err := t.AgentRunner.Run(ctx, req)
	if err != nil {
		tracing.Fail(span, err)
		return res, err
	}
	span.SetAttributes(
		attribute.String("claude.model", model),
		attribute.Int("claude.exit_code", res.ExitCode),
		attribute.Float64("claude.cost_usd", res.CostUSD),
		attribute.Int("claude.num_turns", res.NumTurns),
		attribute.String("claude.session_id", res.SessionID),
		attribute.Int64("claude.input_tokens", res.Usage.InputTokens),
		attribute.Int64("claude.output_tokens", res.Usage.OutputTokens),
		attribute.Bool("claude.timed_out", res.TimedOut),
	)
	if !res.Success {
		span.SetStatus(codes.Error, res.ErrorMessage)
	}
	return res, nil
}
