// Package tracing sets up OpenTelemetry traces for a process and carries
// trace context through CloudEvents. With no OTLP endpoint configured the
// global provider stays OpenTelemetry's no-op: spans cost a context value
// and nothing is recorded or sent. Span context still travels: a no-op span
// keeps its parent's context, so an event that arrives with a traceparent
// passes it on to the events it causes.
package tracing

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/redact"
)

// OTLP protocols (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Settings are the standard OpenTelemetry variables this project honours;
// pkg/config reads and validates them. Other OTEL_EXPORTER_OTLP_* variables
// (headers, timeout, certificates, compression) are read by the exporter
// itself.
type Settings struct {
	Endpoint       string // OTEL_EXPORTER_OTLP_ENDPOINT: base URL; /v1/traces is added for http/protobuf
	TracesEndpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: full URL, wins over Endpoint
	Protocol       string // OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: http/protobuf (default) or grpc
	ServiceName    string // OTEL_SERVICE_NAME; empty: the binary's default
	Disabled       bool   // OTEL_SDK_DISABLED
}

// Enabled reports whether spans are recorded and exported.
func (s Settings) Enabled() bool {
	return !s.Disabled && (s.Endpoint != "" || s.TracesEndpoint != "")
}

// exportURL is where spans go: the traces endpoint as given, or the base
// endpoint with the signal's path (http/protobuf) or as is (grpc).
func (s Settings) exportURL() string {
	if s.TracesEndpoint != "" {
		return s.TracesEndpoint
	}
	if s.protocol() == ProtocolGRPC {
		return s.Endpoint
	}
	return strings.TrimRight(s.Endpoint, "/") + "/v1/traces"
}

func (s Settings) protocol() string {
	if s.Protocol == "" {
		return ProtocolHTTP
	}
	return s.Protocol
}

// Setup installs the process's global tracer provider and the W3C trace
// context propagator. When s is not Enabled the provider stays the no-op
// one. The returned shutdown flushes the spans still buffered; call it
// once, on exit, with a deadline.
func Setup(ctx context.Context, s Settings, defaultService, version string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	if log == nil {
		log = slog.Default()
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if !s.Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	tp, err := NewProvider(ctx, s, defaultService, version)
	if err != nil {
		return nil, err
	}
	// Export failures (a collector that is down) are the SDK's to retry;
	// they are logged as this process logs, not through the log package.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("exporting traces", "err", err)
	}))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// NewProvider builds a tracer provider that batches spans to the OTLP
// endpoint of s. Setup installs one globally; tests use it directly.
func NewProvider(ctx context.Context, s Settings, defaultService, version string) (*sdktrace.TracerProvider, error) {
	if !s.Enabled() {
		return nil, errors.New("no trace export configured: set OTEL_EXPORTER_OTLP_ENDPOINT (and leave OTEL_SDK_DISABLED unset)")
	}
	exp, err := newExporter(ctx, s)
	if err != nil {
		return nil, err
	}
	name := s.ServiceName
	if name == "" {
		name = defaultService
	}
	// Attributes from OTEL_RESOURCE_ATTRIBUTES come first so that the
	// service name chosen here (OTEL_SERVICE_NAME or the default) wins.
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithHost(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(name), semconv.ServiceVersion(version)),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("describing this process for traces: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

func newExporter(ctx context.Context, s Settings) (sdktrace.SpanExporter, error) {
	url := s.exportURL()
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch s.protocol() {
	case ProtocolHTTP:
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url))
	case ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(url))
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: want %s or %s", s.Protocol, ProtocolHTTP, ProtocolGRPC)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP %s trace exporter for %s: %w", s.protocol(), url, err)
	}
	return exp, nil
}

// ShutdownTimeout bounds the flush of buffered spans on exit.
const ShutdownTimeout = 5 * time.Second

// Tracer is the tracer of one part of this project, named after its
// package below the module root, e.g. "pkg/bus". It follows the global
// provider, so it may be taken before Setup runs.
func Tracer(component string) trace.Tracer {
	return otel.Tracer("github.com/agentworkorders/awo/" + component)
}

// traceContext handles the traceparent of CloudEvents: it is the W3C format
// whatever the process's global propagator is.
var traceContext = propagation.TraceContext{}

// FromTraceParent returns ctx with the remote span context a W3C
// traceparent names, so the next span started is its child. An empty or
// malformed traceparent leaves ctx as it is: a bad header must not fail
// the message it came with.
func FromTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	c := traceParentCarrier(traceparent)
	return traceContext.Extract(ctx, &c)
}

// TraceParent renders the span context of ctx as a W3C traceparent, or ""
// when ctx has none.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	// Formatted by hand: this runs for every event published, and the
	// propagator's Inject costs several allocations more. The layout is
	// the propagator's: version 00, trace id, span id, sampled flag.
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(b[0:3], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & trace.FlagsSampled)})
	return string(b[:])
}

// traceParentCarrier is a TextMapCarrier holding only the traceparent: the
// CloudEvents distributed-tracing extension has no room for tracestate.
type traceParentCarrier string

func (c traceParentCarrier) Get(key string) string {
	if key == "traceparent" {
		return string(c)
	}
	return ""
}

func (c *traceParentCarrier) Set(string, string) {} // only ever extracted from

func (c traceParentCarrier) Keys() []string { return []string{"traceparent"} }

// Attribute keys shared by every service's spans.
const (
	KeyWorkOrderID = attribute.Key("awo.work_order_id")
	KeyStep        = attribute.Key("awo.step")
	KeyAttempt     = attribute.Key("awo.attempt")
	KeyOutcome     = attribute.Key("awo.outcome")
	KeyEventType   = attribute.Key("ce.type")
	KeyEventID     = attribute.Key("ce.id")
)

// Fail marks span as failed with err, its text redacted (spans leave the
// process for the trace collector).
func Fail(span trace.Span, err error) {
	msg := redact.Default().String(err.Error())
	span.RecordError(errors.New(msg))
	span.SetStatus(codes.Error, msg)
}

// Logger adds the trace id of the span in ctx to log, so log lines can be
// matched with their trace. With tracing off log is returned as it is.
func Logger(ctx context.Context, log *slog.Logger) *slog.Logger {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return log
	}
	return log.With("trace_id", span.SpanContext().TraceID().String())
}
