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

func testListOrder(t *testing.T, s readmodel.Store) {
	var st stream
	ids := []workorder.ID{"wo-00000001", "wo-00000003", "wo-00000002"}
	for _, id := range ids {
		apply(t, s, st.requested(id, "https://github.com/acme/demo"))
	}
	// Later activity on the oldest does not move it: the order is creation.
	apply(t, s, st.next(ids[0], events.TypeStarted, &events.Started{}))
	want := []workorder.ID{ids[2], ids[1], ids[0]}
	if got := list(t, s, readmodel.Filter{}); !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v, want newest first %v", got, want)
	}
}

func testListFilters(t *testing.T, s readmodel.Store) {
	var st stream
	const repoA, repoB = "https://github.com/acme/a", "https://github.com/acme/b"
	apply(t, s, st.requested("wo-00000001", repoA))
	apply(t, s, st.requested("wo-00000002", repoB))
	apply(t, s, st.requested("wo-00000003", repoA))
	apply(t, s, st.next("wo-00000001", events.TypeStarted, &events.Started{}))
	apply(t, s, st.next("wo-00000002", events.TypeStarted, &events.Started{}))
	apply(t, s, st.next("wo-00000002", events.TypeFailed, &events.Failed{ErrorMessage: "boom"}))

	tests := []struct {
		name   string
		filter readmodel.Filter
		want   []workorder.ID
	}{
		{"Pending", readmodel.Filter{Status: workorder.StatusPending}, []workorder.ID{"wo-00000003"}},
		{"Running", readmodel.Filter{Status: workorder.StatusRunning}, []workorder.ID{"wo-00000001"}},
		{"Failed", readmodel.Filter{Status: workorder.StatusFailed}, []workorder.ID{"wo-00000002"}},
		{"NoneCompleted", readmodel.Filter{Status: workorder.StatusCompleted}, []workorder.ID{}},
		{"Repository", readmodel.Filter{RepositoryURL: repoA}, []workorder.ID{"wo-00000003", "wo-00000001"}},
		{"RepositoryAndStatus", readmodel.Filter{RepositoryURL: repoA, Status: workorder.StatusRunning}, []workorder.ID{"wo-00000001"}},
		{"UnknownRepository", readmodel.Filter{RepositoryURL: "https://github.com/acme/c"}, []workorder.ID{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, s, tc.filter); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("List(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
}

func testListPages(t *testing.T, s readmodel.Store) {
	var st stream
	for i := 1; i <= 5; i++ {
		apply(t, s, st.requested(workorder.ID(fmt.Sprintf("wo-%08d", i)), "https://github.com/acme/demo"))
	}
	tests := []struct {
		limit, offset int
		want          []workorder.ID
	}{
		{0, 0, []workorder.ID{"wo-00000005", "wo-00000004", "wo-00000003", "wo-00000002", "wo-00000001"}},
		{2, 0, []workorder.ID{"wo-00000005", "wo-00000004"}},
		{2, 2, []workorder.ID{"wo-00000003", "wo-00000002"}},
		{2, 4, []workorder.ID{"wo-00000001"}},
		{0, 3, []workorder.ID{"wo-00000002", "wo-00000001"}},
		{10, 5, []workorder.ID{}},
		{1, 99, []workorder.ID{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("Limit%dOffset%d", tc.limit, tc.offset), func(t *testing.T) {
			if got := list(t, s, readmodel.Filter{Limit: tc.limit, Offset: tc.offset}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func testCopies(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000e")
	evs := st.lifecycle(id, "https://github.com/acme/demo")
	apply(t, s, evs...)
	ctx := context.Background()
	want, wantSteps := fold(t, evs) // shares nothing with the store

	wo, _ := s.Get(ctx, id)
	wo.SelectedCommands[0] = "mutated"
	*wo.GitBranchName = "mutated"
	listed, _ := s.List(ctx, readmodel.Filter{})
	listed[0].SelectedCommands[0] = "mutated"
	*listed[0].AgentSessionID = "mutated"
	recs, _ := s.Steps(ctx, id)
	recs[0].Step = "mutated"
	*recs[0].Output = "mutated"

	if got := get(t, s, id); !reflect.DeepEqual(got, want) {
		t.Errorf("a caller changed the stored row through a result:\n got  %+v\n want %+v", got, want)
	}
	if got := steps(t, s, id); !reflect.DeepEqual(got, wantSteps) {
		t.Errorf("a caller changed the stored steps through a result")
	}
}
