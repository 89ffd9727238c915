package tracing

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/otel/trace"
)

// received is what a local OTLP receiver was sent.
type received struct {
	mu       sync.Mutex
	posts    int
	paths    []string
	spans    []string // span names
	services []string // service.name of each resource
}

func (r *received) record(path string, req *coltrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts++
	r.paths = append(r.paths, path)
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				r.services = append(r.services, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
			}
		}
	}
}

// exportOne starts and ends one span through a provider built from s, then
// shuts the provider down, which flushes the batch.
func exportOne(t *testing.T, s Settings) {
	t.Helper()
	ctx := context.Background()
	tp, err := NewProvider(ctx, s, "awo-test", "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(ctx, "step planning")
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown (flush to %s): %v", s.exportURL(), err)
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans reach a real OTLP/HTTP
// receiver at <endpoint>/v1/traces as protobuf, with the service name.
func TestNewProvider_HTTPEndpoint_ExportsSpansToV1Traces(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err != nil || r.Method != http.MethodPost || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		got.record(r.URL.Path, &req)
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer srv.Close()

	exportOne(t, Settings{Endpoint: srv.URL + "/"})

	got.mu.Lock()
	defer got.mu.Unlock()
	if got.posts != 1 || got.paths[0] != "/v1/traces" {
		t.Fatalf("receiver got %d exports at %v, want 1 at /v1/traces", got.posts, got.paths)
	}
	if len(got.spans) != 1 || got.spans[0] != "step planning" {
		t.Errorf("exported spans %v, want [step planning]", got.spans)
	}
	if len(got.services) != 1 || got.services[0] != "awo-test" {
		t.Errorf("service.name %v, want awo-test", got.services)
	}
}

// OTEL_SERVICE_NAME wins over the binary's default, and the traces
// endpoint is used as given.
func TestNewProvider_TracesEndpointAndServiceName(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		got.record(r.URL.Path, &req)
	}))
	defer srv.Close()

	exportOne(t, Settings{Endpoint: "http://127.0.0.1:1", TracesEndpoint: srv.URL + "/custom/traces", ServiceName: "awo-blue"})

	got.mu.Lock()
	defer got.mu.Unlock()
	if got.posts != 1 || got.paths[0] != "/custom/traces" || len(got.services) != 1 || got.services[0] != "awo-blue" {
		t.Fatalf("receiver got %d exports at %v for %v, want 1 at /custom/traces for awo-blue", got.posts, got.paths, got.services)
	}
}

type grpcReceiver struct {
	coltrace.UnimplementedTraceServiceServer
	got *received
}

func (g grpcReceiver) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	g.got.record("grpc", req)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

// OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports to a real OTLP/gRPC receiver.
func TestNewProvider_GRPC_ExportsSpans(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var got received
	gs := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(gs, grpcReceiver{got: &got})
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()

	exportOne(t, Settings{Endpoint: "http://" + ln.Addr().String(), Protocol: ProtocolGRPC})

	got.mu.Lock()
	defer got.mu.Unlock()
	if got.posts != 1 || len(got.spans) != 1 || got.spans[0] != "step planning" {
		t.Fatalf("gRPC receiver got %d exports with spans %v, want 1 with [step planning]", got.posts, got.spans)
	}
}

func TestSettings_Enabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Settings
		want bool
	}{
		{"nothing set", Settings{}, false},
		{"endpoint", Settings{Endpoint: "http://collector:4318"}, true},
		{"traces endpoint", Settings{TracesEndpoint: "http://collector:4318/v1/traces"}, true},
		{"disabled wins", Settings{Endpoint: "http://collector:4318", Disabled: true}, false},
		{"service name alone", Settings{ServiceName: "awo"}, false},
	} {
		if got := tc.s.Enabled(); got != tc.want {
			t.Errorf("%s: Enabled() = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := NewProvider(context.Background(), Settings{}, "awo", "1"); err == nil {
		t.Error("NewProvider without an endpoint: no error")
	}
}

// Tracing off: Setup installs no provider and its shutdown is a no-op;
// a span is not recorded but keeps the trace it was started in.
func TestSetup_Off_SpansAreNotRecordedButCarryTheTraceOn(t *testing.T) {
	shutdown, err := Setup(context.Background(), Settings{}, "awo", "1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, span := Tracer("pkg/tracing/test").Start(FromTraceParent(context.Background(), parent), "x")
	defer span.End()
	if span.IsRecording() {
		t.Error("span recorded with tracing off")
	}
	if got := TraceParent(ctx); got != parent {
		t.Errorf("TraceParent = %q, want the parent's %q", got, parent)
	}
}

func TestTraceParent_RoundTripAndBadInput(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := FromTraceParent(context.Background(), tp)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsRemote() || sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || sc.SpanID().String() != "b7ad6b7169203331" || !sc.IsSampled() {
		t.Errorf("FromTraceParent(%q) = %+v", tp, sc)
	}
	if got := TraceParent(ctx); got != tp {
		t.Errorf("TraceParent = %q, want %q", got, tp)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", strings.Repeat("f", 55)} {
		if got := TraceParent(FromTraceParent(context.Background(), bad)); got != "" {
			t.Errorf("traceparent %q gave a span context %q; want none", bad, got)
		}
	}
}
