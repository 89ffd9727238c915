package readmodel

import "fmt"

// The seam between how Memory keeps a row and what leaves or enters it
// whole (a snapshot of the read model): whatever a row's representation
// becomes, these two speak in WorkOrder and StepRecord.

// eachRow calls fn for every row, oldest first, under the read lock, with
// the row's work order, its step history and the stream sequence of the
// event that created it. fn must not keep wo or steps past the call, nor
// call back into m. The first error fn returns stops the walk.
func (m *Memory) eachRow(fn rowFunc) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.eachRowLocked(fn)
}

type rowFunc = func(wo WorkOrder, steps []StepRecord, createdSeq uint64) error

// eachRowLocked is eachRow for a caller that holds m.mu.
func (m *Memory) eachRowLocked(fn rowFunc) error {
	for _, row := range m.byCreated {
		wo, err := row.workOrder()
		if err != nil {
			return err
		}
		steps, err := row.stepRecords()
		if err != nil {
			return err
		}
		if err := fn(wo, steps, row.createdSeq); err != nil {
			return err
		}
	}
	return nil
}

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

// exportRows is eachRow that first tells applied the sequence the rows
// reflect, read under the same lock as the walk: a snapshot's rows and
// its sequence must agree, or the tail replayed after it would skip or
// repeat an event.
func (m *Memory) exportRows(applied func(seq uint64, rows int), fn rowFunc) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	applied(m.applied, len(m.rows))
	return m.eachRowLocked(fn)
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
