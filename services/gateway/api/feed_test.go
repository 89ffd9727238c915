package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

const feedPath = "/api/agent-work-orders/events"

// cloudEvent is a feed frame: its SSE id and the structured-mode event.
type cloudEvent struct {
	seq             uint64
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

func (s *sseStream) nextEvent() cloudEvent {
	s.t.Helper()
	f := s.next()
	if f.event != "" {
		s.t.Fatalf("got a %q event, want an unnamed one (data %s)", f.event, f.data)
	}
	var ce cloudEvent
	if err := json.Unmarshal([]byte(f.data), &ce); err != nil {
		s.t.Fatalf("frame data %q: %v", f.data, err)
	}
	seq, err := strconv.ParseUint(f.id, 10, 64)
	if err != nil {
		s.t.Fatalf("frame id %q is not a stream sequence", f.id)
	}
	ce.seq = seq
	return ce
}

// stored reads back the event the stream holds at seq.
func (h *harness) stored(seq uint64) events.Event {
	h.t.Helper()
	st, err := h.env.JS.Stream(context.Background(), bus.StreamEvents)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), seq)
	if err != nil {
		h.t.Fatalf("reading sequence %d: %v", seq, err)
	}
	e, err := events.Decode(m.Header, m.Data)
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// Every event of a work order, stored and live, arrives as a CloudEvent in
// the JSON format, its SSE id the stream sequence that holds it.
func TestEventFeed_AWorkOrdersEventsAsCloudEvents(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.publish(id, events.TypeStarted, &events.Started{})
	feed := h.openSSE(feedPath + "?id=" + string(id))
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})

	wantTypes := []string{events.TypeRequested, events.TypeStarted, events.TypeStepStarted}
	var last uint64
	for i, want := range wantTypes {
		ce := feed.nextEvent()
		if i == 0 && !strings.Contains(string(ce.Data), `"Fix authentication bug"`) {
			t.Errorf("requested data %s, want the request", ce.Data)
		}
		if ce.Type != want || ce.Subject != string(id) || ce.SpecVersion != "1.0" || ce.DataContentType != "application/json" {
			t.Fatalf("event %+v, want a %s CloudEvent about %s", ce, want, id)
		}
		if ce.seq <= last {
			t.Errorf("sequence %d after %d", ce.seq, last)
		}
		last = ce.seq
		stored := h.stored(ce.seq)
		if stored.ID != ce.ID || stored.Type != ce.Type || stored.Source != ce.Source || !stored.Time.Equal(ce.Time) {
			t.Errorf("frame id %d carries %s/%s, the stream holds %s/%s there", ce.seq, ce.ID, ce.Type, stored.ID, stored.Type)
		}
		if len(ce.Data) == 0 || ce.Data[0] != '{' {
			t.Errorf("data %s, want the payload inline", ce.Data)
		}
	}
}

// ?id= keeps one work order's events; without it, every work order's.
func TestEventFeed_FiltersByWorkOrder(t *testing.T) {
	h := newHarness(t)
	a := h.create(nil)
	b := h.create(nil)
	all := h.openSSE(feedPath)
	one := h.openSSE(feedPath + "?id=" + string(b))
	if ce := all.nextEvent(); ce.Subject != string(a) {
		t.Errorf("first of all: %s", ce.Subject)
	}
	if ce := all.nextEvent(); ce.Subject != string(b) {
		t.Errorf("second of all: %s", ce.Subject)
	}
	h.publish(a, events.TypeStarted, &events.Started{})
	h.publish(b, events.TypeStarted, &events.Started{})
	for _, want := range []string{events.TypeRequested, events.TypeStarted} {
		if ce := one.nextEvent(); ce.Subject != string(b) || ce.Type != want {
			t.Errorf("?id=%s sent %s of %s, want its %s", b, ce.Type, ce.Subject, want)
		}
	}
	if ce := all.nextEvent(); ce.Subject != string(a) || ce.Type != events.TypeStarted {
		t.Errorf("all: %s of %s", ce.Type, ce.Subject)
	}
}

// ?type= takes full and short names, comma-separated or repeated.
func TestEventFeed_FiltersByType(t *testing.T) {
	h := newHarness(t)
	a := h.create(nil)
	b := h.create(nil)
	for _, id := range []workorder.ID{a, b} {
		h.publish(id, events.TypeStarted, &events.Started{})
		h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})
		h.publish(id, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepPlanning, Attempt: 1, Success: true})
	}
	short := h.openSSE(feedPath + "?type=step.completed,workorder.started")
	for _, want := range []struct {
		typ string
		id  workorder.ID
	}{{events.TypeStarted, a}, {events.TypeStepCompleted, a}, {events.TypeStarted, b}, {events.TypeStepCompleted, b}} {
		if ce := short.nextEvent(); ce.Type != want.typ || ce.Subject != string(want.id) {
			t.Errorf("got %s of %s, want %s of %s", ce.Type, ce.Subject, want.typ, want.id)
		}
	}
	full := h.openSSE(feedPath + "?id=" + string(b) + "&type=" + events.TypeStepStarted + "&type=step.started")
	if ce := full.nextEvent(); ce.Type != events.TypeStepStarted || ce.Subject != string(b) {
		t.Errorf("full name: %s of %s", ce.Type, ce.Subject)
	}
	h.publish(b, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepExecute, Attempt: 1})
	if ce := full.nextEvent(); ce.Type != events.TypeStepStarted {
		t.Errorf("live: %s", ce.Type)
	}

	r := h.get(feedPath + "?type=step.started,step.exploded,nope")
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown type: %d %s", r.status, r.body)
	}
	if d := r.detail(t); !strings.Contains(d, `"step.exploded"`) || !strings.Contains(d, `"nope"`) || !strings.Contains(d, "step.completed") {
		t.Errorf("detail %q, want the unknown names and the known ones", d)
	}
}

// Last-Event-ID resumes after the event it names; a page that cannot set
// the header sends ?last_event_id=.
func TestEventFeed_ResumesFromLastEventID(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.publish(id, events.TypeStarted, &events.Started{})
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})
	first := h.openSSE(feedPath)
	seqs := []uint64{first.nextEvent().seq, first.nextEvent().seq, first.nextEvent().seq}

	resumed := h.openSSE(feedPath+"?id="+string(id), "Last-Event-ID", strconv.FormatUint(seqs[0], 10))
	for _, want := range seqs[1:] {
		if ce := resumed.nextEvent(); ce.seq != want {
			t.Errorf("resumed at %d, want %d", ce.seq, want)
		}
	}
	byQuery := h.openSSE(feedPath + "?last_event_id=" + strconv.FormatUint(seqs[1], 10))
	if ce := byQuery.nextEvent(); ce.seq != seqs[2] {
		t.Errorf("?last_event_id: resumed at %d, want %d", ce.seq, seqs[2])
	}
	// Nothing later yet: the next event is the next one stored.
	caughtUp := h.openSSE(feedPath, "Last-Event-ID", strconv.FormatUint(seqs[2], 10))
	h.publish(id, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepPlanning, Attempt: 1, Success: true})
	if ce := caughtUp.nextEvent(); ce.seq <= seqs[2] || ce.Type != events.TypeStepCompleted {
		t.Errorf("after the last: %d %s", ce.seq, ce.Type)
	}
}

// A quiet feed sends heartbeats; HEAD answers the stream's headers.
func TestEventFeed_HeartbeatsAndHead(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.SSEHeartbeat = 50 * time.Millisecond })
	feed := h.openSSE(feedPath)
	deadline := time.After(5 * time.Second)
	for pings := 0; pings < 2; {
		select {
		case f := <-feed.frames:
			if f.comment != "ping" {
				t.Fatalf("frame %+v on an empty stream", f)
			}
			pings++
		case <-deadline:
			t.Fatal("no heartbeats")
		}
	}
	r := h.do(http.MethodHead, feedPath, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}
}

// Feeds count against the same caps as log streams; with tokens, a feed
// needs one.
func TestEventFeed_CapsAndTokens(t *testing.T) {
	h := newHarness(t, withTokens(tokenA, tokenB), func(o *api.Options) {
		o.SSEMaxPerClient = 1
		o.SSEHeartbeat = 50 * time.Millisecond
	})
	if r := h.doQuick(http.MethodGet, feedPath, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.status)
	}
	id := h.createAs(tokenA)
	feed := h.openSSE(feedPath, bearerHeader(tokenA)...)
	if ce := feed.nextEvent(); ce.Subject != string(id) {
		t.Errorf("with a token: %+v", ce)
	}
	r := h.doQuick(http.MethodGet, feedPath, "", bearerHeader(tokenA)...)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.detail(t), "AWO_SSE_MAX_PER_CLIENT") {
		t.Fatalf("second feed of one client: %d %s, want 503", r.status, r.body)
	}
	r = h.doQuick(http.MethodGet, "/api/agent-work-orders/"+string(id)+"/logs/stream", "", bearerHeader(tokenA)...)
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("a log stream beside the feed: %d, want 503 (one cap for both)", r.status)
	}
	h.openSSE(feedPath, bearerHeader(tokenB)...)
}

// ?from=now skips what is stored, for a page that has just read the list;
// its reconnect (same URL, Last-Event-ID) still resumes where it was.
func TestEventFeed_FromNow(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.publish(id, events.TypeStarted, &events.Started{})
	now := h.openSSE(feedPath + "?from=now") // answered once it knows where now is
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})
	ce := now.nextEvent()
	if ce.Type != events.TypeStepStarted {
		t.Fatalf("?from=now sent %s (seq %d) first, want the event stored after it opened", ce.Type, ce.seq)
	}
	again := h.openSSE(feedPath+"?from=now", "Last-Event-ID", strconv.FormatUint(ce.seq-2, 10))
	if got := again.nextEvent(); got.seq != ce.seq-1 || got.Type != events.TypeStarted {
		t.Errorf("a reconnect with Last-Event-ID %d resumed at %d (%s)", ce.seq-2, got.seq, got.Type)
	}
	if r := h.get(feedPath + "?from=yesterday"); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), `from: must be start or now, got "yesterday"`) {
		t.Errorf("?from=yesterday: %d %s", r.status, r.body)
	}
}
