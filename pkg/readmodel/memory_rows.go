package readmodel

import (
	"errors"
	"fmt"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// The seam between how Memory keeps a row and a snapshot of the read
// model: exportRows and importRows speak in snapshotRow, a row's header
// and its packed bytes.

// putRow adds a row as a replay of the events up to createdSeq and beyond
// would have left it; the caller holds m.mu for writing and sets
// m.applied itself.
func (m *Memory) putRow(wo WorkOrder, steps []StepRecord, createdSeq uint64) {
	row := &memoryRow{createdSeq: createdSeq, id: wo.AgentWorkOrderID}
	wo.RepositoryURL = m.intern(wo.RepositoryURL)
	row.set(wo, steps)
	m.rows[row.id] = row
	m.index(row)
}

// exportRows tells applied the sequence the rows reflect, then calls fn
// for every row, oldest first, packed (a running row is packed for the
// call; a finished one is passed as the bytes Memory holds). The rows and
// their sequence are taken together under the read lock (a snapshot's rows
// and its sequence must agree, or the tail replayed after it would skip or
// repeat an event), but only as copies of the rows' headers: fn encodes
// them after the lock is released. A snapshot walk held the lock for
// seconds at 100,000 rows, and a waiting writer (the projector) makes Go's
// RWMutex hold back every new reader behind it. The copies stay valid: a
// row's packed bytes and its live part are replaced on change, never
// written in place (set), and Fold writes no step record in place.
func (m *Memory) exportRows(applied func(seq uint64, rows int), fn func(snapshotRow) error) error {
	m.mu.RLock()
	seq := m.applied
	rows := make([]memoryRow, len(m.byCreated))
	for i, r := range m.byCreated {
		rows[i] = *r
	}
	m.mu.RUnlock()
	applied(seq, len(rows))
	for i := range rows {
		r := &rows[i]
		packed := r.packed
		if r.live != nil {
			packed = pack(r.live.wo, r.live.steps)
		}
		if err := fn(snapshotRow{createdSeq: r.createdSeq, id: r.id, repo: r.repo, status: r.status, createdAt: r.createdAt, packed: packed}); err != nil {
			return err
		}
	}
	return nil
}

// importRows fills an empty store with rows (oldest first, as exportRows
// gave them) and sets its applied sequence, all under one lock so no
// reader sees half a snapshot. It refuses a store that holds anything: a
// snapshot replaces a replay, it is never merged into one.
func (m *Memory) importRows(applied uint64, rows []snapshotRow) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.rows) > 0 || m.applied > 0 {
		return fmt.Errorf("restoring a snapshot into a store that holds %d rows up to seq %d", len(m.rows), m.applied)
	}
	for _, r := range rows {
		if finished(r.status) {
			// Kept as it came: the bytes are what pack wrote.
			row := &memoryRow{createdSeq: r.createdSeq, id: r.id, createdAt: r.createdAt,
				status: r.status, repo: m.intern(r.repo), packed: r.packed}
			m.rows[row.id] = row
			m.index(row)
			continue
		}
		wo, err := unpackWorkOrder(r.packed, r.repo, r.status)
		steps, err2 := unpackSteps(r.packed)
		if err := errors.Join(err, err2); err != nil {
			// Nothing of a snapshot that cannot be read whole stays.
			m.rows = make(map[workorder.ID]*memoryRow)
			m.resetIndexes()
			return fmt.Errorf("%w: restoring %s: %w", ErrBadSnapshot, r.id, err)
		}
		m.putRow(wo, steps, r.createdSeq)
	}
	m.applied = applied
	return nil
}
