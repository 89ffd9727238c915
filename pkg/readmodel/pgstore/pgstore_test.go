package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/readmodel/pgstore"
	"github.com/agentworkorders/awo/pkg/readmodel/storetest"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t testing.TB, db *pgtest.DB) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, db.URL, discard())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestStore_Contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) readmodel.Store { return open(t, server.New(t)) })
}

// event builds an event of wo at seq, as the stream would deliver it.
func event(wo workorder.ID, seq uint64, typ string, data any) events.Event {
	e := events.New(fmt.Sprintf("%s.%d", wo, seq), typ, "pgstore-test", wo,
		time.Date(2026, 3, 1, 12, 0, int(seq), 0, time.UTC), data)
	e.Seq = seq
	return e
}

func requested(wo workorder.ID, seq uint64) events.Event {
	return event(wo, seq, events.TypeRequested, &events.Requested{
		WorkOrderID: wo, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix authentication bug", SelectedCommands: []workorder.Step{workorder.StepPlanning},
	})
}

func planned(wo workorder.ID, seq uint64, attempt int) events.Event {
	return event(wo, seq, events.TypeStepCompleted, &events.StepResult{
		Step: workorder.StepPlanning, AgentName: workorder.StepPlanning.AgentName(), Attempt: attempt,
		Success: true, Output: fmt.Sprintf("plan %d", attempt), CostUSD: 0.1,
	})
}

// Each store is checked on its own database here: a late or repeated event
// must not move the row backwards or repeat a step, whatever the global
// checkpoint says.
func TestStore_OutOfOrderAndRepeatedEvents(t *testing.T) {
	ctx := context.Background()
	const id = workorder.ID("wo-0000abcd")

	t.Run("Seq5ThenSeq3_RowStaysAt5", func(t *testing.T) {
		s := open(t, server.New(t))
		mustApply(t, s, requested(id, 1))
		mustApply(t, s, event(id, 5, events.TypeFailed, &events.Failed{ErrorMessage: "boom"}))
		mustApply(t, s, event(id, 3, events.TypeStarted, &events.Started{}))
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 5 || got.Status != workorder.StatusFailed {
			t.Errorf("row at version %d status %s, want 5 failed", got.Version, got.Status)
		}
		if seq, _ := s.AppliedSequence(ctx); seq != 5 {
			t.Errorf("AppliedSequence = %d, want 5", seq)
		}
	})

	// Two projector instances on one database: each sees every event, in
	// its own order, and the row still ends as one projector alone would
	// leave it.
	t.Run("TwoStoresOneDatabase_SameResult", func(t *testing.T) {
		db := server.New(t)
		a, b := open(t, db), open(t, db)
		evs := []events.Event{requested(id, 1), planned(id, 2, 1), planned(id, 3, 2),
			event(id, 4, events.TypeCompleted, &events.Completed{})}
		for _, e := range evs {
			mustApply(t, a, e)
		}
		want, _ := a.Get(ctx, id)
		wantSteps, _ := a.Steps(ctx, id)
		for i := len(evs) - 1; i >= 0; i-- {
			mustApply(t, b, evs[i])
		}
		got, _ := b.Get(ctx, id)
		gotSteps, _ := b.Steps(ctx, id)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("row changed by a second projector:\n got  %+v\n want %+v", got, want)
		}
		if !reflect.DeepEqual(gotSteps, wantSteps) || len(gotSteps) != 2 {
			t.Errorf("steps = %+v, want %+v", gotSteps, wantSteps)
		}
	})

	t.Run("TruncateThenReplay_SameRows", func(t *testing.T) {
		s := open(t, server.New(t))
		evs := []events.Event{requested(id, 1), planned(id, 2, 1), event(id, 3, events.TypeCompleted, &events.Completed{})}
		for _, e := range evs {
			mustApply(t, s, e)
		}
		want, _ := s.Get(ctx, id)
		wantSteps, _ := s.Steps(ctx, id)
		if err := s.Truncate(ctx); err != nil {
			t.Fatal(err)
		}
		if seq, _ := s.AppliedSequence(ctx); seq != 0 {
			t.Fatalf("AppliedSequence = %d after Truncate, want 0", seq)
		}
		if _, err := s.Get(ctx, id); !errors.Is(err, readmodel.ErrNotFound) {
			t.Fatalf("Get after Truncate: %v, want ErrNotFound", err)
		}
		for _, e := range evs {
			mustApply(t, s, e)
		}
		got, _ := s.Get(ctx, id)
		gotSteps, _ := s.Steps(ctx, id)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotSteps, wantSteps) {
			t.Errorf("rebuild differs:\n got  %+v %+v\n want %+v %+v", got, gotSteps, want, wantSteps)
		}
	})
}

func mustApply(t *testing.T, s readmodel.Store, e events.Event) {
	t.Helper()
	if err := s.Apply(context.Background(), e); err != nil {
		t.Fatalf("Apply(%s): %v", e.ID, err)
	}
}

func TestStore_Count(t *testing.T) {
	s := open(t, server.New(t))
	ctx := context.Background()
	for i := uint64(1); i <= 3; i++ {
		mustApply(t, s, requested(workorder.ID(fmt.Sprintf("wo-%08d", i)), i))
	}
	mustApply(t, s, event("wo-00000002", 4, events.TypeStarted, &events.Started{}))
	tests := []struct {
		filter readmodel.Filter
		want   int
	}{
		{readmodel.Filter{}, 3},
		{readmodel.Filter{Limit: 1, Offset: 1}, 3}, // paging does not change the total
		{readmodel.Filter{Status: workorder.StatusPending}, 2},
		{readmodel.Filter{Status: workorder.StatusRunning, RepositoryURL: "https://github.com/acme/demo"}, 1},
		{readmodel.Filter{RepositoryURL: "https://github.com/acme/other"}, 0},
	}
	for _, tc := range tests {
		if got, err := s.Count(ctx, tc.filter); err != nil || got != tc.want {
			t.Errorf("Count(%+v) = %d, %v; want %d", tc.filter, got, err, tc.want)
		}
	}
}

func TestStore_HealthProbes(t *testing.T) {
	s := open(t, server.New(t))
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if ok, err := s.TablesExist(ctx); err != nil || !ok {
		t.Errorf("TablesExist = %t, %v; want true", ok, err)
	}
}

func TestStore_TablesExist_FalseWithoutTheTables(t *testing.T) {
	db := server.New(t)
	s := open(t, db)
	exec(t, db.URL, "DROP TABLE archon_agent_work_order_steps")
	if ok, err := s.TablesExist(context.Background()); err != nil || ok {
		t.Errorf("TablesExist = %t, %v; want false", ok, err)
	}
}

// A database outage is ErrUnavailable to every caller, and the same store
// works again once the database is back.
func TestStore_DatabaseDown_IsUnavailableUntilBack(t *testing.T) {
	db := pgtest.NewCluster(t)
	s := open(t, db)
	const id = workorder.ID("wo-0000dead")
	mustApply(t, s, requested(id, 1))

	db.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	checks := map[string]func() error{
		"Apply":           func() error { return s.Apply(ctx, planned(id, 2, 1)) },
		"AppliedSequence": func() error { _, err := s.AppliedSequence(ctx); return err },
		"Get":             func() error { _, err := s.Get(ctx, id); return err },
		"List":            func() error { _, err := s.List(ctx, readmodel.Filter{}); return err },
		"Count":           func() error { _, err := s.Count(ctx, readmodel.Filter{}); return err },
		"Steps":           func() error { _, err := s.Steps(ctx, id); return err },
		"Ping":            func() error { return s.Ping(ctx) },
		"TablesExist":     func() error { _, err := s.TablesExist(ctx); return err },
	}
	for name, call := range checks {
		if err := call(); !errors.Is(err, readmodel.ErrUnavailable) {
			t.Errorf("%s with the database down: err = %v, want ErrUnavailable", name, err)
		}
	}

	db.Start(t)
	mustApply(t, s, planned(id, 2, 1))
	if steps, err := s.Steps(ctx, id); err != nil || len(steps) != 1 {
		t.Errorf("Steps after restart = %d records, %v; want 1", len(steps), err)
	}
}

func TestOpen_Unreachable_NamesDatabaseURLWithoutPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := pgstore.Open(ctx, "postgres://awo:s3cret@127.0.0.1:1/awo?connect_timeout=2", discard())
	if !errors.Is(err, readmodel.ErrUnavailable) {
		t.Fatalf("Open: err = %v, want ErrUnavailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "DATABASE_URL") || strings.Contains(msg, "s3cret") {
		t.Errorf("error %q: want DATABASE_URL named and the password masked", msg)
	}
}

func TestOpen_BadURL_IsAnError(t *testing.T) {
	for _, url := range []string{"", "postgres://awo:s3cret@[::1/awo", "not a url = at all"} {
		_, err := pgstore.Open(context.Background(), url, discard())
		if err == nil {
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): error %q shows the password", url, err)
		}
	}
}

// Clients must read the same JSON whichever store the gateway uses: rows
// and steps after a realistic stream (running cost sums included, which
// travel through jsonb) marshal byte for byte alike.
func TestStore_SameJSONAsMemory(t *testing.T) {
	pg, mem := open(t, server.New(t)), readmodel.NewMemory()
	ctx := context.Background()
	var w workload
	for range 3 * 21 {
		e := w.next()
		mustApply(t, pg, e)
		mustApply(t, mem, e)
	}
	// A failed work order too, with its error in metadata.
	mustApply(t, pg, requested("wo-0000fa11", w.seq+1))
	mustApply(t, mem, requested("wo-0000fa11", w.seq+1))
	failed := event("wo-0000fa11", w.seq+2, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning})
	mustApply(t, pg, failed)
	mustApply(t, mem, failed)

	marshal := func(v any, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := marshal(pg.List(ctx, readmodel.Filter{})), marshal(mem.List(ctx, readmodel.Filter{})); got != want {
		t.Errorf("List JSON differs:\n pg     %s\n memory %s", got, want)
	}
	for _, id := range []workorder.ID{"wo-00000001", "wo-00000003", "wo-0000fa11"} {
		if got, want := marshal(pg.Steps(ctx, id)), marshal(mem.Steps(ctx, id)); got != want {
			t.Errorf("Steps(%s) JSON differs:\n pg     %s\n memory %s", id, got, want)
		}
	}
}

func TestStore_RepositoryContract(t *testing.T) {
	storetest.RunRepositories(t, func(t *testing.T) readmodel.RepositoryStore { return open(t, server.New(t)) })
}
