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
	return &Memory{rows: make(map[workorder.ID]*memoryRow)}
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
	m.applied = max(m.applied, e.Seq)
	if err != nil {
		return fmt.Errorf("applying event %s at seq %d: %w", e.ID, e.Seq, err)
	}
	switch {
	case wo.AgentWorkOrderID == "":
		// Nothing to store: an event for a work order whose creation we
		// never saw.
	case row == nil:
		m.rows[wo.AgentWorkOrderID] = &memoryRow{wo: wo, steps: steps, createdSeq: e.Seq}
	default:
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

// List returns copies of the matching work orders, newest first.
func (m *Memory) List(ctx context.Context, f Filter) ([]WorkOrder, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	matched := make([]*memoryRow, 0, len(m.rows))
	for _, row := range m.rows {
		if f.matches(row.wo) {
			matched = append(matched, row)
		}
	}
	slices.SortFunc(matched, func(a, b *memoryRow) int {
		if c := b.wo.CreatedAt.Compare(a.wo.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.createdSeq, a.createdSeq)
	})
	matched = page(matched, f.Offset, f.Limit)
	out := make([]WorkOrder, len(matched))
	for i, row := range matched {
		out[i] = row.wo.clone()
	}
	m.mu.RUnlock()
	return out, nil
}

// Count is how many work orders match f, ignoring its Limit and Offset.
func (m *Memory) Count(ctx context.Context, f Filter) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, row := range m.rows {
		if f.matches(row.wo) {
			n++
		}
	}
	return n, nil
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

// page applies Offset and Limit; zero or negative values do not restrict.
func page[T any](s []T, offset, limit int) []T {
	if offset > 0 {
		if offset >= len(s) {
			return s[:0]
		}
		s = s[offset:]
	}
	if limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
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
