package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A retried guarded append that meets its own earlier copy is answered
// with that copy even when the caller's context ran out meanwhile (a burst
// of appends): otherwise the gateway answers 409 "already exists" for the
// work order its own request just created.
func TestOwnCopy_FoundOnASpentContext(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := EnsureStreams(ctx, js, StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	b := New(js, "test")
	wo := workorder.ID("wo-0000f00d")
	e := b.Event("req-1", events.TypeRequested, wo, &events.Requested{WorkOrderID: wo})
	zero := uint64(0)
	seq, err := b.PublishEvent(ctx, e, &zero)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := events.Encode(e, EventSubject(wo, e.Type))
	if err != nil {
		t.Fatal(err)
	}
	spent, stop := context.WithCancel(ctx)
	stop()
	if _, ok := b.storedCopy(spent, msg); ok {
		t.Fatal("storedCopy read on a cancelled context; the test proves nothing")
	}
	ack, ok := b.ownCopy(spent, msg)
	if !ok || ack.Sequence != seq || !ack.Duplicate {
		t.Fatalf("ownCopy = %+v, %v; want the stored copy at %d", ack, ok, seq)
	}
}
