package readmodel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/readmodel/storetest"
)

func TestMemory_Contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) readmodel.Store { return readmodel.NewMemory() })
}

func TestMemory_CountIgnoresPaging(t *testing.T) {
	ctx := context.Background()
	m := readmodel.NewMemory()
	for i, repo := range []string{"https://github.com/acme/a", "https://github.com/acme/b", "https://github.com/acme/a"} {
		id := workorder.ID(fmt.Sprintf("wo-0000000%d", i+1))
		e := events.Event{ID: string(id) + ".requested", Type: events.TypeRequested, WorkOrderID: id, Time: time.Unix(int64(i), 0), Seq: uint64(i + 1),
			Data: &events.Requested{WorkOrderID: id, RepositoryURL: repo, SandboxType: workorder.SandboxWorktree, UserRequest: "x", SelectedCommands: workorder.DefaultSteps}}
		if err := m.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f    readmodel.Filter
		want int
	}{
		{readmodel.Filter{}, 3},
		{readmodel.Filter{Limit: 1, Offset: 1}, 3},
		{readmodel.Filter{RepositoryURL: "https://github.com/acme/a", Limit: 1}, 2},
		{readmodel.Filter{Status: workorder.StatusRunning}, 0},
	} {
		if got, err := m.Count(ctx, tc.f); err != nil || got != tc.want {
			t.Errorf("Count(%+v) = %d, %v; want %d", tc.f, got, err, tc.want)
		}
	}

	if err := m.Truncate(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Count(ctx, readmodel.Filter{}); n != 0 {
		t.Errorf("after Truncate: Count = %d, want 0", n)
	}
	if seq, _ := m.AppliedSequence(ctx); seq != 0 {
		t.Errorf("after Truncate: AppliedSequence = %d, want 0", seq)
	}
}

func TestMemory_RepositoryContract(t *testing.T) {
	storetest.RunRepositories(t, func(t *testing.T) readmodel.RepositoryStore { return readmodel.NewMemory() })
}
