// Package pgstore is the Postgres readmodel.Store: the work-order rows and
// step history in the Python service's tables (archon_agent_work_orders,
// archon_agent_work_order_steps), so that an Archon user's Supabase
// database shows the same rows, kept by folding events with
// readmodel.Fold.
//
// Every Apply is one transaction that locks the row, folds, writes the row
// guarded by its version (the stream sequence of its last event), inserts
// new step records and advances the projection checkpoint. Duplicates,
// replays and late events therefore change nothing.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// checkpointName is this projection's row in awo_projection_state.
const checkpointName = "workorders"

// Store is a readmodel.Store on a pgx connection pool. Safe for concurrent
// use.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

var _ readmodel.Store = (*Store)(nil)

// Open connects to the database at url (DATABASE_URL), checks that it
// answers, and migrates the schema; log (slog.Default() when nil) gets the
// migrations. A database that cannot be reached is reported as
// readmodel.ErrUnavailable, naming the URL with its password masked.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if url == "" {
		return nil, errors.New("read store: DATABASE_URL is empty")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("read store: parsing DATABASE_URL %s: %w", maskURL(url), err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without one, a black-holed host hangs until the caller's deadline.
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read store: connecting to DATABASE_URL %s: %w", maskURL(url), classify(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("read store: connecting to DATABASE_URL %s: %w", maskURL(url), classify(err))
	}
	if err := Migrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, fmt.Errorf("read store: migrating DATABASE_URL %s: %w", maskURL(url), err)
	}
	return &Store{pool: pool, log: log}, nil
}

// Close releases the pool's connections.
func (s *Store) Close() { s.pool.Close() }

// Apply folds e into its work order's row in one transaction. An event that
// cannot be folded still advances the checkpoint and is reported as
// readmodel.ErrInvalidEvent; one whose content Postgres refuses (see
// rejected) rolls back, advances the checkpoint in a transaction of its own
// and is reported as readmodel.ErrRejected.
func (s *Store) Apply(ctx context.Context, e events.Event) error {
	var foldErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		st, err := readForApply(ctx, tx, e.WorkOrderID)
		if err != nil {
			return err
		}
		if e.Seq != 0 && e.Seq <= st.checkpoint {
			return nil // seen already: a redelivery or a replay
		}
		// Fold sees no earlier steps: it only appends, and the new records
		// continue after the stored ones.
		next, newSteps, err := readmodel.Fold(st.wo, nil, e)
		foldErr = err
		batch := &pgx.Batch{}
		switch {
		case err != nil:
			// Reported after the checkpoint commits, so that one bad event
			// cannot stall the projection.
		case next.AgentWorkOrderID == "":
			// An event for a work order whose creation we never saw.
		case st.found && next.Version == st.wo.Version:
			// Not newer than the row.
		default:
			createdSeq := e.Seq
			if st.found {
				createdSeq = 0 // not written by an update
			}
			queueUpsert(batch, next, createdSeq)
			for i, r := range newSteps {
				queueStep(batch, next.AgentWorkOrderID, st.nextStepOrder+i, r)
			}
		}
		batch.Queue(upsertCheckpoint, checkpointName, int64(e.Seq))
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("writing the row: %w", err)
		}
		return nil
	})
	if err != nil && rejected(err) {
		return s.skipRejected(ctx, e, err)
	}
	if err != nil {
		return classify(fmt.Errorf("applying event %s at seq %d to %s: %w", e.ID, e.Seq, e.WorkOrderID, err))
	}
	if foldErr != nil {
		return fmt.Errorf("applying event %s at seq %d: %w", e.ID, e.Seq, foldErr)
	}
	return nil
}

// skipRejected records e's sequence as applied after Postgres refused the
// event's content (cause), so that neither this projector nor one started
// later on the same database tries it again. The failed transaction has
// rolled back; the checkpoint moves in a fresh one. If that write fails
// too, the database is in trouble rather than the event, and the error is
// returned as it is (an outage: the projector retries the whole event).
func (s *Store) skipRejected(ctx context.Context, e events.Event, cause error) error {
	if _, err := s.pool.Exec(ctx, upsertCheckpoint, checkpointName, int64(e.Seq)); err != nil {
		return classify(fmt.Errorf("applying event %s at seq %d to %s: recording the checkpoint past a rejected event: %w",
			e.ID, e.Seq, e.WorkOrderID, err))
	}
	return fmt.Errorf("%w: event %s at seq %d of %s: %w", readmodel.ErrRejected, e.ID, e.Seq, e.WorkOrderID, cause)
}

// upsertCheckpoint moves the checkpoint forward, never back.
const upsertCheckpoint = `INSERT INTO awo_projection_state (name, last_seq) VALUES ($1, $2)
	ON CONFLICT (name) DO UPDATE SET last_seq = greatest(awo_projection_state.last_seq, excluded.last_seq)`

// applyState is what Apply reads before folding.
type applyState struct {
	checkpoint    uint64
	wo            readmodel.WorkOrder
	found         bool
	nextStepOrder int // continues the Python service's 0-based step_order
}

// readForApply reads the checkpoint, the work order's row and its next step
// order in one round trip, and locks the row until the transaction ends so
// that two appliers of the same work order take turns.
func readForApply(ctx context.Context, tx pgx.Tx, id workorder.ID) (applyState, error) {
	var st applyState
	b := &pgx.Batch{}
	b.Queue("SELECT last_seq FROM awo_projection_state WHERE name = $1", checkpointName)
	b.Queue(selectWorkOrder+" WHERE agent_work_order_id = $1 FOR UPDATE", string(id))
	b.Queue("SELECT coalesce(max(step_order) + 1, 0) FROM archon_agent_work_order_steps WHERE agent_work_order_id = $1",
		string(id))
	br := tx.SendBatch(ctx, b)
	defer br.Close()

	var last int64
	if err := br.QueryRow().Scan(&last); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("reading the checkpoint: %w", err)
	}
	st.checkpoint = uint64(last)
	wo, err := scanWorkOrder(br.QueryRow())
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return st, fmt.Errorf("reading work order %s: %w", id, err)
	default:
		st.wo, st.found = wo, true
	}
	if err := br.QueryRow().Scan(&st.nextStepOrder); err != nil {
		return st, fmt.Errorf("reading the step history of %s: %w", id, err)
	}
	return st, br.Close()
}

func queueUpsert(b *pgx.Batch, wo readmodel.WorkOrder, createdSeq uint64) {
	b.Queue(`INSERT INTO archon_agent_work_orders (agent_work_order_id, repository_url, sandbox_identifier,
			git_branch_name, agent_session_id, status, metadata, created_at, updated_at, version, created_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (agent_work_order_id) DO UPDATE SET
			repository_url = excluded.repository_url,
			sandbox_identifier = excluded.sandbox_identifier,
			git_branch_name = excluded.git_branch_name,
			agent_session_id = excluded.agent_session_id,
			status = excluded.status,
			metadata = excluded.metadata,
			created_at = excluded.created_at,
			updated_at = excluded.updated_at,
			version = excluded.version
		WHERE archon_agent_work_orders.version < excluded.version`,
		string(wo.AgentWorkOrderID), wo.RepositoryURL, wo.SandboxIdentifier,
		wo.GitBranchName, wo.AgentSessionID, string(wo.Status), metadataOf(wo),
		wo.CreatedAt, wo.UpdatedAt, int64(wo.Version), int64(createdSeq))
}

func queueStep(b *pgx.Batch, id workorder.ID, order int, r readmodel.StepRecord) {
	// A redelivered result finds its step_order taken and is dropped.
	b.Queue(`INSERT INTO archon_agent_work_order_steps (agent_work_order_id, step, agent_name, success,
			output, error_message, duration_seconds, session_id, executed_at, step_order,
			attempt, cost_usd, input_tokens, output_tokens, num_turns, round, cost_unknown)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (agent_work_order_id, step_order) DO NOTHING`,
		string(id), string(r.Step), r.AgentName, r.Success,
		r.Output, r.ErrorMessage, r.DurationSeconds, r.SessionID, r.Timestamp, order,
		r.Attempt, r.CostUSD, r.InputTokens, r.OutputTokens, r.NumTurns, max(r.Round, 1), r.CostUnknown)
}

// AppliedSequence is the checkpoint: the highest stream sequence applied.
func (s *Store) AppliedSequence(ctx context.Context) (uint64, error) {
	var last int64
	err := s.pool.QueryRow(ctx, "SELECT last_seq FROM awo_projection_state WHERE name = $1", checkpointName).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, classify(fmt.Errorf("reading the projection checkpoint: %w", err))
	}
	return uint64(last), nil
}

// Get returns one work order.
func (s *Store) Get(ctx context.Context, id workorder.ID) (readmodel.WorkOrder, error) {
	wo, err := scanWorkOrder(s.pool.QueryRow(ctx, selectWorkOrder+" WHERE agent_work_order_id = $1", string(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return readmodel.WorkOrder{}, fmt.Errorf("%w: %s", readmodel.ErrNotFound, id)
	}
	if err != nil {
		return readmodel.WorkOrder{}, classify(fmt.Errorf("reading work order %s: %w", id, err))
	}
	return wo, nil
}

// List returns the matching work orders, newest first.
func (s *Store) List(ctx context.Context, f readmodel.Filter) ([]readmodel.WorkOrder, error) {
	sql, args := listQuery(f)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("listing work orders: %w", err))
	}
	out, err := collectWorkOrders(rows)
	if err != nil {
		return nil, classify(fmt.Errorf("listing work orders: %w", err))
	}
	return out, nil
}

// listQuery is List's statement for f.
func listQuery(f readmodel.Filter) (string, []any) {
	where, args := filterClause(f)
	// LIMIT NULL is no limit.
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	args = append(args, limit, max(f.Offset, 0))
	sql := fmt.Sprintf("%s%s ORDER BY created_at DESC, created_seq DESC LIMIT $%d OFFSET $%d",
		selectWorkOrder, where, len(args)-1, len(args))
	if f.Offset > 0 {
		// A deep page (offset 5,000 of a busy repository) skips its rows
		// in the index alone (migration 006 includes the id) and reads
		// only the page's rows from the table, not every skipped one.
		sql = fmt.Sprintf("%s WHERE agent_work_order_id IN (SELECT agent_work_order_id FROM archon_agent_work_orders%s"+
			" ORDER BY created_at DESC, created_seq DESC LIMIT $%d OFFSET $%d) ORDER BY created_at DESC, created_seq DESC",
			selectWorkOrder, where, len(args)-1, len(args))
	}
	return sql, args
}

func collectWorkOrders(rows pgx.Rows) ([]readmodel.WorkOrder, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (readmodel.WorkOrder, error) {
		return scanWorkOrder(row)
	})
}

// Count is the number of work orders List would return without Limit and
// Offset.
func (s *Store) Count(ctx context.Context, f readmodel.Filter) (int, error) {
	where, args := filterClause(f)
	var n int
	if err := s.pool.QueryRow(ctx, countQuery+where, args...).Scan(&n); err != nil {
		return 0, classify(fmt.Errorf("counting work orders: %w", err))
	}
	return n, nil
}

const countQuery = "SELECT count(*) FROM archon_agent_work_orders"

// ListCounted is List and then Count of the same filter in one round trip
// to the database (a pipelined batch on one connection): a page of the
// list costs one connection hold instead of two, which at 2,000 reads/s is
// what the pool ran out of.
func (s *Store) ListCounted(ctx context.Context, f readmodel.Filter) ([]readmodel.WorkOrder, int, error) {
	sql, args := listQuery(f)
	where, countArgs := filterClause(f)
	var b pgx.Batch
	b.Queue(sql, args...)
	b.Queue(countQuery+where, countArgs...)
	res := s.pool.SendBatch(ctx, &b)
	defer res.Close()
	rows, err := res.Query()
	if err != nil {
		return nil, 0, classify(fmt.Errorf("listing work orders: %w", err))
	}
	out, err := collectWorkOrders(rows)
	if err != nil {
		return nil, 0, classify(fmt.Errorf("listing work orders: %w", err))
	}
	var n int
	if err := res.QueryRow().Scan(&n); err != nil {
		return nil, 0, classify(fmt.Errorf("counting work orders: %w", err))
	}
	if err := res.Close(); err != nil {
		return nil, 0, classify(fmt.Errorf("listing work orders: %w", err))
	}
	return out, n, nil
}

func filterClause(f readmodel.Filter) (string, []any) {
	var args []any
	where := ""
	add := func(cond string, v any) {
		args = append(args, v)
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += fmt.Sprintf(cond, len(args))
	}
	if f.Status != "" {
		add("status = $%d", string(f.Status))
	}
	if f.RepositoryURL != "" {
		add("repository_url = $%d", f.RepositoryURL)
	}
	return where, args
}

// Steps returns a work order's step history in execution order.
func (s *Store) Steps(ctx context.Context, id workorder.ID) ([]readmodel.StepRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT step, agent_name, success, output, error_message, duration_seconds,
			session_id, executed_at, attempt, cost_usd, input_tokens, output_tokens, num_turns, round, cost_unknown
		FROM archon_agent_work_order_steps WHERE agent_work_order_id = $1 ORDER BY step_order`, string(id))
	if err != nil {
		return nil, classify(fmt.Errorf("reading the steps of %s: %w", id, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (readmodel.StepRecord, error) {
		var r readmodel.StepRecord
		var step string
		err := row.Scan(&step, &r.AgentName, &r.Success, &r.Output, &r.ErrorMessage, &r.DurationSeconds,
			&r.SessionID, &r.Timestamp, &r.Attempt, &r.CostUSD, &r.InputTokens, &r.OutputTokens, &r.NumTurns, &r.Round, &r.CostUnknown)
		r.Step = workorder.Step(step)
		r.Timestamp = r.Timestamp.UTC()
		return r, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("reading the steps of %s: %w", id, err))
	}
	if len(out) == 0 {
		// No steps yet, or no such work order: only the second is an error.
		var exists bool
		if err := s.pool.QueryRow(ctx, "SELECT exists(SELECT 1 FROM archon_agent_work_orders WHERE agent_work_order_id = $1)",
			string(id)).Scan(&exists); err != nil {
			return nil, classify(fmt.Errorf("reading work order %s: %w", id, err))
		}
		if !exists {
			return nil, fmt.Errorf("%w: %s", readmodel.ErrNotFound, id)
		}
	}
	return out, nil
}

// Truncate empties the read model and resets the checkpoint, for a rebuild
// from the start of the stream.
func (s *Store) Truncate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "TRUNCATE archon_agent_work_order_steps, archon_agent_work_orders"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM awo_projection_state WHERE name = $1", checkpointName)
		return err
	})
	if err != nil {
		return classify(fmt.Errorf("truncating the read model: %w", err))
	}
	s.log.Info("read model truncated for a rebuild")
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return classify(fmt.Errorf("pinging the read store: %w", err))
	}
	return nil
}

// TablesExist reports whether the read model's tables are all there, for
// /health to tell a reachable but unmigrated (or tampered) database.
func (s *Store) TablesExist(ctx context.Context) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT to_regclass('archon_agent_work_orders') IS NOT NULL
		AND to_regclass('archon_agent_work_order_steps') IS NOT NULL
		AND to_regclass('awo_projection_state') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return false, classify(fmt.Errorf("looking for the read model's tables: %w", err))
	}
	return ok, nil
}
