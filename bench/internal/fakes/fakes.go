// Package fakes stands in for the outside world of a benchmark run: an
// agent that finishes at once, sandboxes without git, and a gh that opens
// pull requests without GitHub. Each does exactly what the services check
// after a step, so every work order completes.
package fakes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/sandbox"
	"github.com/agentworkorders/awo/services/github/gh"
)

// PlanFile is where the fake agents leave the plan, relative to the sandbox.
const PlanFile = "PRPs/features/plan.md"

// InstantAgent answers every step with success at once. For planning it
// names PlanFile, which the sandbox must hold: the executor checks that the
// plan exists.
type InstantAgent struct{}

// Run returns a successful result without starting anything.
func (InstantAgent) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	if err := ctx.Err(); err != nil {
		return agent.Result{}, err
	}
	step, err := stepOf(req.Prompt)
	if err != nil {
		return agent.Result{}, err
	}
	if step == workorder.StepPlanning {
		return success(PlanFile), nil
	}
	return success("done"), nil
}

func success(text string) agent.Result {
	return agent.Result{Success: true, SessionID: "bench-session", ResultText: text, NumTurns: 1}
}

// FlatSandboxes hands every work order the same directory, already on a
// feature branch, without running git: the pipeline's own cost with none
// of git's. Its checkpoints are as if every step changed the sandbox, so
// each one is stored: the checkpoint store's round trips are counted, git's
// work is not.
type FlatSandboxes struct {
	Dir string

	mu        sync.Mutex
	snapshots map[workorder.ID]int    // snapshots taken per work order
	markers   map[workorder.ID]string // the checkpoint each is marked at
}

// NewFlatSandboxes prepares dir with the plan file planning must leave.
func NewFlatSandboxes(dir string) (*FlatSandboxes, error) {
	p := filepath.Join(dir, PlanFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("creating the fake sandbox: %w", err)
	}
	if err := os.WriteFile(p, []byte("# Plan\n"), 0o644); err != nil {
		return nil, fmt.Errorf("creating the fake sandbox: %w", err)
	}
	return &FlatSandboxes{Dir: dir, snapshots: map[workorder.ID]int{}, markers: map[workorder.ID]string{}}, nil
}

// Prepare returns the shared directory.
func (f *FlatSandboxes) Prepare(context.Context, sandbox.Spec) (sandbox.Sandbox, error) {
	return sandbox.Sandbox{Dir: f.Dir, BaseBranch: "main"}, nil
}

// Progress reports one commit touching one file.
func (f *FlatSandboxes) Progress(context.Context, sandbox.Sandbox) (sandbox.Progress, error) {
	return sandbox.Progress{Branch: "feat/bench", CommitCount: 1, FilesChanged: 1, LatestCommitMessage: "feat: bench"}, nil
}

// CurrentBranch is always the feature branch.
func (f *FlatSandboxes) CurrentBranch(context.Context, string) (string, error) {
	return "feat/bench", nil
}

// Push succeeds without a remote.
func (f *FlatSandboxes) Push(context.Context, sandbox.Sandbox, string, string) error { return nil }

// CatchUp finds nothing newer on a remote it does not have.
func (f *FlatSandboxes) CatchUp(context.Context, sandbox.Sandbox, string) (bool, error) {
	return false, nil
}

// Diff is empty: the bench's branches change nothing.
func (f *FlatSandboxes) Diff(context.Context, sandbox.Sandbox) (string, error) { return "", nil }

// Snapshot names a new checkpoint of the work order: every step changed it.
func (f *FlatSandboxes) Snapshot(_ context.Context, s sandbox.Spec, _ sandbox.Sandbox) (sandbox.Checkpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots[s.WorkOrderID]++
	id := fmt.Sprintf("%s-%d", s.WorkOrderID, f.snapshots[s.WorkOrderID])
	return sandbox.Checkpoint{ID: id, Branch: "feat/bench", BaseBranch: "main"}, nil
}

// SnapshotCapped is Snapshot; a flat sandbox never has output to leave out.
func (f *FlatSandboxes) SnapshotCapped(ctx context.Context, s sandbox.Spec, sb sandbox.Sandbox) (sandbox.Checkpoint, []sandbox.LeftOut, error) {
	cp, err := f.Snapshot(ctx, s, sb)
	return cp, nil, err
}

// Bundle writes a token bundle.
func (f *FlatSandboxes) Bundle(_ context.Context, _ sandbox.Spec, _ sandbox.Sandbox, cp sandbox.Checkpoint, bundle string) error {
	return os.WriteFile(bundle, []byte(cp.ID), 0o644)
}

// Restore returns the shared directory, marked at cp.
func (f *FlatSandboxes) Restore(ctx context.Context, s sandbox.Spec, cp sandbox.Checkpoint, _ string) (sandbox.Sandbox, error) {
	if err := f.Mark(s, cp.ID); err != nil {
		return sandbox.Sandbox{}, err
	}
	return f.Prepare(ctx, s)
}

// Marker is the checkpoint the work order was last marked at, so nothing
// is restored unless a command is redelivered.
func (f *FlatSandboxes) Marker(_ context.Context, s sandbox.Spec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.markers[s.WorkOrderID], nil
}

// Mark records the work order's checkpoint.
func (f *FlatSandboxes) Mark(s sandbox.Spec, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.markers[s.WorkOrderID] = id
	return nil
}

// Marked returns the shared directory.
func (f *FlatSandboxes) Marked(_ sandbox.Spec, base string) (sandbox.Sandbox, error) {
	return sandbox.Sandbox{Dir: f.Dir, BaseBranch: base}, nil
}

// Remove keeps the shared directory: every work order uses it.
func (f *FlatSandboxes) Remove(context.Context, sandbox.Spec) error { return nil }

// Use holds nothing: no housekeeper removes the shared directory.
func (f *FlatSandboxes) Use(context.Context, sandbox.Spec) (func(), error) { return func() {}, nil }

// List finds no sandbox for housekeeping to judge.
func (f *FlatSandboxes) List(context.Context) ([]sandbox.Entry, error) { return nil, nil }

// RemoveIf keeps the shared directory.
func (f *FlatSandboxes) RemoveIf(context.Context, sandbox.Entry, func(context.Context) (bool, error)) (bool, error) {
	return false, nil
}

// GitAgent does the least a real agent must do in a real git sandbox for
// the executor's checks to pass: create-branch switches to a new branch,
// planning writes the plan, execute changes a file, commit commits it (the
// executor pushes). It runs git as the CLI's tools would, with Env added.
type GitAgent struct {
	Env []string // e.g. GIT_CONFIG_GLOBAL with a commit identity
}

// Run performs the step's git work in req.Dir.
func (a GitAgent) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	step, err := stepOf(req.Prompt)
	if err != nil {
		return agent.Result{}, err
	}
	fail := func(err error) (agent.Result, error) {
		return agent.Result{ErrorMessage: err.Error(), ExitCode: 1}, nil
	}
	switch step {
	case workorder.StepCreateBranch:
		if err := a.git(ctx, req.Dir, "switch", "--quiet", "-c", "feat/"+filepath.Base(req.Dir)); err != nil {
			return fail(err)
		}
	case workorder.StepPlanning:
		if err := write(req.Dir, PlanFile, "# Plan\n\nChange one file.\n"); err != nil {
			return fail(err)
		}
		return success(PlanFile), nil
	case workorder.StepExecute:
		if err := write(req.Dir, "CHANGES.md", "Changed by "+filepath.Base(req.Dir)+"\n"); err != nil {
			return fail(err)
		}
	case workorder.StepCommit:
		if err := a.git(ctx, req.Dir, "add", "--all"); err != nil {
			return fail(err)
		}
		if err := a.git(ctx, req.Dir, "commit", "--quiet", "-m", "feat: benchmark change"); err != nil {
			return fail(err)
		}
	}
	return success("done"), nil
}

func (a GitAgent) git(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), a.Env...), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v in %s: %w: %s", args, dir, err, out)
	}
	return nil
}

func write(dir, name, content string) error {
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

// stepTitles tell the steps' prompts apart: each embedded prompt opens
// with its own heading.
var stepTitles = map[string]workorder.Step{
	"# Create a working branch":   workorder.StepCreateBranch,
	"# Plan the change":           workorder.StepPlanning,
	"# Implement the plan":        workorder.StepExecute,
	"# Review the implementation": workorder.StepReview,
	"# Commit and push":           workorder.StepCommit,
}

// stepOf recognises the step a prompt was rendered for by its heading.
func stepOf(prompt string) (workorder.Step, error) {
	first, _, _ := strings.Cut(prompt, "\n")
	if step, ok := stepTitles[strings.TrimSpace(first)]; ok {
		return step, nil
	}
	return "", fmt.Errorf("fake agent: no step opens its prompt with %q", first)
}

// InstantGH opens numbered pull requests at once.
type InstantGH struct {
	prs atomic.Int64
}

// CreatePR returns the next pull request URL of repo.
func (g *InstantGH) CreatePR(_ context.Context, repo, _, _, _, _ string) (string, error) {
	return fmt.Sprintf("https://github.com/%s/pull/%d", repo, g.prs.Add(1)), nil
}

// ViewIssue returns an issue titled after its number.
func (g *InstantGH) ViewIssue(_ context.Context, _ string, number int) (events.Issue, error) {
	return events.Issue{Number: number, Title: fmt.Sprintf("Issue %d", number)}, nil
}

// CommentPR accepts every comment.
func (g *InstantGH) CommentPR(_ context.Context, url, _ string) (string, error) {
	return url + "#issuecomment-1", nil
}

// PRComments says no comment was posted yet.
func (g *InstantGH) PRComments(context.Context, string) ([]gh.Comment, error) {
	return nil, nil
}

// ViewRepo says the default branch is main.
func (g *InstantGH) ViewRepo(_ context.Context, repo string) (gh.RepoInfo, error) {
	return gh.RepoInfo{Name: repo, DefaultBranch: "main"}, nil
}
