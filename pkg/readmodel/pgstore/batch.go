package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

var _ readmodel.BatchApplier = (*Store)(nil)

// batchRow is one work order as a batch folds it.
type batchRow struct {
	st         applyState
	createdSeq uint64 // the creating event's sequence when the batch creates the row
	steps      []readmodel.StepRecord
	dirty      bool
}

// ApplyBatch folds evs (in stream order) in one transaction: each touched
// row is read once, folded through every event of the batch, and written
// once, with the new step records and the checkpoint. A replay of a long
// stream (awo rebuild-read-model) then costs a transaction per batch
// instead of one per event. The result is what Apply event by event would
// leave. When an event cannot be folded or Postgres refuses the batch's
// content, nothing is written and readmodel.ErrNotBatchable says to apply
// those events one at a time, which handles each case on its own.
func (s *Store) ApplyBatch(ctx context.Context, evs []events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, order, checkpoint, err := readBatch(ctx, tx, evs)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Seq != 0 && e.Seq <= checkpoint {
				continue
			}
			r := rows[e.WorkOrderID]
			next, newSteps, err := readmodel.Fold(r.st.wo, nil, e)
			if err != nil {
				return fmt.Errorf("%w: %w", readmodel.ErrNotBatchable, err)
			}
			if next.AgentWorkOrderID == "" || (r.st.wo.AgentWorkOrderID != "" && next.Version == r.st.wo.Version) {
				continue
			}
			if r.st.wo.AgentWorkOrderID == "" && !r.st.found {
				r.createdSeq = e.Seq
			}
			r.st.wo, r.dirty = next, true
			r.steps = append(r.steps, newSteps...)
		}
		b := &pgx.Batch{}
		for _, id := range order {
			r := rows[id]
			if !r.dirty {
				continue
			}
			queueUpsert(b, r.st.wo, r.createdSeq)
			for i, rec := range r.steps {
				queueStep(b, id, r.st.nextStepOrder+i, rec)
			}
		}
		b.Queue(upsertCheckpoint, checkpointName, int64(evs[len(evs)-1].Seq))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("writing the rows: %w", err)
		}
		return nil
	})
	switch {
	case err == nil || errors.Is(err, readmodel.ErrNotBatchable):
		return err
	case rejected(err):
		return fmt.Errorf("%w: %w", readmodel.ErrNotBatchable, err)
	}
	return classify(fmt.Errorf("applying %d events (seq %d to %d): %w", len(evs), evs[0].Seq, evs[len(evs)-1].Seq, err))
}

// readBatch reads the checkpoint and every row evs touch, locked, with its
// next step order, in one round trip; order is the rows in first-touched
// order (so that two batches lock rows in stream order).
func readBatch(ctx context.Context, tx pgx.Tx, evs []events.Event) (map[workorder.ID]*batchRow, []workorder.ID, uint64, error) {
	rows := map[workorder.ID]*batchRow{}
	var order []workorder.ID
	for _, e := range evs {
		if _, ok := rows[e.WorkOrderID]; !ok {
			rows[e.WorkOrderID] = &batchRow{}
			order = append(order, e.WorkOrderID)
		}
	}
	b := &pgx.Batch{}
	b.Queue("SELECT last_seq FROM awo_projection_state WHERE name = $1", checkpointName)
	for _, id := range order {
		b.Queue(selectWorkOrder+" WHERE agent_work_order_id = $1 FOR UPDATE", string(id))
		b.Queue("SELECT coalesce(max(step_order) + 1, 0) FROM archon_agent_work_order_steps WHERE agent_work_order_id = $1", string(id))
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	var last int64
	if err := br.QueryRow().Scan(&last); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, 0, fmt.Errorf("reading the checkpoint: %w", err)
	}
	for _, id := range order {
		r := rows[id]
		wo, err := scanWorkOrder(br.QueryRow())
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, nil, 0, fmt.Errorf("reading work order %s: %w", id, err)
		default:
			r.st.wo, r.st.found = wo, true
		}
		if err := br.QueryRow().Scan(&r.st.nextStepOrder); err != nil {
			return nil, nil, 0, fmt.Errorf("reading the step history of %s: %w", id, err)
		}
	}
	return rows, order, uint64(last), br.Close()
}

// Tidy brings the tables' statistics and visibility map up to date after a
// bulk write (awo rebuild-read-model): without them a list's count and an
// offset page read every row from the heap until autovacuum came by.
func (s *Store) Tidy(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "VACUUM (ANALYZE) archon_agent_work_orders, archon_agent_work_order_steps"); err != nil {
		return classify(fmt.Errorf("vacuuming the read model's tables: %w", err))
	}
	return nil
}
