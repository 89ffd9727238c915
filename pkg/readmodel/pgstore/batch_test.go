package pgstore_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

// A stream applied in batches leaves exactly the rows and step histories
// that applying it event by event leaves, whatever the batch boundaries,
// including a batch replayed again.
func TestApplyBatch_LeavesWhatApplyEventByEventLeaves(t *testing.T) {
	ctx := context.Background()
	one, many := open(t, server.New(t)), open(t, server.New(t))
	var w workload
	var evs []events.Event
	for range 21*7 + 5 { // seven whole work orders and the start of another
		evs = append(evs, w.next())
	}
	for _, e := range evs {
		if err := one.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(evs); i += 37 {
		if err := many.ApplyBatch(ctx, evs[i:min(i+37, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := many.ApplyBatch(ctx, evs[:50]); err != nil { // a replay changes nothing
		t.Fatal(err)
	}
	want, _ := one.List(ctx, readmodel.Filter{})
	got, err := many.List(ctx, readmodel.Filter{})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("batched rows differ (err %v):\n got %+v\nwant %+v", err, got, want)
	}
	for _, wo := range want {
		ws, _ := one.Steps(ctx, wo.AgentWorkOrderID)
		gs, _ := many.Steps(ctx, wo.AgentWorkOrderID)
		if !reflect.DeepEqual(gs, ws) {
			t.Fatalf("%s: batched steps differ:\n got %+v\nwant %+v", wo.AgentWorkOrderID, gs, ws)
		}
	}
	if a, _ := many.AppliedSequence(ctx); a != evs[len(evs)-1].Seq {
		t.Fatalf("AppliedSequence %d after the batches, want %d", a, evs[len(evs)-1].Seq)
	}
}

// A batch holding an event to apply on its own (unfoldable, or content
// Postgres refuses) writes nothing and says so.
func TestApplyBatch_RefusesABatchWithAnEventToApplyAlone(t *testing.T) {
	ctx := context.Background()
	var w workload
	good := w.next() // requested
	started := w.next()
	bad, nul := started, started
	bad.Data = &events.Completed{} // the wrong payload for its type
	nul.Data = &events.Started{SandboxIdentifier: "sandbox-\x00"}
	for name, batch := range map[string][]events.Event{"unfoldable": {good, bad}, "refused": {good, nul}} {
		s := open(t, server.New(t))
		err := s.ApplyBatch(ctx, batch)
		if !errors.Is(err, readmodel.ErrNotBatchable) {
			t.Fatalf("%s: ApplyBatch = %v, want ErrNotBatchable", name, err)
		}
		if n, _ := s.Count(ctx, readmodel.Filter{}); n != 0 {
			t.Fatalf("%s: %d rows after a refused batch, want none", name, n)
		}
		if a, _ := s.AppliedSequence(ctx); a != 0 {
			t.Fatalf("%s: AppliedSequence %d after a refused batch, want 0", name, a)
		}
	}
}

func TestTidy_RunsOnAFilledStore(t *testing.T) {
	ctx := context.Background()
	s := open(t, server.New(t))
	var w workload
	if err := s.ApplyBatch(ctx, []events.Event{w.next(), w.next(), w.next()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Tidy(ctx); err != nil {
		t.Fatalf("Tidy: %v", err)
	}
	if n, err := s.Count(ctx, readmodel.Filter{}); err != nil || n != 1 {
		t.Fatalf("Count after Tidy = %d, %v; want 1", n, err)
	}
}
