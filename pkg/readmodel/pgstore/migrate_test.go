package pgstore_test

import (
	"context"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentworkorders/awo/pkg/readmodel/pgstore"
)

func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%.60s…: %v", sql, err)
	}
}

func strings2(t *testing.T, url, sql string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// schemaOf describes the public schema: columns with types, defaults and
// nullability, indexes, constraints, triggers and the recorded migrations.
func schemaOf(t *testing.T, url string) map[string][]string {
	return map[string][]string{
		"columns": strings2(t, url, `SELECT concat_ws(' | ', table_name, ordinal_position, column_name, data_type,
				is_nullable, column_default)
			FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1`),
		"indexes": strings2(t, url, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
		"constraints": strings2(t, url, `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
			FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`),
		"triggers":   strings2(t, url, `SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`),
		"migrations": strings2(t, url, `SELECT version || ' ' || name FROM awo_schema_migrations ORDER BY version`),
	}
}

func TestMigrate_ConcurrentReplicas_ApplyEachMigrationOnce(t *testing.T) {
	db := server.New(t)
	const replicas = 8
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each replica has its own pool, as separate processes would.
			pool := newPool(t, db.URL)
			errs[i] = pgstore.Migrate(context.Background(), pool, discard())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	got := strings2(t, db.URL, "SELECT version || ' ' || name FROM awo_schema_migrations ORDER BY version")
	want := []string{"1 work_orders", "2 projection", "3 configured_repositories", "4 follow_up_rounds", "5 agents", "6 list_indexes"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("awo_schema_migrations = %v, want %v", got, want)
	}
}

func TestMigrate_Twice_ChangesNothing(t *testing.T) {
	db := server.New(t)
	pool := newPool(t, db.URL)
	ctx := context.Background()
	if err := pgstore.Migrate(ctx, pool, discard()); err != nil {
		t.Fatal(err)
	}
	before := schemaOf(t, db.URL)
	if err := pgstore.Migrate(ctx, pool, discard()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if after := schemaOf(t, db.URL); !reflect.DeepEqual(after, before) {
		t.Errorf("second Migrate changed the schema:\n%v\n%v", before, after)
	}
}

// The SQL a Supabase user pastes must leave the same schema as the
// service's own migrations, and the service must find nothing left to do.
func TestSupabaseSchema_EqualsMigrations(t *testing.T) {
	sql, err := os.ReadFile("../../../deploy/supabase/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	migrated, pasted := server.New(t), server.New(t)
	if err := pgstore.Migrate(context.Background(), newPool(t, migrated.URL), discard()); err != nil {
		t.Fatal(err)
	}
	exec(t, pasted.URL, string(sql))
	exec(t, pasted.URL, string(sql)) // pasted twice by mistake: still fine

	want, got := schemaOf(t, migrated.URL), schemaOf(t, pasted.URL)
	for part := range want {
		if !reflect.DeepEqual(got[part], want[part]) {
			t.Errorf("%s differ:\n schema.sql  %s\n migrations  %s", part,
				strings.Join(got[part], "\n             "), strings.Join(want[part], "\n             "))
		}
	}
	if err := pgstore.Migrate(context.Background(), newPool(t, pasted.URL), discard()); err != nil {
		t.Fatalf("Migrate after schema.sql: %v", err)
	}
	if after := schemaOf(t, pasted.URL); !reflect.DeepEqual(after, got) {
		t.Errorf("Migrate after schema.sql changed the schema")
	}
}

// A database where Archon's own SQL ran, with a row the Python service wrote: the
// migrations keep the row readable and stop the Python service's trigger from
// rewriting updated_at.
func TestMigrate_UpgradesASeedDatabase(t *testing.T) {
	db := server.New(t)
	exec(t, db.URL, `
		CREATE FUNCTION update_updated_at_column() RETURNS trigger AS $$
		BEGIN NEW.updated_at = now(); RETURN NEW; END $$ LANGUAGE plpgsql;
		CREATE TABLE archon_agent_work_orders (
			agent_work_order_id TEXT PRIMARY KEY,
			repository_url TEXT NOT NULL,
			sandbox_identifier TEXT NOT NULL,
			git_branch_name TEXT,
			agent_session_id TEXT,
			status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'blocked')),
			metadata JSONB DEFAULT '{}'::jsonb,
			created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
			updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW());
		CREATE TRIGGER update_agent_work_orders_updated_at BEFORE UPDATE ON archon_agent_work_orders
			FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
		INSERT INTO archon_agent_work_orders (agent_work_order_id, repository_url, sandbox_identifier, status, metadata)
		VALUES ('wo-5eed0001', 'https://github.com/acme/demo', 'sandbox-wo-5eed0001', 'completed',
			'{"sandbox_type": "git_worktree", "github_issue_number": "7", "git_commit_count": 3}');`)

	s := open(t, db)
	wo, err := s.Get(context.Background(), "wo-5eed0001")
	if err != nil {
		t.Fatalf("Get of the seed's row: %v", err)
	}
	if wo.Status != "completed" || wo.GitCommitCount != 3 || wo.GitHubIssueNumber == nil || *wo.GitHubIssueNumber != "7" ||
		wo.SelectedCommands == nil {
		t.Errorf("seed row read as %+v", wo)
	}
	if trig := strings2(t, db.URL, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"); len(trig) != 0 {
		t.Errorf("triggers left: %v", trig)
	}
	exec(t, db.URL, "UPDATE archon_agent_work_orders SET status = 'cancelled' WHERE agent_work_order_id = 'wo-5eed0001'")
}
