package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// The checkpoint half of fakeSandboxes: it records what was asked of it.
func (f *fakeSandboxes) SnapshotCapped(ctx context.Context, s sandbox.Spec, sb sandbox.Sandbox) (sandbox.Checkpoint, []sandbox.LeftOut, error) {
	if !f.unchanged || f.checkpoints == 0 {
		f.checkpoints++
	}
	return sandbox.Checkpoint{ID: fmt.Sprintf("cp-%d", f.checkpoints), Branch: f.branch, BaseBranch: "main"}, f.leftOut, f.checkpointErr
}
func (f *fakeSandboxes) Bundle(ctx context.Context, s sandbox.Spec, sb sandbox.Sandbox, cp sandbox.Checkpoint, bundle string) error {
	f.bundles++
	return os.WriteFile(bundle, []byte("bundle"), 0o644)
}
func (f *fakeSandboxes) Restore(ctx context.Context, s sandbox.Spec, cp sandbox.Checkpoint, bundle string) (sandbox.Sandbox, error) {
	b, err := os.ReadFile(bundle)
	if err != nil || string(b) != "bundle" {
		return sandbox.Sandbox{}, fmt.Errorf("restore got bundle %q, %v", b, err)
	}
	f.restored = append(f.restored, cp.ID)
	f.marker = cp.ID
	return sandbox.Sandbox{Dir: f.dir, BaseBranch: "main"}, f.restoreErr
}
func (f *fakeSandboxes) Marker(ctx context.Context, s sandbox.Spec) (string, error) {
	return f.marker, nil
}
func (f *fakeSandboxes) Mark(s sandbox.Spec, id string) error {
	f.marker = id
	return nil
}
func (f *fakeSandboxes) Marked(s sandbox.Spec, base string) (sandbox.Sandbox, error) {
	f.marked++
	return sandbox.Sandbox{Dir: f.dir, BaseBranch: base}, nil
}

// fakeStore is an in-memory Checkpoints.
type fakeStore struct {
	latest         *checkpoint.Saved
	putErr, getErr error
	puts           int
}

func (f *fakeStore) Latest(ctx context.Context, wo workorder.ID) (checkpoint.Saved, bool, error) {
	if f.getErr != nil {
		return checkpoint.Saved{}, false, f.getErr
	}
	if f.latest == nil {
		return checkpoint.Saved{}, false, nil
	}
	return *f.latest, true, nil
}
func (f *fakeStore) Get(ctx context.Context, wo workorder.ID, path string) (checkpoint.Saved, error) {
	if f.latest == nil {
		return checkpoint.Saved{}, errors.New("no checkpoint")
	}
	return *f.latest, os.WriteFile(path, []byte("bundle"), 0o644)
}
func (f *fakeStore) Put(ctx context.Context, wo workorder.ID, step workorder.Step, attempt int, cp sandbox.Checkpoint, path string) (checkpoint.Saved, error) {
	if f.putErr != nil {
		return checkpoint.Saved{}, f.putErr
	}
	f.puts++
	f.latest = &checkpoint.Saved{Checkpoint: cp, Step: step, Attempt: attempt}
	return *f.latest, nil
}

func newCheckpointingExecutor(t *testing.T, a AgentRunner, sb *fakeSandboxes, store *fakeStore) *executor {
	t.Helper()
	x := newTestExecutor(t, a, sb)
	x.cfg.TempDir = t.TempDir()
	x.checkpoints = store
	return x
}

func TestRestoreReason(t *testing.T) {
	cases := []struct {
		name           string
		delivered, att int
		marker, latest string
		restore        bool
		says           string
	}{
		{"same executor, at the latest checkpoint", 1, 1, "cp-2", "cp-2", false, ""},
		{"outside a consumer, at the latest checkpoint", 0, 1, "cp-2", "cp-2", false, ""},
		{"no sandbox here", 1, 1, "", "cp-2", true, "missing"},
		{"behind: another executor ran a step since", 1, 1, "cp-1", "cp-2", true, "cp-1"},
		{"redelivered", 2, 1, "cp-2", "cp-2", true, "delivered"},
		{"a later attempt", 1, 2, "cp-2", "cp-2", true, "attempt 2"},
		// The round's commit before stored no checkpoint (the plan's last
		// sandbox step) but left its mark: "changing".
		{"a follow-up round after the commit", 1, 1, "", "cp-2", true, "changed since"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := restoreReason(c.delivered, c.att, c.marker, c.latest)
			if (got != "") != c.restore || !strings.Contains(got, c.says) {
				t.Fatalf("restoreReason = %q; want restore %v saying %q", got, c.restore, c.says)
			}
		})
	}
}

// A work order's steps on one executor: the first step has nothing to
// restore, each success is checkpointed, and the next step finds the
// sandbox at the latest checkpoint and uses it as it is.
func TestRunStep_Checkpoints_SameExecutorUsesItsSandbox(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	store := &fakeStore{}
	markerWhileRunning := "unset"
	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "feat/greeting"}, do: func(string) { markerWhileRunning = sb.marker }}
	x := newCheckpointingExecutor(t, a, sb, store)

	ctx := worker.WithDelivered(t.Context(), 1)
	if res, err := x.runStep(ctx, cmd(workorder.StepCreateBranch), x.log); err != nil || !res.Success {
		t.Fatalf("create-branch: %+v, %v", res, err)
	}
	if store.puts != 1 || store.latest.ID != "cp-1" || store.latest.Step != workorder.StepCreateBranch || sb.marker != "cp-1" {
		t.Fatalf("after create-branch: %d puts, latest %+v, marker %q", store.puts, store.latest, sb.marker)
	}
	a.result.ResultText = "done"
	if res, err := x.runStep(ctx, cmd(workorder.StepExecute), x.log); err != nil || !res.Success {
		t.Fatalf("execute: %+v, %v", res, err)
	}
	if len(sb.restored) != 0 {
		t.Errorf("restored %v although the sandbox was at the latest checkpoint", sb.restored)
	}
	if sb.marked != 1 {
		t.Errorf("the sandbox at the latest checkpoint was taken on the marker's word %d times, want once (no repository lock, no git)", sb.marked)
	}
	if markerWhileRunning != "" {
		t.Errorf("marker while the agent ran = %q; want it cleared, the sandbox is changing", markerWhileRunning)
	}
	if store.puts != 2 || sb.marker != "cp-2" {
		t.Errorf("after execute: %d puts, marker %q", store.puts, sb.marker)
	}
}

// A step that leaves the sandbox as its latest checkpoint has it (a
// review that changed nothing) stores nothing: no bundle, no put; the
// sandbox stays marked at that checkpoint, so the next step uses it as it is.
func TestRunStep_Checkpoints_UnchangedSandboxIsNotStoredAgain(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	store := &fakeStore{}
	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}
	x := newCheckpointingExecutor(t, a, sb, store)
	ctx := worker.WithDelivered(t.Context(), 1)
	if res, err := x.runStep(ctx, cmd(workorder.StepExecute), x.log); err != nil || !res.Success {
		t.Fatalf("execute: %+v, %v", res, err)
	}
	sb.unchanged = true
	if res, err := x.runStep(ctx, cmd(workorder.StepReview), x.log); err != nil || !res.Success {
		t.Fatalf("prp-review: %+v, %v", res, err)
	}
	if store.puts != 1 || sb.bundles != 1 || store.latest.Step != workorder.StepExecute {
		t.Errorf("after an unchanged review: %d puts, %d bundles, latest saved after %s; want the execute checkpoint only", store.puts, sb.bundles, store.latest.Step)
	}
	if sb.marker != "cp-1" {
		t.Errorf("marker = %q; want cp-1, the checkpoint the sandbox is still at", sb.marker)
	}
	sb.unchanged = false
	if res, err := x.runStep(ctx, cmd(workorder.StepCommit), x.log); err != nil || !res.Success {
		t.Fatalf("commit: %+v, %v", res, err)
	}
	if len(sb.restored) != 0 || store.puts != 2 || store.latest.ID != "cp-2" {
		t.Errorf("after commit: restored %v, %d puts, latest %s; want no restore and cp-2 stored", sb.restored, store.puts, store.latest.ID)
	}
}

func TestRunStep_Checkpoints_RestoresWhenTheSandboxCannotBeTrusted(t *testing.T) {
	for _, c := range []struct {
		name      string
		delivered int
		attempt   int
		marker    string
	}{
		{"another executor ran the last step", 1, 1, ""},
		{"this executor is behind", 1, 1, "cp-old"},
		{"redelivered after a crash", 2, 1, "cp-7"},
		{"attempt 2", 1, 2, "cp-7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting", marker: c.marker}
			store := &fakeStore{latest: &checkpoint.Saved{Checkpoint: sandbox.Checkpoint{ID: "cp-7"}, Step: workorder.StepPlanning, Attempt: 1}}
			x := newCheckpointingExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}, sb, store)
			c2 := cmd(workorder.StepExecute)
			c2.Attempt = c.attempt
			res, err := x.runStep(worker.WithDelivered(t.Context(), c.delivered), c2, x.log)
			if err != nil || !res.Success {
				t.Fatalf("execute: %+v, %v", res, err)
			}
			if len(sb.restored) != 1 || sb.restored[0] != "cp-7" {
				t.Fatalf("restored %v, want [cp-7]", sb.restored)
			}
		})
	}
}

// A step whose sandbox cannot be stored is not done: it is handed back to
// run again (and reported failed once redeliveries run out), never
// reported successful.
func TestRunStep_Checkpoints_StoreFailureHandsTheStepBack(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	store := &fakeStore{putErr: errors.New("nats: timeout")}
	x := newCheckpointingExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}, sb, store)
	_, err := x.runStep(worker.WithDelivered(t.Context(), 1), cmd(workorder.StepExecute), x.log)
	if err == nil || !strings.Contains(err.Error(), "checkpointing the sandbox after execute") || !strings.Contains(err.Error(), "nats: timeout") {
		t.Fatalf("err = %v", err)
	}

	sb = &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	store = &fakeStore{getErr: errors.New("nats: no responders")}
	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}
	x = newCheckpointingExecutor(t, a, sb, store)
	if _, err := x.runStep(worker.WithDelivered(t.Context(), 1), cmd(workorder.StepExecute), x.log); err == nil || !strings.Contains(err.Error(), "no responders") {
		t.Fatalf("unreachable store before the step: err = %v", err)
	}
	if len(a.got) != 0 {
		t.Error("the agent ran without knowing which sandbox to run in")
	}
}

func TestRunStep_Checkpoints_BrokenCheckpointFailsTheStepWithTheReason(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting", restoreErr: errors.New("Repository lacks these prerequisite commits")}
	store := &fakeStore{latest: &checkpoint.Saved{Checkpoint: sandbox.Checkpoint{ID: "cp-7"}, Step: workorder.StepPlanning}}
	x := newCheckpointingExecutor(t, &fakeAgent{result: agent.Result{Success: true}}, sb, store)
	res, err := x.runStep(worker.WithDelivered(t.Context(), 1), cmd(workorder.StepExecute), x.log)
	if err != nil || res.Success || !strings.Contains(res.ErrorMessage, "restoring checkpoint cp-7 (saved after planning)") ||
		!strings.Contains(res.ErrorMessage, "prerequisite") {
		t.Fatalf("result %+v, err %v", res, err)
	}
}

func TestRunStep_Checkpoints_FailedStepIsNotCheckpointed(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	store := &fakeStore{}
	x := newCheckpointingExecutor(t, &fakeAgent{result: agent.Result{ErrorMessage: "API Error: 400"}}, sb, store)
	res, err := x.runStep(worker.WithDelivered(t.Context(), 1), cmd(workorder.StepExecute), x.log)
	if err != nil || res.Success {
		t.Fatalf("result %+v, err %v", res, err)
	}
	if store.puts != 0 || sb.checkpoints != 0 {
		t.Errorf("a failed step was checkpointed (%d puts)", store.puts)
	}
}

// After the plan's last step that runs in the sandbox (commit, before
// create-pr) nothing would restore a checkpoint, so none is stored; a
// command that does not name its plan keeps its checkpoint.
func TestRunStep_Checkpoints_NoneAfterTheLastSandboxStep(t *testing.T) {
	plan := []workorder.Step{workorder.StepCreateBranch, workorder.StepExecute, workorder.StepCommit, workorder.StepCreatePR}
	for _, c := range []struct {
		step  workorder.Step
		plan  []workorder.Step
		saved bool
	}{
		{workorder.StepExecute, plan, true},
		{workorder.StepCommit, plan, false},
		{workorder.StepCommit, []workorder.Step{workorder.StepCommit, workorder.StepExecute}, true}, // the client's order counts
		{workorder.StepCommit, nil, true},
	} {
		sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
		store := &fakeStore{}
		x := newCheckpointingExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}, sb, store)
		c2 := cmd(c.step)
		c2.Args.SelectedStep = c.plan
		if res, err := x.runStep(worker.WithDelivered(t.Context(), 1), c2, x.log); err != nil || !res.Success {
			t.Fatalf("%s: %+v, %v", c.step, res, err)
		}
		if saved := store.puts == 1; saved != c.saved {
			t.Errorf("%s of plan %v: %d checkpoints stored; want one: %t", c.step, c.plan, store.puts, c.saved)
		}
	}
}

// Only a redelivered commit step may replace what its earlier delivery
// pushed, from the commit of the checkpoint it started again from; a first
// run or a client's retry never does.
func TestRunStep_Commit_RedeliveryMayReplaceItsEarlierPush(t *testing.T) {
	for _, c := range []struct {
		name               string
		delivered, attempt int
		want               string
	}{
		{"first run", 1, 1, ""},
		{"redelivered", 2, 1, "head-of-cp"},
		{"a retry", 1, 2, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
			store := &fakeStore{latest: &checkpoint.Saved{Checkpoint: sandbox.Checkpoint{ID: "cp-7", Head: "head-of-cp", BaseBranch: "main"}, Step: workorder.StepExecute, Attempt: 1}}
			x := newCheckpointingExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}, sb, store)
			cm := cmd(workorder.StepCommit)
			cm.Attempt = c.attempt
			if res, err := x.runStep(worker.WithDelivered(t.Context(), c.delivered), cm, x.log); err != nil || !res.Success {
				t.Fatalf("commit: %+v, %v", res, err)
			}
			if len(sb.rerunFrom) != 1 || sb.rerunFrom[0] != c.want {
				t.Fatalf("pushes began at %q; want one with %q", sb.rerunFrom, c.want)
			}
		})
	}
}
