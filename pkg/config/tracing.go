package config

import (
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/tracing"
)

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
