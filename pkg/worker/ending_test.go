package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Ending follows a work order through its life: unknown, running, ended,
// running again after a retry request, ended again.
func TestEnding_FollowsTerminalAndRetryEvents(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx := context.Background()
	wo := workorder.ID("wo-0000e4d1")
	other := workorder.ID("wo-0000e4d2")
	publish := func(id, typ string, w workorder.ID, data any) {
		t.Helper()
		if _, err := b.PublishEvent(ctx, b.Event(id, typ, w, data), nil); err != nil {
			t.Fatal(err)
		}
	}
	ending := func() worker.Ending {
		t.Helper()
		e, err := worker.ReadEnding(ctx, b, wo)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	if e := ending(); e.Known || e.Ended {
		t.Fatalf("before any event: %+v", e)
	}
	publish("r", events.TypeRequested, wo, &events.Requested{WorkOrderID: wo})
	publish("s", events.TypeStarted, wo, &events.Started{})
	// Another work order's end says nothing about this one.
	publish("o", events.TypeCompleted, other, &events.Completed{})
	if e := ending(); !e.Known || e.Ended {
		t.Fatalf("running: %+v", e)
	}

	before := time.Now()
	publish("f", events.TypeFailed, wo, &events.Failed{ErrorMessage: "boom"})
	e := ending()
	if !e.Known || !e.Ended || e.At.Before(before.Add(-time.Second)) || e.At.After(time.Now().Add(time.Second)) {
		t.Fatalf("failed: %+v (published at %s)", e, before)
	}

	// A retry request (its type is not in this package's catalogue) makes
	// it run again.
	if _, err := env.JS.Publish(ctx, bus.EventSubject(wo, "workorder.retry_requested"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if e := ending(); !e.Known || e.Ended {
		t.Fatalf("after retry_requested: %+v", e)
	}
	publish("c", events.TypeCompleted, wo, &events.Completed{})
	if e := ending(); !e.Known || !e.Ended {
		t.Fatalf("completed after the retry: %+v", e)
	}
}
