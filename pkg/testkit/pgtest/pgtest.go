// Package pgtest gives tests a fresh, empty Postgres database.
//
// When DATABASE_URL (or AWO_TEST_DATABASE_URL, which wins) names a reachable
// server, New creates a uniquely named database on it and drops it at
// cleanup. Otherwise New starts a throwaway cluster (initdb + pg_ctl) in a
// temporary directory and stops it at cleanup, so tests need no running
// server, only the PostgreSQL binaries (on PATH or in
// /usr/lib/postgresql/*/bin).
//
// Tests that take the database away (outage tests) use NewCluster, which
// always starts its own cluster so that Stop and Start cannot hurt a shared
// server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DB is one fresh database owned by a test.
type DB struct {
	// URL connects to the database (postgres://… form).
	URL string
	// Name is the database's name on its server.
	Name string

	server  string   // URL of the server's maintenance database
	cluster *cluster // nil on an external server
}

// New returns a fresh database for t, dropped (or its cluster stopped) when
// t finishes.
func New(t testing.TB) *DB {
	t.Helper()
	if server := externalURL(); server != "" {
		if err := reachable(server); err == nil {
			return createDatabase(t, server, nil)
		} else {
			t.Logf("pgtest: %s unreachable (%v); starting a throwaway cluster", maskURL(server), err)
		}
	}
	return NewCluster(t)
}

// NewCluster starts a throwaway cluster for t alone and returns a fresh
// database on it. Only its DB can Stop and Start.
func NewCluster(t testing.TB) *DB {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		t.Fatalf("pgtest: starting a throwaway cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.destroy(); err != nil {
			t.Errorf("pgtest: removing the throwaway cluster: %v", err)
		}
	})
	return createDatabase(t, c.url("postgres"), c)
}

// Server is a Postgres server shared by a whole test binary, so that its
// tests pay for one cluster instead of one each. Start it in TestMain:
//
//	var server *pgtest.Server
//
//	func TestMain(m *testing.M) {
//		var err error
//		if server, err = pgtest.StartServer(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		server.Close()
//		os.Exit(code)
//	}
type Server struct {
	url     string
	cluster *cluster
}

// StartServer picks the server from the environment as New does, or
// starts a throwaway cluster.
func StartServer() (*Server, error) {
	if server := externalURL(); server != "" {
		if err := reachable(server); err == nil {
			return &Server{url: server}, nil
		}
	}
	c, err := startCluster()
	if err != nil {
		return nil, fmt.Errorf("pgtest: starting a throwaway cluster: %w", err)
	}
	return &Server{url: c.url("postgres"), cluster: c}, nil
}

// New returns a fresh database on the server, dropped when t finishes.
func (s *Server) New(t testing.TB) *DB {
	t.Helper()
	return createDatabase(t, s.url, s.cluster)
}

// Close stops a throwaway cluster and removes its files; on an external
// server it does nothing (each database is dropped by its own test).
func (s *Server) Close() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.destroy()
}

// Fresh returns another fresh database on the same server, dropped when t
// finishes. It is much cheaper than New when many (sub)tests each need an
// empty database.
func (db *DB) Fresh(t testing.TB) *DB {
	t.Helper()
	return createDatabase(t, db.server, db.cluster)
}

// Stop shuts the cluster down (fast mode: open connections are cut), as a
// database outage would. It fails the test on a database that is not on its
// own throwaway cluster.
func (db *DB) Stop(t testing.TB) {
	t.Helper()
	db.onCluster(t, "Stop", "stopping the cluster", (*cluster).stop)
}

// Start brings a stopped cluster back on the same port.
func (db *DB) Start(t testing.TB) {
	t.Helper()
	db.onCluster(t, "Start", "starting the cluster again", (*cluster).start)
}

// onCluster runs do on the database's own throwaway cluster; method names
// the caller in the failure when there is none.
func (db *DB) onCluster(t testing.TB, method, doing string, do func(*cluster) error) {
	t.Helper()
	if db.cluster == nil {
		t.Fatalf("pgtest: %s needs a throwaway cluster; use pgtest.NewCluster", method)
	}
	if err := do(db.cluster); err != nil {
		t.Fatalf("pgtest: %s: %v", doing, err)
	}
}

func externalURL() string {
	if u := os.Getenv("AWO_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return os.Getenv("DATABASE_URL")
}

func reachable(server string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

func createDatabase(t testing.TB, server string, c *cluster) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, dbURL, err := newDatabase(ctx, server, "awo_test_")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	db := &DB{URL: dbURL, Name: name, server: server, cluster: c}
	t.Cleanup(func() {
		if c != nil && !c.running() {
			return // the whole cluster goes away at its own cleanup
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, server, name); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return db
}

// NewDatabase makes a database named prefix<random> on the server, for a
// program (a benchmark) rather than a test, and returns its URL and how to
// drop it.
func (s *Server) NewDatabase(ctx context.Context, prefix string) (dbURL string, drop func() error, err error) {
	name, dbURL, err := newDatabase(ctx, s.url, prefix)
	if err != nil {
		return "", nil, err
	}
	return dbURL, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return dropDatabase(ctx, s.url, name)
	}, nil
}

func newDatabase(ctx context.Context, server, prefix string) (name, dbURL string, err error) {
	name = prefix + randomHex(6)
	if err := adminExec(ctx, server, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", fmt.Errorf("creating database %s on %s: %w", name, maskURL(server), err)
	}
	if dbURL, err = withDatabase(server, name); err != nil {
		return "", "", err
	}
	return name, dbURL, nil
}

// dropDatabase drops name WITH (FORCE), which ends connections a pool may
// still hold.
func dropDatabase(ctx context.Context, server, name string) error {
	return adminExec(ctx, server, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func adminExec(ctx context.Context, server, sql string) error {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase swaps the database of a postgres:// URL or a key=value DSN.
func withDatabase(server, name string) (string, error) {
	if strings.HasPrefix(server, "postgres://") || strings.HasPrefix(server, "postgresql://") {
		u, err := url.Parse(server)
		if err != nil {
			return "", fmt.Errorf("parsing the server URL: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// A keyword/value DSN: a later dbname overrides an earlier one.
	return server + " dbname=" + name, nil
}

func maskURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}
