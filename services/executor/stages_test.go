package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// The stages of a step, each on its own against real git sandboxes of a
// local bare origin.

// bundleStore is a Checkpoints that keeps the latest bundle's bytes, so
// what the save stage stores is what the restore stage gets back.
type bundleStore struct {
	latest *checkpoint.Saved
	bundle []byte
	gets   int
	puts   int
}

func (s *bundleStore) Latest(ctx context.Context, wo workorder.ID) (checkpoint.Saved, bool, error) {
	if s.latest == nil {
		return checkpoint.Saved{}, false, nil
	}
	return *s.latest, true, nil
}
func (s *bundleStore) Get(ctx context.Context, wo workorder.ID, path string) (checkpoint.Saved, error) {
	s.gets++
	return *s.latest, os.WriteFile(path, s.bundle, 0o600)
}
func (s *bundleStore) Put(ctx context.Context, wo workorder.ID, step workorder.Step, attempt int, cp sandbox.Checkpoint, path string) (checkpoint.Saved, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return checkpoint.Saved{}, err
	}
	s.puts++
	s.latest, s.bundle = &checkpoint.Saved{Checkpoint: cp, Step: step, Attempt: attempt, Size: uint64(len(b))}, b
	return *s.latest, nil
}

// stageRig is a real sandbox manager over a local origin, a store and a
// scratch directory: what the stages are built from.
type stageRig struct {
	o       *gitfixture.Origin
	m       *sandbox.Manager
	store   *bundleStore
	spec    sandbox.Spec
	cmd     events.RunStep
	scratch scratchFunc
}

func newStageRig(t *testing.T) *stageRig {
	t.Helper()
	o := gitfixture.New(t)
	c := cmd(workorder.StepExecute)
	c.RepositoryURL = o.URL
	scratchDir := t.TempDir()
	n := 0
	return &stageRig{
		o: o, m: &sandbox.Manager{Root: t.TempDir(), Env: o.Env(), Logger: testLogger(t)},
		store: &bundleStore{}, cmd: c,
		spec: sandbox.Spec{WorkOrderID: c.WorkOrderID, RepositoryURL: c.RepositoryURL, Type: c.SandboxType, Identifier: c.SandboxIdentifier},
		scratch: func(wo workorder.ID) (string, func(), error) {
			n++
			p := filepath.Join(scratchDir, fmt.Sprintf("%s-%d.bundle", wo, n))
			return p, func() { _ = os.Remove(p) }, nil
		},
	}
}

func (r *stageRig) restore() restoreStage {
	return restoreStage{sandboxes: r.m, checkpoints: r.store, scratch: r.scratch}
}

func (r *stageRig) save() saveStage {
	return saveStage{sandboxes: r.m, checkpoints: r.store, scratch: r.scratch}
}

// The first step: no checkpoint yet, so the restore stage prepares a fresh
// sandbox on origin's default branch, and marks it as changing.
func TestRestoreStage_NoCheckpointPreparesTheSandbox(t *testing.T) {
	r := newStageRig(t)
	in, err := r.restore().run(t.Context(), r.cmd, r.spec, 1, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if in.sandbox.BaseBranch != "main" || in.latest.ID != "" {
		t.Fatalf("restored = %+v; want a fresh sandbox on main and no checkpoint", in)
	}
	if _, err := os.Stat(filepath.Join(in.sandbox.Dir, "README.md")); err != nil {
		t.Fatalf("the sandbox is not a checkout of origin: %v", err)
	}
	if marker, err := r.m.Marker(t.Context(), r.spec); err != nil || marker != "" {
		t.Fatalf("marker = %q, %v; want none while the step runs", marker, err)
	}
}

// What the save stage stores, the restore stage brings back where the
// sandbox is gone (another executor, or this one after a cancel), and
// hands on the checkpoint it found; where the sandbox is still at that
// checkpoint, it uses it as it is without fetching the bundle.
func TestSaveThenRestoreStage_CarryTheSandbox(t *testing.T) {
	r := newStageRig(t)
	ctx, log := t.Context(), testLogger(t)
	in, err := r.restore().run(ctx, r.cmd, r.spec, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's work: a branch and an uncommitted file.
	r.o.Git(t, in.sandbox.Dir, "checkout", "--quiet", "-b", "feat/greeting")
	if err := os.WriteFile(filepath.Join(in.sandbox.Dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.save().run(ctx, r.cmd, r.spec, in.sandbox, in.latest, log); err != nil {
		t.Fatal(err)
	}
	if r.store.puts != 1 || r.store.latest.Branch != "feat/greeting" {
		t.Fatalf("store after save: %d puts, latest %+v; want one checkpoint on feat/greeting", r.store.puts, r.store.latest)
	}
	saved := *r.store.latest

	// Still here and marked: used as it is.
	next, err := r.restore().run(ctx, r.cmd, r.spec, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if r.store.gets != 0 || next.latest.ID != saved.ID || next.sandbox.Dir != in.sandbox.Dir {
		t.Fatalf("marked sandbox: %d bundle fetches, latest %s, dir %s; want none, %s, %s", r.store.gets, next.latest.ID, next.sandbox.Dir, saved.ID, in.sandbox.Dir)
	}

	// Gone: restored from the bundle.
	if err := r.m.Remove(ctx, r.spec); err != nil {
		t.Fatal(err)
	}
	back, err := r.restore().run(ctx, r.cmd, r.spec, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if r.store.gets != 1 || back.latest.ID != saved.ID {
		t.Fatalf("after removal: %d bundle fetches, latest %s; want 1, %s", r.store.gets, back.latest.ID, saved.ID)
	}
	if b, err := os.ReadFile(filepath.Join(back.sandbox.Dir, "hello.txt")); err != nil || string(b) != "hello\n" {
		t.Fatalf("hello.txt after restore = %q, %v", b, err)
	}
	if branch := r.o.Git(t, back.sandbox.Dir, "rev-parse", "--abbrev-ref", "HEAD"); branch != "feat/greeting" {
		t.Fatalf("branch after restore = %q", branch)
	}
}

// A step that left the sandbox as the latest checkpoint has it stores no
// second copy, but marks the sandbox as being at it again.
func TestSaveStage_UnchangedSandboxIsNotStoredAgain(t *testing.T) {
	r := newStageRig(t)
	ctx, log := t.Context(), testLogger(t)
	in, err := r.restore().run(ctx, r.cmd, r.spec, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.save().run(ctx, r.cmd, r.spec, in.sandbox, in.latest, log); err != nil {
		t.Fatal(err)
	}
	in, err = r.restore().run(ctx, r.cmd, r.spec, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.save().run(ctx, r.cmd, r.spec, in.sandbox, in.latest, log); err != nil {
		t.Fatal(err)
	}
	if r.store.puts != 1 {
		t.Fatalf("%d checkpoints stored; want 1", r.store.puts)
	}
	if marker, err := r.m.Marker(ctx, r.spec); err != nil || marker != r.store.latest.ID {
		t.Fatalf("marker = %q, %v; want %s", marker, err, r.store.latest.ID)
	}
}

// With checkpoints off, neither stage goes near a store.
func TestStages_CheckpointsOff(t *testing.T) {
	r := newStageRig(t)
	ctx, log := t.Context(), testLogger(t)
	in, err := restoreStage{sandboxes: r.m}.run(ctx, r.cmd, r.spec, 2, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := (saveStage{sandboxes: r.m}).run(ctx, r.cmd, r.spec, in.sandbox, in.latest, log); err != nil {
		t.Fatal(err)
	}
	if marker, err := r.m.Marker(ctx, r.spec); err != nil || marker != "" {
		t.Fatalf("marker = %q, %v; want none", marker, err)
	}
}

// The outcome of a commit step: the branch's commits are counted and the
// branch is pushed to origin, even when the agent did not push it.
func TestOutcomeStage_CommitPushesTheBranch(t *testing.T) {
	r := newStageRig(t)
	ctx, log := t.Context(), testLogger(t)
	sb, err := r.m.Prepare(ctx, r.spec)
	if err != nil {
		t.Fatal(err)
	}
	r.o.Git(t, sb.Dir, "checkout", "--quiet", "-b", "feat/greeting")
	if err := os.WriteFile(filepath.Join(sb.Dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.o.Git(t, sb.Dir, "add", "hello.txt")
	r.o.Git(t, sb.Dir, "commit", "--quiet", "-m", "feat: greeting")

	c := r.cmd
	c.Step = workorder.StepCommit
	res := events.StepResult{Success: true}
	outcomeStage{sandboxes: r.m}.check(ctx, c, sb, "", &res, log)
	if !res.Success || res.BranchName != "feat/greeting" || res.CommitCount == nil || *res.CommitCount != 1 ||
		res.LatestCommitMessage != "feat: greeting" {
		t.Fatalf("result = %+v (commits %v); want success on feat/greeting with 1 commit", res, res.CommitCount)
	}
	if !r.o.HasBranch(t, "feat/greeting") {
		t.Fatal("feat/greeting was not pushed to origin")
	}
}

// A create-branch step that left the fresh sandbox where it was (detached
// at origin's default branch) broke its promise.
func TestOutcomeStage_CreateBranchNotOnABranchFails(t *testing.T) {
	r := newStageRig(t)
	ctx := t.Context()
	sb, err := r.m.Prepare(ctx, r.spec)
	if err != nil {
		t.Fatal(err)
	}
	c := r.cmd
	c.Step = workorder.StepCreateBranch
	res := events.StepResult{Success: true}
	outcomeStage{sandboxes: r.m}.check(ctx, c, sb, "", &res, testLogger(t))
	if res.Success || !strings.Contains(res.ErrorMessage, "not on a branch") || res.BranchName != "" {
		t.Fatalf("result = %+v; want a failure saying there is no branch", res)
	}
}

// The agent stage runs in the sandbox it is given, hands the GitHub token
// only to the steps that push or call GitHub, and returns the agent's
// answer as the step's result.
func TestRunAgent_GitHubTokenOnlyForStepsThatUseGitHub(t *testing.T) {
	for step, wantToken := range map[workorder.Step]bool{workorder.StepExecute: false, workorder.StepCommit: true} {
		t.Run(string(step), func(t *testing.T) {
			a := &fakeAgent{result: agent.Result{Success: true, ResultText: "done", SessionID: "s1", NumTurns: 2}}
			x := newTestExecutor(t, a, &fakeSandboxes{})
			x.cfg.GHToken = "ghp_test"
			c := cmd(step)
			sb := sandbox.Sandbox{Dir: t.TempDir(), BaseBranch: "main"}
			res, err := x.runAgent(t.Context(), c, sb, "the prompt", newLogBuilder(c, x.red), testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Success || res.Output != "done" || res.SessionID != "s1" || res.NumTurns != 2 {
				t.Fatalf("result = %+v", res)
			}
			req := a.got[0]
			if req.Dir != sb.Dir || req.Prompt != "the prompt" || req.GitHub != wantToken {
				t.Fatalf("request dir %q prompt %q github %v; want %q, the prompt, %v", req.Dir, req.Prompt, req.GitHub, sb.Dir, wantToken)
			}
			if got := slices.Contains(req.Env, "GH_TOKEN=ghp_test"); got != wantToken {
				t.Fatalf("GH_TOKEN passed = %v; want %v", got, wantToken)
			}
		})
	}
}
