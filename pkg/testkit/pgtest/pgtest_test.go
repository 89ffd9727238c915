package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func queryInt(t *testing.T, url, sql string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestNewCluster_StopAndStartAgain(t *testing.T) {
	db := NewCluster(t)
	if got := queryInt(t, db.URL, "SELECT 1"); got != 1 {
		t.Fatalf("SELECT 1 = %d", got)
	}
	db.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, db.URL); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped cluster")
	}
	db.Start(t)
	if got := queryInt(t, db.URL, "SELECT 2"); got != 2 {
		t.Fatalf("SELECT 2 = %d after Start", got)
	}
}

func TestFresh_DatabasesAreSeparateAndDropped(t *testing.T) {
	db := NewCluster(t)
	var other *DB
	t.Run("Sub", func(t *testing.T) {
		other = db.Fresh(t)
		if other.Name == db.Name || other.URL == db.URL {
			t.Fatalf("Fresh returned the same database %s", db.Name)
		}
		conn, err := pgx.Connect(context.Background(), other.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "CREATE TABLE only_here (x int)"); err != nil {
			t.Fatal(err)
		}
	})
	if n := queryInt(t, db.URL, "SELECT count(*) FROM pg_database WHERE datname = '"+other.Name+"'"); n != 0 {
		t.Errorf("database %s still exists after its test ended", other.Name)
	}
	if n := queryInt(t, db.URL, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_here'"); n != 0 {
		t.Errorf("a table made in one fresh database shows in another")
	}
}

// With a server URL in the environment, New uses that server instead of
// starting a cluster.
func TestNew_UsesTheServerInTheEnvironment(t *testing.T) {
	server := NewCluster(t)
	t.Setenv("AWO_TEST_DATABASE_URL", server.server)
	db := New(t)
	if db.cluster != nil {
		t.Fatal("New started its own cluster although AWO_TEST_DATABASE_URL is reachable")
	}
	if n := queryInt(t, server.URL, "SELECT count(*) FROM pg_database WHERE datname = '"+db.Name+"'"); n != 1 {
		t.Fatalf("database %s not on the server from the environment", db.Name)
	}
}

func TestNew_UnreachableServer_FallsBackToCluster(t *testing.T) {
	t.Setenv("AWO_TEST_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	db := New(t)
	if db.cluster == nil {
		t.Fatal("New used an unreachable server")
	}
	queryInt(t, db.URL, "SELECT 1")
}

func TestStartServer_SharedByTestsAndRemovedAtClose(t *testing.T) {
	t.Setenv("AWO_TEST_DATABASE_URL", "")
	t.Setenv("DATABASE_URL", "")
	srv, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	a, b := srv.New(t), srv.New(t)
	if a.Name == b.Name {
		t.Fatalf("two tests got the same database %s", a.Name)
	}
	queryInt(t, a.URL, "SELECT 1")
	dir := srv.cluster.dir
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s left behind (stat: %v)", dir, err)
	}
}
