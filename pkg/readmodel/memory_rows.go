package readmodel

// The seam between how Memory keeps a row and what leaves or enters it
// whole (a snapshot of the read model): whatever a row's representation
// becomes, these two speak in WorkOrder and StepRecord.

// eachRow calls fn for every row, oldest first, under the read lock, with
// the row's work order, its step history and the stream sequence of the
// event that created it. fn must not keep wo or steps past the call, nor
// call back into m. The first error fn returns stops the walk.
func (m *Memory) eachRow(fn func(wo WorkOrder, steps []StepRecord, createdSeq uint64) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
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
