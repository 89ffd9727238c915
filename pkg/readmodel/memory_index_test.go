package readmodel_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// List and Count read indexes kept as events arrive; they must answer what
// sorting and counting every row answers, whatever the paging, with rows
// created out of time order and statuses that change.
func TestMemory_IndexesAnswerAsAFullScanWould(t *testing.T) {
	ctx := context.Background()
	m := readmodel.NewMemory()
	rng := rand.New(rand.NewPCG(1, 2))
	repos := []string{"https://github.com/acme/a", "https://github.com/acme/b", "https://github.com/acme/c"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var seq uint64
	var ids []workorder.ID
	apply := func(id workorder.ID, typ string, at time.Time, data any) {
		seq++
		e := events.New(fmt.Sprintf("%s-%d", id, seq), typ, "test", id, at, data)
		e.Seq = seq
		if err := m.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		id := workorder.ID(fmt.Sprintf("wo-%08x", i))
		ids = append(ids, id)
		// Mostly in order; some late, some at the same instant.
		at := base.Add(time.Duration(i-rng.IntN(3)*rng.IntN(20)) * time.Minute)
		apply(id, events.TypeRequested, at, &events.Requested{WorkOrderID: id, RepositoryURL: repos[rng.IntN(len(repos))],
			SandboxType: workorder.SandboxWorktree, UserRequest: "x", SelectedCommands: workorder.DefaultSteps})
		if i > 0 && rng.IntN(2) == 0 { // an earlier work order moves on
			other := ids[rng.IntN(len(ids))]
			apply(other, events.TypeStarted, at, &events.Started{})
			if rng.IntN(2) == 0 {
				apply(other, events.TypeFailed, at, &events.Failed{ErrorMessage: "boom"})
			}
		}
	}
	all, err := m.List(ctx, readmodel.Filter{})
	if err != nil || len(all) != 300 {
		t.Fatalf("List() = %d rows, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("row %d (%s) is newer than row %d", i, all[i].CreatedAt, i-1)
		}
	}
	for _, st := range []workorder.Status{"", workorder.StatusPending, workorder.StatusRunning, workorder.StatusFailed} {
		for _, repo := range append([]string{""}, repos...) {
			f := readmodel.Filter{Status: st, RepositoryURL: repo}
			want := slices.DeleteFunc(slices.Clone(all), func(wo readmodel.WorkOrder) bool {
				return (st != "" && wo.Status != st) || (repo != "" && wo.RepositoryURL != repo)
			})
			if n, _ := m.Count(ctx, f); n != len(want) {
				t.Fatalf("Count(%+v) = %d, want %d", f, n, len(want))
			}
			for _, pg := range [][2]int{{0, 0}, {0, 7}, {5, 10}, {len(want) - 2, 10}, {len(want) + 1, 5}} {
				f.Offset, f.Limit = pg[0], pg[1]
				got, _ := m.List(ctx, f)
				exp := want[min(max(pg[0], 0), len(want)):]
				if pg[1] > 0 && len(exp) > pg[1] {
					exp = exp[:pg[1]]
				}
				if !slices.EqualFunc(got, exp, func(a, b readmodel.WorkOrder) bool { return a.AgentWorkOrderID == b.AgentWorkOrderID }) {
					t.Fatalf("List(%+v): %d rows, want %d", f, len(got), len(exp))
				}
			}
		}
	}
}
