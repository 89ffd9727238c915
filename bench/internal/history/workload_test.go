package history

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/projector"
	"github.com/agentworkorders/awo/services/orchestrator"
)

var small = Workload{WorkOrders: 300, Repositories: 5, Seed: 3}

func TestGenerate_IsDeterministicWithEveryStatusAndASkewedRepositoryMix(t *testing.T) {
	var first []events.Event
	a, err := small.Generate(func(e events.Event) error { first = append(first, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	b, err := small.Generate(func(e events.Event) error {
		if e.ID != first[i].ID || e.Seq != first[i].Seq || !e.Time.Equal(first[i].Time) {
			t.Fatalf("event %d differs between two runs: %s/%d then %s/%d", i, first[i].ID, first[i].Seq, e.ID, e.Seq)
		}
		i++
		return nil
	})
	if err != nil || a.Events != b.Events || len(a.IDs) != small.WorkOrders {
		t.Fatalf("second run: %d events (first %d), %d ids, err %v", b.Events, a.Events, len(a.IDs), err)
	}
	for _, s := range []workorder.Status{workorder.StatusCompleted, workorder.StatusFailed, workorder.StatusCancelled, workorder.StatusRunning} {
		if a.Status[s] == 0 {
			t.Errorf("no %s work order among %d: %v", s, small.WorkOrders, a.Status)
		}
	}
	if a.Busy <= small.WorkOrders/small.Repositories || a.Busiest != RepositoryURL(0) {
		t.Errorf("busiest repository %s has %d of %d work orders: want repository 0 above an even share", a.Busiest, a.Busy, small.WorkOrders)
	}
	for _, e := range first {
		if err := events.CheckSource(e); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
	}
}

func TestGenerate_StopsWhenYieldFails(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := small.Generate(func(events.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Generate after a failing yield: err %v after %d events", err, n)
	}
}

// The events written through JetStream, replayed by the projector's
// rebuild as a gateway does at start, make the same rows as folding the
// generated events, with the final statuses the summary counts, and the
// orchestrator's consumer has nothing left to decide.
func TestPublish_FoldsIntoTheReadModelAsTheRealPathWould(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := Publish(ctx, env.NC, small)
	if err != nil {
		t.Fatal(err)
	}
	want := readmodel.NewMemory()
	if _, err := small.Generate(func(e events.Event) error { return want.Apply(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	got := readmodel.NewMemory()
	stats, err := projector.Rebuild(ctx, env.JS, got, nil, projector.RebuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != sum.Events || stats.Skipped != 0 {
		t.Fatalf("rebuild read %d events, skipped %d: want %d, none skipped", stats.Events, stats.Skipped, sum.Events)
	}
	statuses := map[workorder.Status]int{}
	for _, id := range sum.IDs {
		g, err := got.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := want.Get(ctx, id)
		gs, _ := got.Steps(ctx, id)
		ws, _ := want.Steps(ctx, id)
		if g.Status != w.Status || g.Version != w.Version || g.CostUSD != w.CostUSD || len(gs) != len(ws) ||
			!g.CreatedAt.Equal(w.CreatedAt) || g.RepositoryURL != w.RepositoryURL {
			t.Fatalf("%s replayed from JetStream: %s v%d $%.4f %d steps; folded: %s v%d $%.4f %d steps",
				id, g.Status, g.Version, g.CostUSD, len(gs), w.Status, w.Version, w.CostUSD, len(ws))
		}
		statuses[g.Status]++
	}
	for s, n := range sum.Status {
		if statuses[s] != n {
			t.Errorf("%d work orders %s in the read model, the summary says %d", statuses[s], s, n)
		}
	}
	info, err := env.JS.Consumer(ctx, bus.StreamEvents, orchestrator.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := info.Info(ctx)
	if err != nil || ci.NumPending != 0 || ci.NumAckPending != 0 || ci.AckFloor.Stream != uint64(sum.Events) {
		t.Fatalf("orchestrator consumer: %+v, err %v: want every event acknowledged", ci, err)
	}
}
