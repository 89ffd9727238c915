package e2e

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/agentworkorders/awo/pkg/natsembed"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// exportedSpan is a span as an OTLP receiver saw it.
type exportedSpan struct {
	service, name, traceID, spanID, parentID string
	attrs                                    map[string]string
}

// otlpReceiver is a local OTLP/HTTP trace receiver: it decodes what the
// binaries' real exporters send to /v1/traces.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []exportedSpan
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var export coltrace.ExportTraceServiceRequest
	if err != nil || req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &export) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range export.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range s.GetAttributes() {
					attrs[kv.GetKey()] = anyValue(kv.GetValue())
				}
				r.spans = append(r.spans, exportedSpan{
					service: service, name: s.GetName(), attrs: attrs,
					traceID: hex.EncodeToString(s.GetTraceId()), spanID: hex.EncodeToString(s.GetSpanId()),
					parentID: hex.EncodeToString(s.GetParentSpanId()),
				})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
}

// anyValue renders an attribute value as the SDK's Emit would.
func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, anyValue(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return ""
}

func (r *otlpReceiver) snapshot() []exportedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exportedSpan(nil), r.spans...)
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the four services, each its own
// process, export spans over OTLP, and one work order is one trace across
// them: the trace context crosses process boundaries inside the
// CloudEvents on NATS. The agent run spans carry what the real Claude Code
// CLI reported.
func TestTraces_SeparateProcesses_OneTraceExportedOverOTLP(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close) // after the services stop: they flush on the way out
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	const branch = "feat/traced"
	w := newWorld(t, createBranch(branch), fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("printf 'hi\\n' > hi.txt && git add -A && git commit -m 'feat: say hi' && git push -u origin "+branch, "commit"),
		fm.Text("feat: say hi"),
	}})
	s := newStack(t, w, "OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL, "OTEL_BSP_SCHEDULE_DELAY=100")
	s.startServices(srv.ClientURL())

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Say hi",
		"selected_commands": []string{"create-branch", "commit", "create-pr"}})
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("work order %+v, error %q", wo, deref(wo.ErrorMessage))
	}

	// Spans leave each process in batches; wait for the last ones.
	var spans []exportedSpan
	want := map[string]bool{"awo-gateway": false, "awo-orchestrator": false, "awo-executor": false, "awo-github": false}
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans = recv.snapshot()
		done := 0
		for _, sp := range spans {
			if sp.service == "awo-orchestrator" && sp.name == "orchestrator step.completed" && sp.attrs["awo.work_order_id"] == id &&
				strings.Contains(sp.attrs["awo.decided_events"], "workorder.completed") {
				done++
			}
			if sp.service == "awo-github" && sp.name == "github step create-pr" && sp.attrs["awo.work_order_id"] == id {
				done++
			}
			// The projector's span of the end comes in the gateway's last
			// batch (CI once looked before it arrived).
			if sp.service == "awo-gateway" && sp.name == "projector workorder.completed" && sp.attrs["awo.work_order_id"] == id {
				done++
			}
		}
		if done == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	var traceID string
	for _, sp := range spans {
		if sp.service == "awo-gateway" && sp.name == "POST /api/agent-work-orders" && sp.attrs["awo.work_order_id"] == id {
			traceID = sp.traceID
		}
	}
	if traceID == "" {
		t.Fatalf("no request span for %s among %d exported spans", id, len(spans))
	}
	names := map[string]bool{}
	for _, sp := range spans {
		if sp.traceID != traceID {
			// Reads are traces of their own; everything the work order
			// caused is in its trace.
			if sp.attrs["awo.work_order_id"] == id && !strings.HasPrefix(sp.name, "GET ") {
				t.Errorf("%s span %q of the work order is in trace %s, not %s", sp.service, sp.name, sp.traceID, traceID)
			}
			continue
		}
		want[sp.service] = true
		names[sp.service+": "+sp.name] = true
		if sp.name == "claude run" {
			if sp.attrs["claude.model"] == "" || sp.attrs["claude.num_turns"] == "" || sp.attrs["claude.exit_code"] != "0" {
				t.Errorf("agent run span attributes %v", sp.attrs)
			}
		}
	}
	for service, seen := range want {
		if !seen {
			t.Errorf("no span of %s in the work order's trace", service)
		}
	}
	for _, n := range []string{
		"awo-orchestrator: orchestrator workorder.requested", "awo-executor: executor step create-branch", "awo-executor: claude run",
		"awo-executor: executor step commit", "awo-github: github step create-pr", "awo-github: gh pr create",
		"awo-gateway: projector workorder.completed",
	} {
		if !names[n] {
			t.Errorf("no %q span in the trace; have %v", n, names)
		}
	}
}
