package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the pg_advisory_lock key every awo replica migrates
// under ("awo-mig" in ASCII), so that replicas starting together take
// turns instead of racing on the catalog.
const migrationLockKey int64 = 0x61776f2d6d6967

// migration is one file of migrations/, named NNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading embedded migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: version, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("two migrations with version %d", out[i].version)
		}
	}
	return out, nil
}

// Migrate brings the database's schema up to date. It holds an advisory
// lock for the whole run, so concurrent callers (replicas starting at once)
// apply each migration exactly once; each migration and its record in
// awo_schema_migrations commit together or not at all.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	all, err := migrations()
	if err != nil {
		return err
	}
	// A session-level advisory lock belongs to one connection: keep it for
	// the whole run.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return classify(fmt.Errorf("acquiring a connection to migrate: %w", err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return classify(fmt.Errorf("taking the migration lock: %w", err))
	}
	defer func() {
		// Unlock even when ctx is done; a lost connection releases it anyway.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
			log.Warn("releasing the migration lock", "err", err)
		}
	}()

	// Made under the lock: concurrent CREATE TABLE IF NOT EXISTS can still
	// collide in the catalog.
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS awo_schema_migrations (
		version INT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return classify(fmt.Errorf("creating awo_schema_migrations: %w", err))
	}
	applied := make(map[int]bool)
	rows, err := conn.Query(ctx, "SELECT version FROM awo_schema_migrations")
	if err != nil {
		return classify(fmt.Errorf("reading applied migrations: %w", err))
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return classify(fmt.Errorf("reading applied migrations: %w", err))
	}
	for _, v := range versions {
		applied[v] = true
	}

	for _, m := range all {
		if applied[m.version] {
			continue
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO awo_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		}); err != nil {
			return classify(fmt.Errorf("applying migration %03d_%s: %w", m.version, m.name, err))
		}
		log.Info("read store migration applied", "version", m.version, "name", m.name)
	}
	return nil
}
