package events_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestCodec_RoundTripsEveryAttributeAndPayload(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	cost := 3
	in := events.Event{
		ID: "wo-1a2b3c4d.planning.1.completed", Type: events.TypeStepCompleted, Source: "awo/executor",
		WorkOrderID: "wo-1a2b3c4d", Time: at, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Data: &events.StepResult{Step: workorder.StepPlanning, Attempt: 1, Success: true, Output: "PRPs/features/x.md",
			Usage: &events.Usage{InputTokens: 10, OutputTokens: 20}, CommitCount: &cost},
	}
	msg, err := events.Encode(in, "workorders.events.wo-1a2b3c4d.step.completed")
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get(nats.MsgIdHdr); got != in.ID {
		t.Errorf("Nats-Msg-Id = %q, want the event id", got)
	}
	if got := msg.Header.Get("ce-type"); got != events.TypeStepCompleted {
		t.Errorf("ce-type = %q", got)
	}
	out, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Type != in.Type || out.Source != in.Source || out.WorkOrderID != in.WorkOrderID ||
		!out.Time.Equal(in.Time) || out.TraceParent != in.TraceParent {
		t.Errorf("attributes differ:\n in  %+v\n out %+v", in, out)
	}
	if !reflect.DeepEqual(out.Data, in.Data) {
		t.Errorf("payload differs:\n in  %+v\n out %+v", in.Data, out.Data)
	}
}

func TestCodec_RoundTripsAFollowUpRequest(t *testing.T) {
	in := events.New("wo-1a2b3c4d.follow_up_requested.2", events.TypeFollowUpRequested, "awo/gateway", "wo-1a2b3c4d",
		time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), &events.FollowUpRequested{PromptText: "also handle the empty case", Round: 2})
	msg, err := events.Encode(in, "workorders.events.wo-1a2b3c4d.workorder.follow_up_requested")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), `"prompt_text":"also handle the empty case"`) || !strings.Contains(string(msg.Data), `"round":2`) {
		t.Errorf("payload %s, want prompt_text and round", msg.Data)
	}
	out, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Data, in.Data) || out.Type != events.TypeFollowUpRequested {
		t.Errorf("decoded %+v, want %+v", out, in)
	}
}

func TestCodec_PercentEncodesHeaderValues(t *testing.T) {
	in := events.Event{ID: "id with spaces %and \"quotes\" é", Type: events.TypeRequested, Source: "awo/gateway",
		WorkOrderID: "wo-1a2b3c4d", Time: time.Now(), Data: &events.Requested{}}
	msg, err := events.Encode(in, "s")
	if err != nil {
		t.Fatal(err)
	}
	raw := msg.Header.Get("ce-id")
	if strings.ContainsAny(raw, " \"é") || !strings.Contains(raw, "%20") || !strings.Contains(raw, "%25") || !strings.Contains(raw, "%C3%A9") {
		t.Errorf("ce-id not percent-encoded: %q", raw)
	}
	out, err := events.Decode(msg.Header, msg.Data)
	if err != nil || out.ID != in.ID {
		t.Fatalf("decoded id %q (%v), want %q", out.ID, err, in.ID)
	}
}

func TestCodec_ReadsHeaderNamesCaseInsensitively(t *testing.T) {
	h := nats.Header{}
	h["CE-SpecVersion"] = []string{"1.0"}
	h["Ce-Id"] = []string{"x"}
	h["CE-TYPE"] = []string{events.TypeCancelled}
	h["ce-Source"] = []string{"nats-cli"}
	h["Ce-Subject"] = []string{"wo-1a2b3c4d"}
	h["Content-Type"] = []string{"application/json"}
	out, err := events.Decode(h, []byte(`{"reason":"user asked"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := out.Data.(*events.Cancelled); !ok || c.Reason != "user asked" || out.WorkOrderID != "wo-1a2b3c4d" {
		t.Fatalf("decoded %+v", out)
	}
}

func TestCodec_RejectsWhatIsNotACloudEvent(t *testing.T) {
	ok := func() nats.Header {
		h := nats.Header{}
		h.Set("ce-specversion", "1.0")
		h.Set("ce-id", "x")
		h.Set("ce-type", events.TypeRequested)
		h.Set("ce-source", "s")
		return h
	}
	cases := map[string]struct {
		mut  func(nats.Header)
		data string
		want error
	}{
		"no specversion":    {mut: func(h nats.Header) { h.Del("ce-specversion") }},
		"no id":             {mut: func(h nats.Header) { h.Del("ce-id") }},
		"bad time":          {mut: func(h nats.Header) { h.Set("ce-time", "yesterday") }},
		"bad json":          {data: "{", mut: func(nats.Header) {}},
		"bad percent":       {mut: func(h nats.Header) { h.Set("ce-id", "a%zz") }},
		"unknown type":      {mut: func(h nats.Header) { h.Set("ce-type", "io.archon.workorders.future.v9") }, want: events.ErrUnknownType},
		"non-JSON content":  {mut: func(h nats.Header) { h.Set("content-type", "text/plain") }},
		"truncated percent": {mut: func(h nats.Header) { h.Set("ce-id", "a%4") }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			h := ok()
			c.mut(h)
			_, err := events.Decode(h, []byte(c.data))
			if err == nil {
				t.Fatal("decoded without error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestShortName(t *testing.T) {
	for typ, want := range map[string]string{
		events.TypeStepCompleted:   "step.completed",
		events.TypeRequested:       "workorder.requested",
		events.TypeCancelRequested: "workorder.cancel_requested",
		events.TypeRunStep:         "command.run_step",
	} {
		if got := events.ShortName(typ); got != want {
			t.Errorf("ShortName(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestNew_KeepsMicrosecondsLikePostgres(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	e := events.New("id", events.TypeRequested, "s", "wo-1a2b3c4d", at, nil)
	if want := time.Date(2026, 11, 24, 9, 0, 0, 123456000, time.UTC); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
		t.Fatalf("time %v, want %v in UTC", e.Time, want)
	}
}

func TestTypes_ListsTheWholeCatalogueOnce(t *testing.T) {
	got := events.Types()
	want := []string{
		events.TypeRequested, events.TypeStarted, events.TypeStepDispatched, events.TypeStepStarted, events.TypeStepCompleted, events.TypeStepFailed,
		events.TypeCompleted, events.TypeFailed, events.TypeCancelRequested, events.TypeCancelled, events.TypeRetryRequested, events.TypeRunStep,
		events.TypeFollowUpRequested, events.TypeStepWaiting,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
}

// The JSON format (structured mode) holds the same attributes as the
// headers and the payload inline, as the CloudEvents JSON format defines.
func TestEncodeJSON_IsAStructuredModeCloudEvent(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	in := events.Event{
		ID: "wo-1a2b3c4d.planning.1.completed", Type: events.TypeStepCompleted, Source: "awo/executor",
		WorkOrderID: "wo-1a2b3c4d", Time: at,
		Data: &events.StepResult{Step: workorder.StepPlanning, Attempt: 1, Success: true, Output: "done"},
	}
	b, err := events.EncodeJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{
		"specversion": "1.0", "id": in.ID, "source": "awo/executor", "type": events.TypeStepCompleted,
		"subject": "wo-1a2b3c4d", "time": "2026-11-24T10:00:00.123456Z", "datacontenttype": "application/json",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, got[k], v, b)
		}
	}
	data, ok := got["data"].(map[string]any)
	if !ok || data["step"] != "planning" || data["output"] != "done" || data["success"] != true {
		t.Errorf("data = %v, want the payload inline as an object", got["data"])
	}
}

// WorkOrderOf reads the work order from the headers alone, as Decode does.
func TestWorkOrderOf(t *testing.T) {
	e := events.New("evt-1", "awo.step.completed", "awo/test", "wo-0000beef", time.Now(), nil)
	msg, err := events.Encode(e, "workorders.events.wo-0000beef.step.completed")
	if err != nil {
		t.Fatal(err)
	}
	if got := events.WorkOrderOf(msg.Header); got != "wo-0000beef" {
		t.Fatalf("WorkOrderOf = %q", got)
	}
	upper := nats.Header{"Ce-Subject": []string{"wo%2Dodd"}}
	if got := events.WorkOrderOf(upper); got != "wo-odd" {
		t.Fatalf("another producer's header case, percent-encoded: %q", got)
	}
	if got := events.WorkOrderOf(nats.Header{}); got != "" {
		t.Fatalf("no subject: %q", got)
	}
}
