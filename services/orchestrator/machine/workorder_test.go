package machine_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

var allSix = []workorder.Step{
	workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute,
	workorder.StepReview, workorder.StepCommit, workorder.StepCreatePR,
}

func TestWorkOrder_AllSixSteps_RunInOrderAndComplete(t *testing.T) {
	r := drive(t, answer, requested("", allSix...))

	if got := r.commandSteps(); !slices.Equal(got, allSix) {
		t.Fatalf("commands = %v, want %v", got, allSix)
	}
	if r.State.Status != workorder.StatusCompleted || r.State.Facts.PullRequestURL != "https://github.com/acme/demo/pull/7" {
		t.Fatalf("final state %s, PR %q", r.State, r.State.Facts.PullRequestURL)
	}
	last := r.Events[len(r.Events)-1]
	if c, ok := last.Data.(*events.Completed); last.Type != events.TypeCompleted || !ok || c.PullRequestURL != "https://github.com/acme/demo/pull/7" {
		t.Fatalf("last event %s %+v, want workorder.completed with the PR URL", last.Type, last.Data)
	}
	if n := r.count(events.TypeStepDispatched); n != len(allSix) {
		t.Errorf("%d dispatches for %d steps", n, len(allSix))
	}
	if n := r.count(events.TypeStarted); n != 1 {
		t.Errorf("workorder.started appended %d times", n)
	}
}

func TestWorkOrder_Commands_CarryWhatEarlierStepsEstablished(t *testing.T) {
	r := drive(t, answer, requested("", allSix...))

	for _, c := range r.Commands {
		if c.WorkOrderID != wo || c.RepositoryURL != "https://github.com/acme/demo" || c.SandboxType != workorder.SandboxWorktree ||
			c.SandboxIdentifier != "sandbox-"+string(wo) || c.Attempt != 1 || c.Args.UserRequest != "Fix authentication bug" ||
			!slices.Equal(c.Args.SelectedStep, allSix) {
			t.Errorf("%s command lacks the request: %+v", c.Step, c)
		}
	}
	if a := r.command(t, workorder.StepCreateBranch).Args; a.BranchName != "" || a.PlanFile != "" || a.StepOutputs != nil {
		t.Errorf("create-branch got facts no step has established yet: %+v", a)
	}
	for _, step := range []workorder.Step{workorder.StepExecute, workorder.StepReview, workorder.StepCommit, workorder.StepCreatePR} {
		a := r.command(t, step).Args
		if a.BranchName != "feat/fix-auth" || a.BaseBranch != "main" || a.PlanFile != "PRPs/fix-auth.md" {
			t.Errorf("%s args = %+v, want the branch from create-branch and the plan file from planning", step, a)
		}
	}
	pr := r.command(t, workorder.StepCreatePR).Args.StepOutputs
	want := map[workorder.Step]string{
		workorder.StepCreateBranch: "feat/fix-auth", workorder.StepPlanning: "PRPs/fix-auth.md",
		workorder.StepExecute: "execute done", workorder.StepReview: "prp-review done", workorder.StepCommit: "commit done",
	}
	if !reflect.DeepEqual(pr, want) {
		t.Errorf("create-pr step outputs = %v, want %v", pr, want)
	}
	// The template the commit step read from the checkout reaches create-pr.
	for _, c := range r.Commands {
		if want := map[bool]string{true: prTemplate}[c.Step == workorder.StepCreatePR]; c.Args.PRTemplate != want {
			t.Errorf("%s args carry PR template %q, want %q", c.Step, c.Args.PRTemplate, want)
		}
	}
	if got := r.command(t, workorder.StepExecute).Args.StepOutputs; len(got) != 2 {
		t.Errorf("execute sees outputs %v, want only those of the two steps before it", got)
	}
	// Each command names its dispatch's sequence, which its worker's
	// step.started is appended guarded by.
	for _, e := range r.Events {
		if d, ok := e.Data.(*events.StepDispatched); ok {
			if c := r.command(t, d.Step); c.DispatchSeq != e.Seq || e.Seq == 0 {
				t.Errorf("%s command's DispatchSeq = %d; its dispatch is at seq %d", d.Step, c.DispatchSeq, e.Seq)
			}
		}
	}
}

func TestWorkOrder_ExecuteFails_StopsBeforeCommit(t *testing.T) {
	w := func(cmd events.RunStep) events.Event {
		if cmd.Step == workorder.StepExecute {
			return stepFailed(cmd.Step, cmd.Attempt, "tests do not compile")
		}
		return answer(cmd)
	}
	r := drive(t, w, requested("", workorder.DefaultSteps...))

	want := []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute}
	if got := r.commandSteps(); !slices.Equal(got, want) {
		t.Fatalf("commands = %v, want %v: nothing after the failed step", got, want)
	}
	if r.State.Status != workorder.StatusFailed || r.State.FailedStep != workorder.StepExecute ||
		r.State.Error != "execute failed: tests do not compile" {
		t.Fatalf("final state %s, failed step %q, error %q", r.State, r.State.FailedStep, r.State.Error)
	}
	if n := r.count(events.TypeCompleted); n != 0 {
		t.Errorf("a failed work order also completed (%d)", n)
	}
}

func TestWorkOrder_StepFailsWithoutReason_SaysSo(t *testing.T) {
	w := func(cmd events.RunStep) events.Event { return stepFailed(cmd.Step, cmd.Attempt, "") }
	r := drive(t, w, requested("", workorder.StepCreateBranch))
	if r.State.Error != "create-branch failed: no reason given" {
		t.Fatalf("error = %q", r.State.Error)
	}
}

func TestWorkOrder_IssueNumber_FetchesIssueBeforePlanning(t *testing.T) {
	r := drive(t, answer, requested("42", workorder.DefaultSteps...))

	want := []workorder.Step{workorder.StepCreateBranch, workorder.StepFetchIssue, workorder.StepPlanning,
		workorder.StepExecute, workorder.StepCommit, workorder.StepCreatePR}
	if got := r.commandSteps(); !slices.Equal(got, want) {
		t.Fatalf("commands = %v, want %v", got, want)
	}
	if a := r.command(t, workorder.StepFetchIssue).Args; a.IssueNumber != "42" {
		t.Errorf("fetch-issue args = %+v", a)
	}
	plan := r.command(t, workorder.StepPlanning).Args
	if plan.Issue == nil || plan.Issue.Title != "Login fails" || plan.IssueNumber != "42" {
		t.Errorf("planning did not get the fetched issue: %+v", plan)
	}
	if _, ok := r.command(t, workorder.StepCreatePR).Args.StepOutputs[workorder.StepFetchIssue]; ok {
		t.Error("the internal fetch-issue step leaked into the PR body's step outputs")
	}
	if !slices.Equal(r.command(t, workorder.StepPlanning).Args.SelectedStep, workorder.DefaultSteps) {
		t.Error("selected steps should be what the client chose, without internal steps")
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name     string
		selected []workorder.Step
		issue    string
		want     []workorder.Step
		wantErr  string
	}{
		{"keeps the client's order", []workorder.Step{"planning", "create-branch"}, "", []workorder.Step{"planning", "create-branch"}, ""},
		{"issue inserts fetch-issue before planning", []workorder.Step{"create-branch", "planning"}, "7", []workorder.Step{"create-branch", "fetch-issue", "planning"}, ""},
		{"issue without planning fetches nothing", []workorder.Step{"create-branch", "execute"}, "7", []workorder.Step{"create-branch", "execute"}, ""},
		{"blank issue is no issue", []workorder.Step{"planning"}, "  ", []workorder.Step{"planning"}, ""},
		{"nothing selected", nil, "", nil, "no commands selected"},
		{"unknown step", []workorder.Step{"deploy"}, "", nil, `command "deploy" must be one of`},
		{"internal step cannot be selected", []workorder.Step{"fetch-issue"}, "", nil, `command "fetch-issue"`},
		{"duplicate step", []workorder.Step{"execute", "execute"}, "", nil, `"execute" is selected twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := machine.Plan(tt.selected, tt.issue)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Plan = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestWorkOrder_InvalidRequest_FailsVisiblyWithoutRunningAnything(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*events.Requested)
		wantErr string
	}{
		{"unknown step", func(r *events.Requested) { r.SelectedCommands = []workorder.Step{"deploy"} }, `invalid work order: command "deploy"`},
		{"no steps", func(r *events.Requested) { r.SelectedCommands = nil }, "invalid work order: no commands selected"},
		{"no repository", func(r *events.Requested) { r.RepositoryURL = " " }, "invalid work order: repository_url is empty"},
		{"bad sandbox", func(r *events.Requested) { r.SandboxType = "docker" }, `invalid work order: sandbox_type "docker"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := requested("", workorder.DefaultSteps...)
			tt.mutate(req.Data.(*events.Requested))
			r := drive(t, answer, req)
			if len(r.Commands) != 0 {
				t.Fatalf("ran %v for an invalid request", r.commandSteps())
			}
			if r.State.Status != workorder.StatusFailed || !strings.HasPrefix(r.State.Error, tt.wantErr) {
				t.Fatalf("state %s, error %q; want failed with %q", r.State, r.State.Error, tt.wantErr)
			}
		})
	}
}

func TestWorkOrder_EmptySandboxType_DefaultsToWorktree(t *testing.T) {
	req := requested("", workorder.StepCreateBranch)
	req.Data.(*events.Requested).SandboxType = ""
	r := drive(t, answer, req)
	if got := r.Commands[0].SandboxType; got != workorder.SandboxWorktree {
		t.Fatalf("sandbox type = %q", got)
	}
}

func TestWorkOrder_CancelWhileStepRuns_CancelsAndDispatchesNothingMore(t *testing.T) {
	s := fold(t, requested("", workorder.DefaultSteps...), started(workorder.DefaultSteps...),
		dispatched(workorder.StepCreateBranch, 1), stepStarted(workorder.StepCreateBranch, 1))

	s, dec, err := machine.Transition(s, cancelRequested(), env)
	if err != nil || summary(dec) != "workorder.cancelled" {
		t.Fatalf("cancel_requested: %s, %v", summary(dec), err)
	}
	// The worker finishes the step before the cancellation is stored: the
	// orchestrator still owes the cancellation, not the next step.
	s, dec, err = machine.Transition(s, answer(events.RunStep{Step: workorder.StepCreateBranch, Attempt: 1}), env)
	if err != nil || summary(dec) != "workorder.cancelled" {
		t.Fatalf("step.completed after cancel_requested: %s, %v", summary(dec), err)
	}
	s, dec, err = machine.Transition(s, cancelled(), env)
	if err != nil || !dec.Empty() || s.Status != workorder.StatusCancelled || s.CancelReason != "client asked" {
		t.Fatalf("cancelled: %s, %v, state %s", summary(dec), err, s)
	}
}

func TestWorkOrder_StaleAndMisdirectedReports_AreRejectedWithoutEffect(t *testing.T) {
	s := fold(t, requested("", workorder.DefaultSteps...), started(workorder.DefaultSteps...),
		dispatched(workorder.StepCreateBranch, 1), stepCompleted(workorder.StepCreateBranch, 1, events.StepResult{BranchName: "b"}),
		dispatched(workorder.StepPlanning, 1))

	tests := []struct {
		name string
		e    events.Event
	}{
		{"late report of an earlier step", stepCompleted(workorder.StepCreateBranch, 1, events.StepResult{BranchName: "other"})},
		{"report for another attempt", stepCompleted(workorder.StepPlanning, 2, events.StepResult{})},
		{"step missing from the plan", stepCompleted(workorder.StepReview, 1, events.StepResult{})},
		{"step that is not a step at all", stepFailed("deploy", 1, "x")},
		{"dispatch skipping ahead", dispatched(workorder.StepCommit, 1)},
		{"dispatch of an attempt never made", dispatched(workorder.StepExecute, 2)},
		{"second request", requested("", workorder.StepExecute)},
		{"event about another work order", func() events.Event {
			e := stepStarted(workorder.StepPlanning, 1)
			e.WorkOrderID = "wo-00000000"
			return e
		}()},
		{"nil data", events.Event{Type: events.TypeStepCompleted, WorkOrderID: wo}},
		{"data of the wrong type", events.Event{Type: events.TypeStepCompleted, WorkOrderID: wo, Data: &events.Cancelled{}}},
		{"typed nil data", events.Event{Type: events.TypeStepCompleted, WorkOrderID: wo, Data: (*events.StepResult)(nil)}},
		{"command instead of an event", events.Event{Type: events.TypeRunStep, WorkOrderID: wo, Data: &events.RunStep{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			e.Seq = s.LastSeq + 1
			next, dec, err := machine.Transition(s, e, env)
			if !errors.Is(err, machine.ErrInvalidTransition) {
				t.Fatalf("err = %v, want ErrInvalidTransition", err)
			}
			if !strings.Contains(err.Error(), "in state running (planning dispatched, attempt 1)") {
				t.Errorf("error %q does not name the source state", err)
			}
			if !dec.Empty() || !reflect.DeepEqual(next, s) {
				t.Fatalf("rejected event changed something: decision %s", summary(dec))
			}
		})
	}
}

func TestWorkOrder_StepCompletedWithoutStarted_StillMovesOn(t *testing.T) {
	// step.started is informative: a worker whose start report was lost (or
	// that crashed before sending it) still finishes the step.
	s := fold(t, requested("", workorder.StepCreateBranch, workorder.StepPlanning), started(workorder.StepCreateBranch, workorder.StepPlanning),
		dispatched(workorder.StepCreateBranch, 1))
	_, dec, err := machine.Transition(s, stepCompleted(workorder.StepCreateBranch, 1, events.StepResult{}), env)
	if err != nil || summary(dec) != "step.dispatched(planning#1)" {
		t.Fatalf("%s, %v", summary(dec), err)
	}
}

func TestTransition_DoesNotModifyItsInput(t *testing.T) {
	s := fold(t, requested("42", allSix...), started(allSix...), dispatched(workorder.StepCreateBranch, 1))
	before := deepCopy(t, s)
	_, _, err := machine.Transition(s, stepCompleted(workorder.StepCreateBranch, 1, events.StepResult{BranchName: "b", Issue: &events.Issue{Title: "x"}}), env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, before) {
		t.Fatalf("Transition modified the state it was given:\n got %+v\nwant %+v", s, before)
	}
}

func deepCopy(t *testing.T, s machine.State) machine.State {
	t.Helper()
	c := s
	c.Steps = slices.Clone(s.Steps)
	c.Request.Selected = slices.Clone(s.Request.Selected)
	if s.Facts.Issue != nil {
		i := *s.Facts.Issue
		c.Facts.Issue = &i
	}
	return c
}

func TestTransition_DecidedEventsHaveDeterministicIDsAndTheGivenEnv(t *testing.T) {
	r := drive(t, answer, requested("", workorder.StepCreateBranch, workorder.StepPlanning))
	var ids []string
	for _, e := range r.Events {
		if e.Source != env.Source {
			continue // the test's stand-ins for the gateway and workers
		}
		ids = append(ids, e.ID)
		if !e.Time.Equal(env.Now) || e.WorkOrderID != wo {
			t.Errorf("%s: time %v, work order %q", e.ID, e.Time, e.WorkOrderID)
		}
	}
	want := []string{
		"wo-1a2b3c4d.started",
		"wo-1a2b3c4d.create-branch.1.dispatched",
		"wo-1a2b3c4d.planning.1.dispatched",
		"wo-1a2b3c4d.completed",
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("decided ids = %v, want %v", ids, want)
	}
	if got := r.Commands[1].ID(); got != "wo-1a2b3c4d.planning.1" {
		t.Errorf("command id = %q", got)
	}
}

func TestTransition_TraceParentOfTheRequestIsCarriedOn(t *testing.T) {
	req := requested("", workorder.StepCreateBranch)
	req.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	r := drive(t, answer, req)
	for _, e := range r.Events {
		if e.Source == env.Source && e.TraceParent != req.TraceParent {
			t.Errorf("%s lost the trace parent", e.ID)
		}
	}
}

func TestReplay_RebuildsTheStateAndOwesWhatTheLiveMachineOwed(t *testing.T) {
	r := drive(t, answer, requested("", allSix...))
	// Cut the history right after each event and check that a replayed
	// state equals the live one and owes the same.
	var live machine.State
	for i, e := range r.Events {
		live, _, _ = machine.Transition(live, e, env)
		replayed := machine.Replay(machine.State{}, r.Events[:i+1]...)
		if !reflect.DeepEqual(replayed, live) {
			t.Fatalf("after %d events: replayed %s != live %s", i+1, replayed, live)
		}
		if a, b := summary(machine.Pending(replayed, env)), summary(machine.Pending(live, env)); a != b {
			t.Fatalf("after %d events: replayed owes %s, live owes %s", i+1, a, b)
		}
	}
}

func TestReplay_SkipsIllegalEventsButMovesLastSeqPastThem(t *testing.T) {
	evs := []events.Event{requested("", workorder.StepCreateBranch), started(workorder.StepCreateBranch), stepStarted(workorder.StepExecute, 1)}
	for i := range evs {
		evs[i].Seq = uint64(10 * (i + 1))
	}
	s := machine.Replay(machine.State{}, evs...)
	if s.Status != workorder.StatusRunning || s.LastSeq != 30 {
		t.Fatalf("state %s at seq %d; want running at 30", s, s.LastSeq)
	}
}

func TestAbort(t *testing.T) {
	running := fold(t, requested("", workorder.StepCreateBranch), started(workorder.StepCreateBranch), dispatched(workorder.StepCreateBranch, 1))
	dec := machine.Abort(running, "orchestrator gave up", env)
	if len(dec.Events) != 1 {
		t.Fatalf("Abort of a running work order = %s", summary(dec))
	}
	f, _ := dec.Events[0].Data.(*events.Failed)
	if dec.Events[0].ID != "wo-1a2b3c4d.failed" || f == nil || f.Step != workorder.StepCreateBranch || f.ErrorMessage != "orchestrator gave up" {
		t.Fatalf("Abort = %+v %+v", dec.Events[0], f)
	}
	for _, s := range []machine.State{{}, fold(t, requested("", workorder.StepCreateBranch), failed())} {
		if d := machine.Abort(s, "x", env); !d.Empty() {
			t.Errorf("Abort of a %s work order = %s, want nothing", s, summary(d))
		}
	}
}
