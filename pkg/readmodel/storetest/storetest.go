// Package storetest is the contract every readmodel.Store must meet. Each
// implementation runs the same suite from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) readmodel.Store { return newStore(t) })
//	}
//
// newStore must return an empty store owned by the calling (sub)test.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Run runs the contract suite, one subtest per behaviour, each on a fresh
// store.
func Run(t *testing.T, newStore func(t *testing.T) readmodel.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s readmodel.Store)
	}{
		{"EmptyStore_HasNothing", testEmpty},
		{"Lifecycle_StoresWhatFoldComputes", testLifecycle},
		{"Replay_ChangesNothing", testReplay},
		{"LateEvent_NeverMovesTheRowBack", testLateEvent},
		{"EventOfUnknownWorkOrder_CountsAsApplied", testUnknownWorkOrder},
		{"InvalidEvent_IsReportedAndSkipped", testInvalidEvent},
		{"List_NewestFirst", testListOrder},
		{"List_Filters", testListFilters},
		{"List_Pages", testListPages},
		{"Results_AreCopies", testCopies},
		{"ConcurrentReadsDuringApply", testConcurrent},
		{"Retry_ReopensAndKeepsEveryAttempt", testRetry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.test(t, newStore(t))
		})
	}
}

// base is a fixed instant with microsecond precision, which every store
// (Postgres timestamptz included) keeps exactly.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stream hands out events with increasing sequences and times, as the
// WORKORDERS_EVENTS stream would.
type stream struct{ seq uint64 }

func (s *stream) next(wo workorder.ID, typ string, data any) events.Event {
	s.seq++
	e := events.New(fmt.Sprintf("%s.%s.%d", wo, events.ShortName(typ), s.seq), typ, "storetest", wo,
		base.Add(time.Duration(s.seq)*time.Second), data)
	e.Seq = s.seq
	return e
}

func (s *stream) requested(wo workorder.ID, repo string) events.Event {
	return s.next(wo, events.TypeRequested, &events.Requested{
		WorkOrderID:       wo,
		RepositoryURL:     repo,
		SandboxType:       workorder.SandboxWorktree,
		UserRequest:       "Fix authentication bug in " + repo,
		SelectedCommands:  []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepCreatePR},
		GitHubIssueNumber: "42",
	})
}

func (s *stream) stepResult(wo workorder.ID, r events.StepResult) events.Event {
	typ := events.TypeStepCompleted
	if !r.Success {
		typ = events.TypeStepFailed
	}
	if r.AgentName == "" {
		r.AgentName = r.Step.AgentName()
	}
	return s.next(wo, typ, &r)
}

// lifecycle is a whole successful work order, with a hidden internal step,
// a failed attempt that was retried, and cost on every agent step.
func (s *stream) lifecycle(wo workorder.ID, repo string) []events.Event {
	two, five := 2, 5
	return []events.Event{
		s.requested(wo, repo),
		s.next(wo, events.TypeStarted, &events.Started{SandboxIdentifier: wo.SandboxIdentifier()}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepFetchIssue, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepFetchIssue, Attempt: 1, Success: true,
			Issue: &events.Issue{Number: 42, Title: "Login fails"}}),
		s.next(wo, events.TypeStepDispatched, &events.StepDispatched{Step: workorder.StepCreateBranch, Attempt: 1}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreateBranch, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true,
			Output: "fix/login", DurationSeconds: 2.5, SessionID: "session-1", CostUSD: 0.5,
			Usage: &events.Usage{InputTokens: 1000, OutputTokens: 100}, BranchName: "fix/login", BaseBranch: "main"}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepPlanning, Attempt: 1,
			ErrorMessage: "claude exited 1", DurationSeconds: 1, SessionID: "session-2"}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepPlanning, Attempt: 2, Success: true,
			Output: "PRPs/features/login.md", DurationSeconds: 30, SessionID: "session-3", CostUSD: 0.25, NumTurns: 7,
			Usage: &events.Usage{InputTokens: 500, OutputTokens: 50}, CommitCount: &two, FilesChanged: &five, LatestCommitMessage: "feat: log in"}),
		s.next(wo, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreatePR, Attempt: 1}),
		s.stepResult(wo, events.StepResult{Step: workorder.StepCreatePR, Attempt: 1, Success: true,
			PullRequestURL: "https://github.com/acme/demo/pull/7", Output: "https://github.com/acme/demo/pull/7"}),
		s.next(wo, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"}),
	}
}

func apply(t *testing.T, s readmodel.Store, evs ...events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.Apply(context.Background(), e); err != nil {
			t.Fatalf("Apply(%s): %v", e.ID, err)
		}
	}
}

// fold is the reference: what a store must hold after evs.
func fold(t *testing.T, evs []events.Event) (readmodel.WorkOrder, []readmodel.StepRecord) {
	t.Helper()
	var wo readmodel.WorkOrder
	var steps []readmodel.StepRecord
	for _, e := range evs {
		var err error
		if wo, steps, err = readmodel.Fold(wo, steps, e); err != nil {
			t.Fatalf("Fold(%s): %v", e.ID, err)
		}
	}
	return wo, steps
}

func get(t *testing.T, s readmodel.Store, id workorder.ID) readmodel.WorkOrder {
	t.Helper()
	wo, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return normalizeWO(wo)
}

func steps(t *testing.T, s readmodel.Store, id workorder.ID) []readmodel.StepRecord {
	t.Helper()
	got, err := s.Steps(context.Background(), id)
	if err != nil {
		t.Fatalf("Steps(%s): %v", id, err)
	}
	for i := range got {
		got[i].Timestamp = got[i].Timestamp.UTC()
	}
	return got
}

func list(t *testing.T, s readmodel.Store, f readmodel.Filter) []workorder.ID {
	t.Helper()
	got, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	ids := make([]workorder.ID, len(got))
	for i, wo := range got {
		ids[i] = wo.AgentWorkOrderID
	}
	return ids
}

func applied(t *testing.T, s readmodel.Store) uint64 {
	t.Helper()
	seq, err := s.AppliedSequence(context.Background())
	if err != nil {
		t.Fatalf("AppliedSequence: %v", err)
	}
	return seq
}

// normalizeWO lets stores return times in any location.
func normalizeWO(wo readmodel.WorkOrder) readmodel.WorkOrder {
	wo.CreatedAt, wo.UpdatedAt = wo.CreatedAt.UTC(), wo.UpdatedAt.UTC()
	return wo
}

func testEmpty(t *testing.T, s readmodel.Store) {
	ctx := context.Background()
	if seq := applied(t, s); seq != 0 {
		t.Errorf("AppliedSequence = %d, want 0", seq)
	}
	if _, err := s.Get(ctx, "wo-00000000"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Get unknown: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Steps(ctx, "wo-00000000"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Steps unknown: err = %v, want ErrNotFound", err)
	}
	if ids := list(t, s, readmodel.Filter{}); len(ids) != 0 {
		t.Errorf("List = %v, want nothing", ids)
	}
}

func testLifecycle(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000a")
	evs := st.lifecycle(id, "https://github.com/acme/demo")

	// The row after the first event already reads as pending.
	apply(t, s, evs[0])
	wantWO, _ := fold(t, evs[:1])
	if got := get(t, s, id); !reflect.DeepEqual(got, wantWO) {
		t.Fatalf("after requested:\n got  %+v\n want %+v", got, wantWO)
	}
	if got := steps(t, s, id); len(got) != 0 {
		t.Fatalf("steps after requested = %+v, want none", got)
	}

	apply(t, s, evs[1:]...)
	wantWO, wantSteps := fold(t, evs)
	if got := get(t, s, id); !reflect.DeepEqual(got, wantWO) {
		t.Errorf("after lifecycle:\n got  %+v\n want %+v", got, wantWO)
	}
	gotSteps := steps(t, s, id)
	if !reflect.DeepEqual(gotSteps, wantSteps) {
		t.Errorf("steps:\n got  %+v\n want %+v", gotSteps, wantSteps)
	}
	// Spelled out, so the suite does not only trust Fold.
	var order []string
	for _, r := range gotSteps {
		order = append(order, fmt.Sprintf("%s#%d:%t", r.Step, r.Attempt, r.Success))
	}
	wantOrder := []string{"create-branch#1:true", "planning#1:false", "planning#2:true", "create-pr#1:true"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("step order = %v, want %v (internal steps hidden, execution order)", order, wantOrder)
	}
	got := get(t, s, id)
	if got.Status != workorder.StatusCompleted || got.CostUSD != 0.75 || got.GitCommitCount != 2 ||
		got.AgentSessionID == nil || *got.AgentSessionID != "session-3" {
		t.Errorf("row = %+v: want completed, cost 0.75, 2 commits, latest session session-3", got)
	}
	if seq := applied(t, s); seq != evs[len(evs)-1].Seq {
		t.Errorf("AppliedSequence = %d, want %d", seq, evs[len(evs)-1].Seq)
	}
}

func testReplay(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000b")
	evs := st.lifecycle(id, "https://github.com/acme/demo")
	apply(t, s, evs...)
	wantWO, wantSteps, wantSeq := get(t, s, id), steps(t, s, id), applied(t, s)

	apply(t, s, evs...)              // a full replay from sequence 1
	apply(t, s, evs[len(evs)-3:]...) // a redelivered tail
	if got := get(t, s, id); !reflect.DeepEqual(got, wantWO) {
		t.Errorf("row changed by replay:\n got  %+v\n want %+v", got, wantWO)
	}
	if got := steps(t, s, id); !reflect.DeepEqual(got, wantSteps) {
		t.Errorf("steps changed by replay: got %d records, want %d", len(got), len(wantSteps))
	}
	if seq := applied(t, s); seq != wantSeq {
		t.Errorf("AppliedSequence = %d after replay, want %d", seq, wantSeq)
	}
}

// testLateEvent delivers an older event after a newer one (seq 5, then 3),
// as a redelivery racing the stream would: the row stays at 5.
func testLateEvent(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000f")
	apply(t, s, st.requested(id, "https://github.com/acme/demo")) // seq 1
	st.seq = 2
	late := st.next(id, events.TypeStarted, &events.Started{SandboxIdentifier: "late-sandbox"}) // seq 3
	st.seq = 4
	failed := st.next(id, events.TypeFailed, &events.Failed{ErrorMessage: "boom"}) // seq 5
	apply(t, s, failed)
	want := get(t, s, id)
	apply(t, s, late)
	if got := get(t, s, id); !reflect.DeepEqual(got, want) {
		t.Errorf("a late event changed the row:\n got  %+v\n want %+v", got, want)
	}
	if got := get(t, s, id); got.Version != 5 || got.Status != workorder.StatusFailed {
		t.Errorf("row at version %d, status %s; want 5, failed", got.Version, got.Status)
	}
	if seq := applied(t, s); seq != 5 {
		t.Errorf("AppliedSequence = %d, want 5", seq)
	}
}

func testUnknownWorkOrder(t *testing.T, s readmodel.Store) {
	var st stream
	e := st.next("wo-0000000c", events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})
	apply(t, s, e)
	if seq := applied(t, s); seq != e.Seq {
		t.Errorf("AppliedSequence = %d, want %d", seq, e.Seq)
	}
	if _, err := s.Get(context.Background(), "wo-0000000c"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Get: err = %v, want ErrNotFound (no row without its requested event)", err)
	}
}

func testInvalidEvent(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000d")
	req := st.requested(id, "https://github.com/acme/demo")
	apply(t, s, req)
	want := get(t, s, id)

	bad := st.next(id, events.TypeStepCompleted, &events.Completed{})
	if err := s.Apply(context.Background(), bad); !errors.Is(err, readmodel.ErrInvalidEvent) {
		t.Fatalf("Apply(bad payload): err = %v, want ErrInvalidEvent", err)
	}
	if seq := applied(t, s); seq != bad.Seq {
		t.Errorf("AppliedSequence = %d, want %d: a bad event must not stall the projection", seq, bad.Seq)
	}
	if got := get(t, s, id); !reflect.DeepEqual(got, want) {
		t.Errorf("bad event changed the row:\n got  %+v\n want %+v", got, want)
	}
	// The projection goes on after it.
	apply(t, s, st.next(id, events.TypeStarted, &events.Started{}))
	if got := get(t, s, id); got.Status != workorder.StatusRunning {
		t.Errorf("status = %s after started, want running", got.Status)
	}
}

func testListOrder(t *testing.T, s readmodel.Store) {
	var st stream
	ids := []workorder.ID{"wo-00000001", "wo-00000003", "wo-00000002"}
	for _, id := range ids {
		apply(t, s, st.requested(id, "https://github.com/acme/demo"))
	}
	// Later activity on the oldest does not move it: the order is creation.
	apply(t, s, st.next(ids[0], events.TypeStarted, &events.Started{}))
	want := []workorder.ID{ids[2], ids[1], ids[0]}
	if got := list(t, s, readmodel.Filter{}); !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v, want newest first %v", got, want)
	}
}

func testListFilters(t *testing.T, s readmodel.Store) {
	var st stream
	const repoA, repoB = "https://github.com/acme/a", "https://github.com/acme/b"
	apply(t, s, st.requested("wo-00000001", repoA))
	apply(t, s, st.requested("wo-00000002", repoB))
	apply(t, s, st.requested("wo-00000003", repoA))
	apply(t, s, st.next("wo-00000001", events.TypeStarted, &events.Started{}))
	apply(t, s, st.next("wo-00000002", events.TypeStarted, &events.Started{}))
	apply(t, s, st.next("wo-00000002", events.TypeFailed, &events.Failed{ErrorMessage: "boom"}))

	tests := []struct {
		name   string
		filter readmodel.Filter
		want   []workorder.ID
	}{
		{"Pending", readmodel.Filter{Status: workorder.StatusPending}, []workorder.ID{"wo-00000003"}},
		{"Running", readmodel.Filter{Status: workorder.StatusRunning}, []workorder.ID{"wo-00000001"}},
		{"Failed", readmodel.Filter{Status: workorder.StatusFailed}, []workorder.ID{"wo-00000002"}},
		{"NoneCompleted", readmodel.Filter{Status: workorder.StatusCompleted}, []workorder.ID{}},
		{"Repository", readmodel.Filter{RepositoryURL: repoA}, []workorder.ID{"wo-00000003", "wo-00000001"}},
		{"RepositoryAndStatus", readmodel.Filter{RepositoryURL: repoA, Status: workorder.StatusRunning}, []workorder.ID{"wo-00000001"}},
		{"UnknownRepository", readmodel.Filter{RepositoryURL: "https://github.com/acme/c"}, []workorder.ID{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, s, tc.filter); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("List(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
}

func testListPages(t *testing.T, s readmodel.Store) {
	var st stream
	for i := 1; i <= 5; i++ {
		apply(t, s, st.requested(workorder.ID(fmt.Sprintf("wo-%08d", i)), "https://github.com/acme/demo"))
	}
	tests := []struct {
		limit, offset int
		want          []workorder.ID
	}{
		{0, 0, []workorder.ID{"wo-00000005", "wo-00000004", "wo-00000003", "wo-00000002", "wo-00000001"}},
		{2, 0, []workorder.ID{"wo-00000005", "wo-00000004"}},
		{2, 2, []workorder.ID{"wo-00000003", "wo-00000002"}},
		{2, 4, []workorder.ID{"wo-00000001"}},
		{0, 3, []workorder.ID{"wo-00000002", "wo-00000001"}},
		{10, 5, []workorder.ID{}},
		{1, 99, []workorder.ID{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("Limit%dOffset%d", tc.limit, tc.offset), func(t *testing.T) {
			if got := list(t, s, readmodel.Filter{Limit: tc.limit, Offset: tc.offset}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func testCopies(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000e")
	evs := st.lifecycle(id, "https://github.com/acme/demo")
	apply(t, s, evs...)
	ctx := context.Background()
	want, wantSteps := fold(t, evs) // shares nothing with the store

	wo, _ := s.Get(ctx, id)
	wo.SelectedCommands[0] = "mutated"
	*wo.GitBranchName = "mutated"
	listed, _ := s.List(ctx, readmodel.Filter{})
	listed[0].SelectedCommands[0] = "mutated"
	*listed[0].AgentSessionID = "mutated"
	recs, _ := s.Steps(ctx, id)
	recs[0].Step = "mutated"
	*recs[0].Output = "mutated"

	if got := get(t, s, id); !reflect.DeepEqual(got, want) {
		t.Errorf("a caller changed the stored row through a result:\n got  %+v\n want %+v", got, want)
	}
	if got := steps(t, s, id); !reflect.DeepEqual(got, wantSteps) {
		t.Errorf("a caller changed the stored steps through a result")
	}
}

// testConcurrent reads while one writer applies, as the gateway does with
// the projector; run it with -race.
func testConcurrent(t *testing.T, s readmodel.Store) {
	var st stream
	var evs []events.Event
	ids := make([]workorder.ID, 10)
	for i := range ids {
		ids[i] = workorder.ID(fmt.Sprintf("wo-%08x", 0x100+i))
		evs = append(evs, st.lifecycle(ids[i], "https://github.com/acme/demo")...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := s.List(ctx, readmodel.Filter{}); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				for _, id := range ids {
					if _, err := s.Get(ctx, id); err != nil && !errors.Is(err, readmodel.ErrNotFound) && ctx.Err() == nil {
						errs <- err
						return
					}
					if _, err := s.Steps(ctx, id); err != nil && !errors.Is(err, readmodel.ErrNotFound) && ctx.Err() == nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	apply(t, s, evs...)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent read: %v", err)
	}
	if got := list(t, s, readmodel.Filter{Status: workorder.StatusCompleted}); len(got) != len(ids) {
		t.Errorf("%d completed work orders, want %d", len(got), len(ids))
	}
}

// testRetry: a work order that failed, was retried and completed reads as
// completed without the old error, and its history shows both attempts of
// the step that failed.
func testRetry(t *testing.T, s readmodel.Store) {
	var st stream
	const id = workorder.ID("wo-0000000f")
	evs := []events.Event{
		st.requested(id, "https://github.com/acme/demo"),
		st.next(id, events.TypeStarted, &events.Started{SandboxIdentifier: id.SandboxIdentifier()}),
		st.stepResult(id, events.StepResult{Step: workorder.StepExecute, Attempt: 1, ErrorMessage: "tests are red"}),
		st.next(id, events.TypeFailed, &events.Failed{Step: workorder.StepExecute, ErrorMessage: "execute failed: tests are red"}),
	}
	apply(t, s, evs...)
	if got := get(t, s, id); got.Status != workorder.StatusFailed || got.ErrorMessage == nil {
		t.Fatalf("before the retry: %+v, want failed with a reason", got)
	}
	retry := st.next(id, events.TypeRetryRequested, &events.RetryRequested{Round: 1})
	apply(t, s, retry)
	if got := get(t, s, id); got.Status != workorder.StatusRunning || got.ErrorMessage != nil {
		t.Fatalf("after the retry: status %s, error %v; want running without the old error", got.Status, got.ErrorMessage)
	}
	rest := []events.Event{
		st.stepResult(id, events.StepResult{Step: workorder.StepExecute, Attempt: 2, Success: true, Output: "done"}),
		st.next(id, events.TypeCompleted, &events.Completed{}),
	}
	apply(t, s, rest...)
	all := append(append(evs, retry), rest...)
	wantWO, wantSteps := fold(t, all)
	if got := get(t, s, id); !reflect.DeepEqual(got, wantWO) {
		t.Errorf("after the retried run:\n got  %+v\n want %+v", got, wantWO)
	}
	gotSteps := steps(t, s, id)
	if !reflect.DeepEqual(gotSteps, wantSteps) {
		t.Errorf("steps:\n got  %+v\n want %+v", gotSteps, wantSteps)
	}
	var order []string
	for _, r := range gotSteps {
		order = append(order, fmt.Sprintf("%s#%d:%t", r.Step, r.Attempt, r.Success))
	}
	if want := []string{"execute#1:false", "execute#2:true"}; !reflect.DeepEqual(order, want) {
		t.Errorf("step history = %v, want %v", order, want)
	}
	if got := get(t, s, id); got.Status != workorder.StatusCompleted || got.ErrorMessage != nil {
		t.Errorf("final row: status %s, error %v; want completed without error", got.Status, got.ErrorMessage)
	}
}
