package config

import (
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// tracing reads the standard OpenTelemetry variables: traces are exported
// over OTLP only when an endpoint is set and the SDK is not disabled.
func (p *parser) tracing() tracing.Settings {
	protocols := []string{tracing.ProtocolHTTP, tracing.ProtocolGRPC}
	s := tracing.Settings{
		Endpoint:       p.httpURL("OTEL_EXPORTER_OTLP_ENDPOINT"),
		TracesEndpoint: p.httpURL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
		Protocol:       p.oneOf("OTEL_EXPORTER_OTLP_PROTOCOL", tracing.ProtocolHTTP, protocols...),
		ServiceName:    p.str("OTEL_SERVICE_NAME", ""),
		Disabled:       p.boolean("OTEL_SDK_DISABLED", false),
	}
	// The signal-specific variable wins, as the specification says.
	if _, ok := p.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); ok {
		s.Protocol = p.oneOf("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", s.Protocol, protocols...)
	}
	return s
}

// tracingAttr describes the trace export for the start-up line.
func tracingAttr(s tracing.Settings) string {
	switch {
	case s.Disabled:
		return "off (OTEL_SDK_DISABLED)"
	case !s.Enabled():
		return "off (no OTEL_EXPORTER_OTLP_ENDPOINT)"
	case s.TracesEndpoint != "":
		return s.Protocol + " " + redact.URL(s.TracesEndpoint)
	}
	return s.Protocol + " " + redact.URL(s.Endpoint)
}
