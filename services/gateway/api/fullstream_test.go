package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// fillEvents shrinks WORKORDERS_EVENTS to a few KiB and publishes small
// events until it refuses one.
func (h *harness) fillEvents() {
	h.t.Helper()
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, h.env.JS, bus.StreamSettings{EventsMaxBytes: 16 << 10}); err != nil {
		h.t.Fatal(err)
	}
	for n := 0; n < 1000; n++ {
		id := workorder.ID(fmt.Sprintf("wo-f%07x", n))
		_, err := h.bus.PublishEvent(ctx, h.bus.Event(fmt.Sprintf("filler%d", n), events.TypeStarted, id, &events.Started{}), nil)
		if errors.Is(err, bus.ErrStreamFull) {
			return
		}
		if err != nil {
			h.t.Fatal(err)
		}
	}
	h.t.Fatal("the event stream never filled up")
}

func insufficientStorage(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusInsufficientStorage {
		t.Fatalf("status %d %s, want 507", r.status, r.body)
	}
	if d := r.detail(t); !strings.Contains(d, "AWO_EVENTS_MAX_BYTES") || !strings.Contains(d, bus.StreamEvents) {
		t.Errorf("detail %q does not name the stream and AWO_EVENTS_MAX_BYTES", d)
	}
}

// A full event stream answers 507 naming the setting, instead of a 500, and
// nothing of the refused request is stored.
func TestFullEventStream_Is507(t *testing.T) {
	h := newHarness(t)
	existing := h.create(nil)
	h.fillEvents()
	before := h.eventCount()

	const id = "wo-0000f011"
	insufficientStorage(t, h.post(workOrders, `{"repository_url": "https://github.com/acme/demo", "agent_work_order_id": "`+id+`",
		"user_request": "`+strings.Repeat("Fix the bug. ", 100)+`"}`))
	insufficientStorage(t, h.post("/api/agent-work-orders/"+string(existing)+"/cancel", `{}`))

	if after := h.eventCount(); after != before {
		t.Errorf("refused requests stored %d events", after-before)
	}
	if r := h.get("/api/agent-work-orders/" + id); r.status != http.StatusNotFound {
		t.Errorf("GET the refused work order: %d, want 404", r.status)
	}
	if _, ok := h.last(existing, events.TypeCancelRequested); ok {
		t.Error("the refused cancel was recorded")
	}
}
