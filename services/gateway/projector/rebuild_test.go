package projector_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/projector"
)

// snapshot is everything a client can read from a store.
type snapshot struct {
	List    []readmodel.WorkOrder
	Steps   map[workorder.ID][]readmodel.StepRecord
	Applied uint64
}

func takeSnapshot(t *testing.T, s readmodel.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	list, err := s.List(ctx, readmodel.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot{List: list, Steps: map[workorder.ID][]readmodel.StepRecord{}}
	for _, wo := range list {
		if snap.Steps[wo.AgentWorkOrderID], err = s.Steps(ctx, wo.AgentWorkOrderID); err != nil {
			t.Fatal(err)
		}
	}
	if snap.Applied, err = s.AppliedSequence(ctx); err != nil {
		t.Fatal(err)
	}
	return snap
}

// Truncate + replay gives exactly the rows the live projection built, and
// drops rows the stream does not justify.
func TestRebuild_GivesIdenticalRows(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	live := readmodel.NewMemory()
	p := projector.New(env.JS, live, quiet)
	stop := start(t, p)

	var last uint64
	for i := range 7 {
		id := workorder.ID(fmt.Sprintf("wo-0000c0%02d", i))
		publish(t, b, id, events.TypeRequested, requested(id))
		publish(t, b, id, events.TypeStarted, &events.Started{})
		last = publish(t, b, id, events.TypeStepCompleted, &events.StepResult{
			Step: workorder.StepCreateBranch, AgentName: workorder.StepCreateBranch.AgentName(), Attempt: 1, Success: true,
			Output: "feat/x", BranchName: "feat/x", SessionID: "s-1",
		})
		if i%3 == 0 {
			last = publish(t, b, id, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "boom"})
		}
	}
	waitFor(t, p, last)
	stop()
	want := takeSnapshot(t, live)
	if len(want.List) != 7 {
		t.Fatalf("live projection has %d work orders, want 7", len(want.List))
	}
	if steps := want.Steps[want.List[0].AgentWorkOrderID]; len(steps) != 1 || want.List[0].GitBranchName == nil {
		t.Fatalf("live projection: steps %+v, branch %v; want the create-branch step folded in", steps, want.List[0].GitBranchName)
	}

	// Rebuild into the same store after it picked up a row the stream
	// does not have (as a store written by a buggy version would).
	stray := workorder.ID("wo-0000dead")
	if err := live.Apply(context.Background(), events.Event{ID: "stray", Type: events.TypeRequested, WorkOrderID: stray,
		Seq: last + 100, Data: requested(stray)}); err != nil {
		t.Fatal(err)
	}
	stats, err := projector.Rebuild(context.Background(), env.JS, live, quiet, projector.RebuildOptions{ProgressEvery: 5})
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if got := takeSnapshot(t, live); !reflect.DeepEqual(got, want) {
		t.Errorf("after rebuild:\n%+v\nwant the live projection\n%+v", got, want)
	}
	if stats.Events != int(last) || stats.LastSeq != last || stats.Skipped != 0 || stats.Rate() <= 0 {
		t.Errorf("stats = %+v, want %d events up to seq %d, none skipped", stats, last, last)
	}

	// And into a fresh store: the same rows.
	fresh := readmodel.NewMemory()
	if _, err := projector.Rebuild(context.Background(), env.JS, fresh, quiet, projector.RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := takeSnapshot(t, fresh); !reflect.DeepEqual(got, want) {
		t.Errorf("fresh rebuild differs from the live projection")
	}
}

func TestRebuild_EmptyStream(t *testing.T) {
	env := natstest.Start(t)
	store := readmodel.NewMemory()
	stats, err := projector.Rebuild(context.Background(), env.JS, store, quiet, projector.RebuildOptions{})
	if err != nil || stats.Events != 0 {
		t.Fatalf("Rebuild of an empty stream = %+v, %v; want nothing done", stats, err)
	}
}

// A rebuild does not wait out a broken store: it stops with an error that
// says where it got to.
func TestRebuild_StoreFailureStopsIt(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	const id = workorder.ID("wo-0000c100")
	publish(t, b, id, events.TypeRequested, requested(id))
	publish(t, b, id, events.TypeStarted, &events.Started{})

	store := &truncatable{outageStore: &outageStore{Store: readmodel.NewMemory(), down: true}}
	_, err := projector.Rebuild(context.Background(), env.JS, store, quiet, projector.RebuildOptions{})
	if !errors.Is(err, readmodel.ErrUnavailable) {
		t.Fatalf("Rebuild with the store down = %v, want ErrUnavailable", err)
	}
	if store.truncated != 1 {
		t.Errorf("Truncate called %d times, want 1", store.truncated)
	}
}

type truncatable struct {
	*outageStore
	truncated int
}

func (s *truncatable) Truncate(context.Context) error {
	s.truncated++
	return nil
}
