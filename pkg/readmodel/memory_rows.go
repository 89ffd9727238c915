package readmodel

import "fmt"

// The seam between how Memory keeps a row and what leaves or enters it
// whole (a snapshot of the read model): whatever a row's representation
// becomes, exportRows, importRows and putRow speak in WorkOrder and
// StepRecord.

// rowFunc takes a row's work order, its step history and the stream
// sequence of the event that created it. It must not keep wo or steps
// past the call; the first error it returns stops the walk.
type rowFunc = func(wo WorkOrder, steps []StepRecord, createdSeq uint64) error

// putRow adds a row as a replay of the events up to createdSeq and beyond
// would have left it; the caller holds m.mu for writing and sets
// m.applied itself.
func (m *Memory) putRow(wo WorkOrder, steps []StepRecord, createdSeq uint64) {
	row := &memoryRow{createdSeq: createdSeq}
	wo.RepositoryURL = m.intern(wo.RepositoryURL)
	row.set(wo, steps)
	m.rows[wo.AgentWorkOrderID] = row
	m.index(row)
}

// exportRows tells applied the sequence the rows reflect, then calls fn
// for every row, oldest first. The rows and their sequence are taken
// together under the read lock (a snapshot's rows and its sequence must
// agree, or the tail replayed after it would skip or repeat an event),
// but only as copies of the rows' headers: fn decodes and encodes them
// after the lock is released. A snapshot walk held the lock for seconds
// at 100,000 rows, and a waiting writer (the projector) makes Go's
// RWMutex hold back every new reader behind it. The copies stay valid:
// a row's packed bytes and its live part are replaced on change, never
// written in place (set), and Fold writes no step record in place.
func (m *Memory) exportRows(applied func(seq uint64, rows int), fn rowFunc) error {
	m.mu.RLock()
	seq := m.applied
	rows := make([]memoryRow, len(m.byCreated))
	for i, r := range m.byCreated {
		rows[i] = *r
	}
	m.mu.RUnlock()
	applied(seq, len(rows))
	for i := range rows {
		wo, err := rows[i].workOrder()
		if err != nil {
			return err
		}
		steps, err := rows[i].stepRecords()
		if err != nil {
			return err
		}
		if err := fn(wo, steps, rows[i].createdSeq); err != nil {
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
		m.putRow(r.wo, r.steps, r.createdSeq)
	}
	m.applied = applied
	return nil
}
