package config_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/tracing"
)

func TestLoad_Tracing_OffUnlessAnEndpointIsSet(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.Enabled() || c.Tracing.Protocol != tracing.ProtocolHTTP {
		t.Fatalf("default tracing %+v, want off over http/protobuf", c.Tracing)
	}

	c, err = config.Load(env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/protobuf",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", // the signal's own variable wins
		"OTEL_SERVICE_NAME":                  "awo-blue",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := tracing.Settings{Endpoint: "http://collector:4317", Protocol: tracing.ProtocolGRPC, ServiceName: "awo-blue"}
	if c.Tracing != want || !c.Tracing.Enabled() {
		t.Fatalf("tracing %+v, want %+v", c.Tracing, want)
	}
	if got := printed(c); !strings.Contains(got, "traces=grpc http://collector:4317") {
		t.Errorf("start-up line lacks the trace export: %s", got)
	}

	c, err = config.Load(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.Enabled() || !strings.Contains(printed(c), "traces=off (OTEL_SDK_DISABLED)") {
		t.Fatalf("OTEL_SDK_DISABLED=true: tracing %+v, printed %s", c.Tracing, printed(c))
	}
}

func TestLoad_Tracing_RejectsInvalidValuesNamingTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "collector:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector/v1/traces",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/json",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift",
		"OTEL_SDK_DISABLED":                  "perhaps",
	} {
		_, err := config.Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", name, value, err)
		}
	}
}

func printed(c config.Config) string {
	var b strings.Builder
	attrs := c.Attrs()
	for i := 0; i < len(attrs); i += 2 {
		b.WriteString(attrs[i].(string) + "=" + slog.AnyValue(attrs[i+1]).String() + " ")
	}
	return b.String()
}
