package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func apply(t *testing.T, s readmodel.Store, evs ...events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.Apply(context.Background(), e); err != nil {
			t.Fatalf("Apply(%s): %v", e.ID, err)
		}
	}
}

func get(t *testing.T, s readmodel.Store, id workorder.ID) readmodel.WorkOrder {
	t.Helper()
	wo, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return normalizeWO(wo)
}

func steps(t *testing.T, s readmodel.Store, id workorder.ID) []readmodel.StepRecord {
	t.Helper()
	got, err := s.Steps(context.Background(), id)
	if err != nil {
		t.Fatalf("Steps(%s): %v", id, err)
	}
	for i := range got {
		got[i].Timestamp = got[i].Timestamp.UTC()
	}
	return got
}

// matchesFold checks the row and the step history of id against Fold of
// evs (when says at which point, in the error), and returns the history as
// step#attempt:success for the caller to spell out.
func matchesFold(t *testing.T, s readmodel.Store, id workorder.ID, evs []events.Event, when string) []string {
	t.Helper()
	wantWO, wantSteps := fold(t, evs)
	if got := get(t, s, id); !reflect.DeepEqual(got, wantWO) {
		t.Errorf("%s:\n got  %+v\n want %+v", when, got, wantWO)
	}
	gotSteps := steps(t, s, id)
	if !reflect.DeepEqual(gotSteps, wantSteps) {
		t.Errorf("steps:\n got  %+v\n want %+v", gotSteps, wantSteps)
	}
	var order []string
	for _, r := range gotSteps {
		order = append(order, fmt.Sprintf("%s#%d:%t", r.Step, r.Attempt, r.Success))
	}
	return order
}

func list(t *testing.T, s readmodel.Store, f readmodel.Filter) []workorder.ID {
	t.Helper()
	got, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	ids := make([]workorder.ID, len(got))
	for i, wo := range got {
		ids[i] = wo.AgentWorkOrderID
	}
	return ids
}

func applied(t *testing.T, s readmodel.Store) uint64 {
	t.Helper()
	seq, err := s.AppliedSequence(context.Background())
	if err != nil {
		t.Fatalf("AppliedSequence: %v", err)
	}
	return seq
}

// normalizeWO lets stores return times in any location.
func normalizeWO(wo readmodel.WorkOrder) readmodel.WorkOrder {
	wo.CreatedAt, wo.UpdatedAt = wo.CreatedAt.UTC(), wo.UpdatedAt.UTC()
	return wo
}
