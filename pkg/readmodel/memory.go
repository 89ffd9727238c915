package readmodel

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Memory is a Store held in the process. It is rebuilt from the event
// stream at every start, so it needs no persistence. Safe for concurrent
// use.
type Memory struct {
	mu      sync.RWMutex
	rows    map[workorder.ID]*memoryRow
	applied uint64
	repos   map[string]ConfiguredRepository // by id; see repositories.go
	// The indexes List and Count read instead of sorting or counting every
	// row (100,000 of them after months: bench/cmd/history): the rows
	// oldest first (newest first is read from the end), the same per
	// repository, and how many rows have each status, overall and per
	// repository. A row's repository never changes; its status does.
	byCreated  []*memoryRow
	byRepo     map[string][]*memoryRow
	status     map[workorder.Status]int
	repoStatus map[string]map[workorder.Status]int
}

type memoryRow struct {
	wo    WorkOrder
	steps []StepRecord
	// createdSeq orders rows created at the same instant: the stream
	// sequence of the requested event is unique and monotonic.
	createdSeq uint64
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	m := &Memory{rows: make(map[workorder.ID]*memoryRow)}
	m.resetIndexes()
	return m
}

func (m *Memory) resetIndexes() {
	m.byCreated = nil
	m.byRepo = map[string][]*memoryRow{}
	m.status = map[workorder.Status]int{}
	m.repoStatus = map[string]map[workorder.Status]int{}
}

// index adds a new row to the indexes.
func (m *Memory) index(row *memoryRow) {
	m.byCreated = insertSorted(m.byCreated, row)
	repo := row.wo.RepositoryURL
	m.byRepo[repo] = insertSorted(m.byRepo[repo], row)
	m.count(repo, row.wo.Status, 1)
}

func (m *Memory) count(repo string, s workorder.Status, n int) {
	m.status[s] += n
	rs := m.repoStatus[repo]
	if rs == nil {
		rs = map[workorder.Status]int{}
		m.repoStatus[repo] = rs
	}
	rs[s] += n
}

// older orders rows as List returns them reversed: by creation time, then
// by the sequence of the event that created them.
func older(a, b *memoryRow) int {
	if c := a.wo.CreatedAt.Compare(b.wo.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.createdSeq, b.createdSeq)
}

// insertSorted adds row in order; rows come in creation order, so this
// is nearly always an append.
func insertSorted(s []*memoryRow, row *memoryRow) []*memoryRow {
	if n := len(s); n == 0 || older(s[n-1], row) <= 0 {
		return append(s, row)
	}
	i, _ := slices.BinarySearchFunc(s, row, older)
	return slices.Insert(s, i, row)
}

var _ Store = (*Memory)(nil)

// Apply folds e into its work order's row. An event that cannot be folded
// still counts as applied and is reported as ErrInvalidEvent. Memory holds
// whatever a Go string holds, so it never refuses content (ErrRejected).
func (m *Memory) Apply(ctx context.Context, e events.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Seq != 0 && e.Seq <= m.applied {
		return nil
	}
	row := m.rows[e.WorkOrderID]
	var wo WorkOrder
	var steps []StepRecord
	if row != nil {
		wo, steps = row.wo, row.steps
	}
	wo, steps, err := Fold(wo, steps, e)
	if cap(steps) > len(steps) {
		// Fold's append leaves up to twice the room needed; kept for every
		// one of 100,000 rows that is a third of the steps' memory.
		steps = append(make([]StepRecord, 0, len(steps)), steps...)
	}
	m.applied = max(m.applied, e.Seq)
	if err != nil {
		return fmt.Errorf("applying event %s at seq %d: %w", e.ID, e.Seq, err)
	}
	switch {
	case wo.AgentWorkOrderID == "":
		// Nothing to store: an event for a work order whose creation we
		// never saw.
	case row == nil:
		row = &memoryRow{wo: wo, steps: steps, createdSeq: e.Seq}
		m.rows[wo.AgentWorkOrderID] = row
		m.index(row)
	default:
		if row.wo.Status != wo.Status {
			m.count(row.wo.RepositoryURL, row.wo.Status, -1)
			m.count(row.wo.RepositoryURL, wo.Status, 1)
		}
		row.wo, row.steps = wo, steps
	}
	return nil
}

// AppliedSequence is the highest stream sequence Apply has seen.
func (m *Memory) AppliedSequence(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.applied, nil
}

// Get returns a copy of one work order.
func (m *Memory) Get(ctx context.Context, id workorder.ID) (WorkOrder, error) {
	if err := ctx.Err(); err != nil {
		return WorkOrder{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	row, ok := m.rows[id]
	if !ok {
		return WorkOrder{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return row.wo.clone(), nil
}

// List returns copies of the matching work orders, newest first. It walks
// the rows of the repository asked for (or all) from the newest, and stops
// once it has the page.
func (m *Memory) List(ctx context.Context, f Filter) ([]WorkOrder, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	rows := m.byCreated
	if f.RepositoryURL != "" {
		rows = m.byRepo[f.RepositoryURL]
	}
	var out []WorkOrder
	skip := max(f.Offset, 0)
	for i := len(rows) - 1; i >= 0 && (f.Limit <= 0 || len(out) < f.Limit); i-- {
		if !f.matches(rows[i].wo) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, rows[i].wo.clone())
	}
	if out == nil {
		out = []WorkOrder{}
	}
	return out, nil
}

// Count is how many work orders match f, ignoring its Limit and Offset.
func (m *Memory) Count(ctx context.Context, f Filter) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case f.Status == "" && f.RepositoryURL == "":
		return len(m.rows), nil
	case f.RepositoryURL == "":
		return m.status[f.Status], nil
	case f.Status == "":
		return len(m.byRepo[f.RepositoryURL]), nil
	}
	return m.repoStatus[f.RepositoryURL][f.Status], nil
}

// Truncate empties the store and resets AppliedSequence to zero, so the
// next replay starts from the beginning of the stream.
func (m *Memory) Truncate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.rows)
	m.resetIndexes()
	m.applied = 0
	return nil
}

func (f Filter) matches(wo WorkOrder) bool {
	return (f.Status == "" || wo.Status == f.Status) &&
		(f.RepositoryURL == "" || wo.RepositoryURL == f.RepositoryURL)
}

// Steps returns a copy of a work order's step history.
func (m *Memory) Steps(ctx context.Context, id workorder.ID) ([]StepRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	row, ok := m.rows[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	out := make([]StepRecord, len(row.steps))
	for i, r := range row.steps {
		out[i] = r.clone()
	}
	return out, nil
}

// clone copies everything a caller could write through into the store.
func (wo WorkOrder) clone() WorkOrder {
	wo.SelectedCommands = slices.Clone(wo.SelectedCommands)
	for _, p := range []**string{&wo.GitBranchName, &wo.AgentSessionID, &wo.GitHubIssueNumber, &wo.CurrentPhase,
		&wo.GitHubPullRequestURL, &wo.ErrorMessage, &wo.BaseBranch} {
		*p = cloneString(*p)
	}
	wo.MaxCostUSD, wo.WaitingUntil = clonePtr(wo.MaxCostUSD), clonePtr(wo.WaitingUntil)
	return wo
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (r StepRecord) clone() StepRecord {
	r.Output, r.ErrorMessage, r.SessionID = cloneString(r.Output), cloneString(r.ErrorMessage), cloneString(r.SessionID)
	return r
}

func cloneString(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
