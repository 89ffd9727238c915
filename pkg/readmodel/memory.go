package readmodel

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

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

// memoryRow is one work order. While it is live (pending, running) it is
// kept as Go values, since each event rewrites it; once it is finished it
// is kept packed (memory_pack.go), which is what most of 100,000 rows are.
// Its status and repository stay beside the bytes: List reads them for
// every row it walks, and the repository string is shared by its rows.
type memoryRow struct {
	// createdSeq orders rows created at the same instant: the stream
	// sequence of the requested event is unique and monotonic.
	createdSeq uint64
	id         workorder.ID
	createdAt  time.Time
	status     workorder.Status
	repo       string
	packed     []byte
	live       *liveRow // nil when packed
}

type liveRow struct {
	wo    WorkOrder
	steps []StepRecord
}

// finished says whether a row in status s is kept packed: a finished work
// order rarely changes again (a follow-up round unpacks it).
func finished(s workorder.Status) bool {
	return s == workorder.StatusCompleted || s == workorder.StatusFailed || s == workorder.StatusCancelled
}

// set stores wo and steps in the row, packed or live by wo's status. The
// caller has interned wo.RepositoryURL.
func (r *memoryRow) set(wo WorkOrder, steps []StepRecord) {
	r.status, r.repo, r.createdAt = wo.Status, wo.RepositoryURL, wo.CreatedAt
	if finished(wo.Status) {
		r.packed, r.live = pack(wo, steps), nil
		return
	}
	if cap(steps) > len(steps) {
		// Fold's append leaves up to twice the room needed.
		steps = slices.Clip(append(make([]StepRecord, 0, len(steps)), steps...))
	}
	r.packed, r.live = nil, &liveRow{wo: wo, steps: steps}
}

// workOrder returns the row's work order; the caller may not write
// through a live row's pointers (clone it).
func (r *memoryRow) workOrder() (WorkOrder, error) {
	if r.live != nil {
		return r.live.wo, nil
	}
	return unpackWorkOrder(r.packed, r.repo, r.status)
}

// stepRecords returns the row's step history, with the same caveat.
func (r *memoryRow) stepRecords() ([]StepRecord, error) {
	if r.live != nil {
		return r.live.steps, nil
	}
	return unpackSteps(r.packed)
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
	m.byRepo[row.repo] = insertSorted(m.byRepo[row.repo], row)
	m.count(row.repo, row.status, 1)
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
	if c := a.createdAt.Compare(b.createdAt); c != 0 {
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
		var err error
		if wo, err = row.workOrder(); err == nil {
			steps, err = row.stepRecords()
		}
		if err != nil {
			return fmt.Errorf("reading the row of %s to apply %s: %w", e.WorkOrderID, e.ID, err)
		}
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
		m.putRow(wo, steps, e.Seq)
	default:
		if row.status != wo.Status {
			m.count(row.repo, row.status, -1)
			m.count(row.repo, wo.Status, 1)
		}
		// A row's repository never changes: Fold sets it at creation.
		wo.RepositoryURL = row.repo
		row.set(wo, steps)
	}
	return nil
}

// intern returns the copy of repo the rows already share, if any: 100,000
// rows name about twenty repositories.
func (m *Memory) intern(repo string) string {
	if rows, ok := m.byRepo[repo]; ok && len(rows) > 0 {
		return rows[0].repo
	}
	return repo
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
	return row.copyWorkOrder()
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
	start := len(rows) - 1
	if f.Status == "" {
		// Every row of the index matches: the offset is skipped at once
		// rather than walked (a repository page at offset 5,000 walked
		// 5,000 rows, a tenth of the server's CPU at 2,000 reads/s).
		start, skip = start-skip, 0
	}
	for i := start; i >= 0 && (f.Limit <= 0 || len(out) < f.Limit); i-- {
		if !f.matches(rows[i]) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		wo, err := rows[i].copyWorkOrder()
		if err != nil {
			return nil, err
		}
		out = append(out, wo)
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

func (f Filter) matches(row *memoryRow) bool {
	return (f.Status == "" || row.status == f.Status) &&
		(f.RepositoryURL == "" || row.repo == f.RepositoryURL)
}

// copyWorkOrder returns the row's work order sharing nothing with the
// store.
func (r *memoryRow) copyWorkOrder() (WorkOrder, error) {
	if r.live != nil {
		return r.live.wo.clone(), nil
	}
	wo, err := unpackWorkOrder(r.packed, r.repo, r.status)
	if err != nil {
		return WorkOrder{}, fmt.Errorf("reading a packed work order: %w", err)
	}
	return wo, nil
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
	if row.live == nil {
		steps, err := unpackSteps(row.packed)
		if err != nil {
			return nil, fmt.Errorf("reading the steps of %s: %w", id, err)
		}
		return steps, nil
	}
	out := make([]StepRecord, len(row.live.steps))
	for i, r := range row.live.steps {
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
