package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
)

// seedRow is what an Archon user sees in the Python service's tables.
type seedRow struct {
	Status, Branch string
	Steps          []string
}

func readSeedTables(t *testing.T, url, id string) seedRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var r seedRow
	var branch *string
	if err := conn.QueryRow(ctx, `SELECT status, git_branch_name FROM archon_agent_work_orders WHERE agent_work_order_id = $1`, id).
		Scan(&r.Status, &branch); err != nil {
		t.Fatalf("reading archon_agent_work_orders: %v", err)
	}
	if branch != nil {
		r.Branch = *branch
	}
	rows, err := conn.Query(ctx, `SELECT step || ':' || success::text FROM archon_agent_work_order_steps WHERE agent_work_order_id = $1 ORDER BY step_order`, id)
	if err != nil {
		t.Fatal(err)
	}
	r.Steps, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWorkOrder_Postgres_RowsInTheSeedTables_AndRebuildReproducesThem(t *testing.T) {
	db := pgtest.New(t)
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning())
	s := newStack(t, w, "STATE_STORAGE_TYPE=postgres", "DATABASE_URL="+db.URL)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "planning"}})
	if wo := s.get(id); wo.ID != id {
		t.Fatalf("read-your-writes with postgres: %+v", wo)
	}
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	want := seedRow{Status: "completed", Branch: branch, Steps: []string{"create-branch:true", "planning:true"}}
	if got := readSeedTables(t, db.URL, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("seed tables: %+v, want %+v", got, want)
	}
	_, before := s.do("GET", "/api/agent-work-orders/"+id+"/steps", nil)
	s.stop()

	// Rebuild: truncate and replay the stream; the rows come back the same.
	rebuild := exec.Command(awoBinary, "rebuild-read-model")
	rebuild.Env = s.env
	if out, err := rebuild.CombinedOutput(); err != nil {
		t.Fatalf("awo rebuild-read-model: %v\n%s", err, out)
	}
	if got := readSeedTables(t, db.URL, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("after rebuild: %+v, want %+v", got, want)
	}
	s.start()
	if _, after := s.do("GET", "/api/agent-work-orders/"+id+"/steps", nil); string(after) != string(before) {
		t.Errorf("steps differ after rebuild:\n before %s\n after  %s", before, after)
	}
}

func TestWorkOrder_PostgresOutage_PostAcceptedReads503_ThenConverges(t *testing.T) {
	db := pgtest.NewCluster(t)
	w := newWorld(t, createBranch("feat/outage"), planning())
	s := newStack(t, w, "STATE_STORAGE_TYPE=postgres", "DATABASE_URL="+db.URL)
	s.start()

	db.Stop(t)
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Survive an outage",
		"selected_commands": []string{"create-branch", "planning"}})
	if code, out := s.do("GET", "/api/agent-work-orders/"+id, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("GET while the database is down: %d %s, want 503", code, out)
	}
	// The work goes on without the read model.
	deadline := time.Now().Add(2 * time.Minute)
	for len(w.Model.Conversation("planning")) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	db.Start(t)
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if got := readSeedTables(t, db.URL, id); got.Status != "completed" || len(got.Steps) != 2 {
		t.Fatalf("seed tables after the outage: %+v", got)
	}
}
