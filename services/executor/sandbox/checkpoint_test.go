package sandbox_test

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// sandboxState is everything a step could see of a sandbox.
type sandboxState struct {
	Head, Branch string
	Status       string            // porcelain status, untracked files listed one by one
	Staged       string            // git diff --cached
	Unstaged     string            // git diff
	Files        map[string]string // every file outside .git, ignored ones included
}

func stateOf(t *testing.T, o *gitfixture.Origin, dir string) sandboxState {
	t.Helper()
	st := sandboxState{
		Head:     o.Git(t, dir, "rev-parse", "HEAD"),
		Status:   o.Git(t, dir, "status", "--porcelain=v1", "--untracked-files=all"),
		Staged:   o.Git(t, dir, "diff", "--cached"),
		Unstaged: o.Git(t, dir, "diff"),
		Files:    map[string]string{},
	}
	st.Branch = o.Git(t, dir, "rev-parse", "--abbrev-ref", "HEAD")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // a worktree's .git file
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		st.Files[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// workInProgress leaves a sandbox the way an agent step might: on a new
// branch with a commit, a staged file, staged and then further edited
// files, an unstaged edit, a deleted file, untracked files and an ignored
// one.
func workInProgress(t *testing.T, o *gitfixture.Origin, dir string) {
	t.Helper()
	o.Git(t, dir, "checkout", "--quiet", "-b", "feat/greeting")
	writeFile(t, dir, ".gitignore", "*.log\n")
	writeFile(t, dir, "committed.txt", "committed\n")
	writeFile(t, dir, "doomed.txt", "to be deleted\n")
	commitAll(t, o, dir, "feat: first part")

	writeFile(t, dir, "staged.txt", "staged\n")
	writeFile(t, dir, "both.txt", "staged version\n")
	o.Git(t, dir, "add", "staged.txt", "both.txt")
	writeFile(t, dir, "both.txt", "working version\n")
	writeFile(t, dir, "README.md", "# demo\n\nEdited, not staged.\n")
	if err := os.Remove(filepath.Join(dir, "doomed.txt")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "PRPs/features/plan.md", "# Plan\n")
	writeFile(t, dir, "untracked dir/with space.txt", "untracked\n")
	writeFile(t, dir, "debug.log", "ignored\n")
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpoint_RestoredByAnotherExecutor_IsTheSameSandbox(t *testing.T) {
	for _, c := range []struct {
		typ workorder.SandboxType
		// unstaged: the work staged is committed, so the index is HEAD's
		// (its checkpoint has no commit of the index of its own).
		unstaged bool
	}{{workorder.SandboxWorktree, false}, {workorder.SandboxBranch, false}, {workorder.SandboxWorktree, true}} {
		typ := c.typ
		t.Run(fmt.Sprintf("%s, unstaged only %t", typ, c.unstaged), func(t *testing.T) {
			o := gitfixture.New(t)
			spec := worktreeSpec("wo-0000c001")
			spec.Type = typ
			first := newManager(t, o)
			sb := prepare(t, first, spec)
			workInProgress(t, o, sb.Dir)
			if c.unstaged {
				o.Git(t, sb.Dir, "commit", "--quiet", "-m", "feat: what was staged")
			}
			before := stateOf(t, o, sb.Dir)

			bundle := filepath.Join(t.TempDir(), "cp.bundle")
			cp, err := checkpointTo(t.Context(), first, spec, sb, bundle)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Branch != "feat/greeting" || cp.Head != before.Head || cp.BaseBranch != "main" || cp.ID == "" || cp.Index == "" ||
				(cp.Index == cp.Head) != c.unstaged {
				t.Fatalf("checkpoint %+v", cp)
			}
			if after := stateOf(t, o, sb.Dir); !equalState(t, before, after) {
				t.Fatal("checkpointing changed the sandbox")
			}

			// Another executor: its own root, nothing shared but origin.
			second := newManager(t, o)
			restored, err := second.Restore(t.Context(), spec, cp, bundle)
			if err != nil {
				t.Fatal(err)
			}
			if restored.Dir == sb.Dir || restored.BaseBranch != "main" {
				t.Fatalf("restored %+v (original %+v)", restored, sb)
			}
			want := before
			want.Files = maps.Clone(before.Files)
			delete(want.Files, "debug.log") // ignored files are not kept
			if got := stateOf(t, o, restored.Dir); !equalState(t, want, got) {
				t.Fatal("restored sandbox differs")
			}
			if fi, err := os.Stat(filepath.Join(restored.Dir, "run.sh")); err != nil || fi.Mode()&0o100 == 0 {
				t.Errorf("run.sh lost its executable bit: %v %v", fi.Mode(), err)
			}
			if id, err := second.Marker(t.Context(), spec); err != nil || id != cp.ID {
				t.Errorf("Marker after restore = %q, %v; want %s", id, err, cp.ID)
			}
			// A later Prepare keeps the restored sandbox as it is.
			if again := prepare(t, second, spec); again != restored {
				t.Errorf("Prepare after restore = %+v, want %+v", again, restored)
			}
		})
	}
}

func TestRestore_DiscardsWhatAnInterruptedAttemptLeft(t *testing.T) {
	o := gitfixture.New(t)
	spec := worktreeSpec("wo-0000c002")
	m := newManager(t, o)
	sb := prepare(t, m, spec)
	workInProgress(t, o, sb.Dir)
	bundle := filepath.Join(t.TempDir(), "cp.bundle")
	cp, err := checkpointTo(t.Context(), m, spec, sb, bundle)
	if err != nil {
		t.Fatal(err)
	}
	want := stateOf(t, o, sb.Dir)
	delete(want.Files, "debug.log")

	// Attempt 1 of the next step gets part of the way and dies.
	writeFile(t, sb.Dir, "partial.txt", "half done\n")
	writeFile(t, sb.Dir, "committed.txt", "overwritten\n")
	commitAll(t, o, sb.Dir, "wip: half")
	writeFile(t, sb.Dir, "staged.txt", "changed again\n")
	o.Git(t, sb.Dir, "checkout", "--quiet", "-b", "other")

	restored, err := m.Restore(t.Context(), spec, cp, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Dir != sb.Dir {
		t.Fatalf("restored into %s, want %s", restored.Dir, sb.Dir)
	}
	if got := stateOf(t, o, sb.Dir); !equalState(t, want, got) {
		t.Fatal("restore kept partial work")
	}
}

func TestCheckpoint_DetachedHead_RestoresDetached(t *testing.T) {
	o := gitfixture.New(t)
	spec := worktreeSpec("wo-0000c003")
	m := newManager(t, o)
	sb := prepare(t, m, spec)
	writeFile(t, sb.Dir, "new.txt", "new\n")
	bundle := filepath.Join(t.TempDir(), "cp.bundle")
	cp, err := checkpointTo(t.Context(), m, spec, sb, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Branch != "" {
		t.Fatalf("branch %q on a detached HEAD", cp.Branch)
	}
	other := newManager(t, o)
	restored, err := other.Restore(t.Context(), spec, cp, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, o, restored.Dir); got.Branch != "HEAD" || got.Head != cp.Head || got.Files["new.txt"] != "new\n" {
		t.Fatalf("restored %+v", got)
	}
}

// The bundle is thin: origin's history is not in it, so it stays small
// however big the repository is, and restoring takes that history from
// origin.
func TestCheckpoint_BundleHoldsOnlyWhatOriginLacks(t *testing.T) {
	o := gitfixture.New(t)
	o.Commit(t, "main", "big.txt", strings.Repeat("history ", 1<<16), "a big file in origin")
	spec := worktreeSpec("wo-0000c004")
	m := newManager(t, o)
	sb := prepare(t, m, spec)
	writeFile(t, sb.Dir, "small.txt", "small\n")
	bundle := filepath.Join(t.TempDir(), "cp.bundle")
	cp, err := checkpointTo(t.Context(), m, spec, sb, bundle)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 4096 {
		t.Errorf("bundle is %d bytes: origin's history went into it", fi.Size())
	}
	restored, err := newManager(t, o).Restore(t.Context(), spec, cp, bundle)
	if err != nil {
		t.Fatal(err)
	}
	got := stateOf(t, o, restored.Dir)
	if len(got.Files["big.txt"]) != 8<<16 || got.Files["small.txt"] != "small\n" {
		t.Errorf("restored files: big.txt %d bytes, small.txt %q", len(got.Files["big.txt"]), got.Files["small.txt"])
	}
}

func TestRestore_RejectsACheckpointThatIsNotOne(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	spec := worktreeSpec("wo-0000c005")
	_, err := m.Restore(t.Context(), spec, sandbox.Checkpoint{ID: "--upload-pack=x", Index: "x", Head: "y", Base: "z"}, filepath.Join(t.TempDir(), "none"))
	if err == nil || !strings.Contains(err.Error(), "not a commit id") {
		t.Fatalf("err = %v", err)
	}
}

func TestMarker_SaysWhichCheckpointTheSandboxIsAt(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	spec := worktreeSpec("wo-0000c006")
	marker := func() string {
		t.Helper()
		id, err := m.Marker(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	if id := marker(); id != "" {
		t.Fatalf("no sandbox: marker %q", id)
	}
	prepare(t, m, spec)
	if id := marker(); id != "" {
		t.Fatalf("fresh sandbox: marker %q", id)
	}
	if err := m.Mark(spec, "abc"); err != nil {
		t.Fatal(err)
	}
	if id := marker(); id != "abc" {
		t.Fatalf("marked: %q", id)
	}
	if err := m.Mark(spec, ""); err != nil {
		t.Fatal(err)
	}
	if id := marker(); id != "" {
		t.Fatalf("cleared: %q", id)
	}
	if err := m.Mark(spec, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if id := marker(); id != "" {
		t.Fatalf("removed sandbox: marker %q", id)
	}
}

func equalState(t *testing.T, want, got sandboxState) bool {
	t.Helper()
	ok := true
	check := func(name, w, g string) {
		if w != g {
			ok = false
			t.Errorf("%s:\n got %q\nwant %q", name, g, w)
		}
	}
	check("HEAD", want.Head, got.Head)
	check("branch", want.Branch, got.Branch)
	check("status", want.Status, got.Status)
	check("staged diff", want.Staged, got.Staged)
	check("unstaged diff", want.Unstaged, got.Unstaged)
	if !maps.Equal(want.Files, got.Files) {
		ok = false
		t.Errorf("files:\n got %v\nwant %v", got.Files, want.Files)
	}
	return ok
}

// checkpointTo snapshots the sandbox and writes its bundle, as the
// executor does when a step changed it.
func checkpointTo(ctx context.Context, m *sandbox.Manager, s sandbox.Spec, sb sandbox.Sandbox, bundle string) (sandbox.Checkpoint, error) {
	cp, err := m.Snapshot(ctx, s, sb)
	if err != nil {
		return cp, err
	}
	return cp, m.Bundle(ctx, s, sb, cp, bundle)
}

// A snapshot's ID names what it holds and nothing else: taken again of an
// unchanged sandbox (a second later) it is the same, which is how the
// executor knows a step changed nothing; a changed file, a staged change or
// another branch at the same commit each give a new one.
func TestSnapshot_IDChangesExactlyWithTheSandbox(t *testing.T) {
	o := gitfixture.New(t)
	spec := worktreeSpec("wo-0000c00d")
	m := newManager(t, o)
	sb := prepare(t, m, spec)
	workInProgress(t, o, sb.Dir)
	snap := func() string {
		t.Helper()
		cp, err := m.Snapshot(t.Context(), spec, sb)
		if err != nil {
			t.Fatal(err)
		}
		return cp.ID
	}
	first := snap()
	time.Sleep(1100 * time.Millisecond) // commit dates have whole seconds
	if again := snap(); again != first {
		t.Fatalf("unchanged sandbox: snapshot %s, then %s", first, again)
	}
	seen := map[string]string{first: "the first snapshot"}
	for _, c := range []struct {
		name   string
		change func()
	}{
		{"an edited file", func() { writeFile(t, sb.Dir, "README.md", "# demo\n\nEdited again.\n") }},
		{"a staged change", func() { o.Git(t, sb.Dir, "add", "README.md") }},
		{"another branch at the same commit", func() { o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/other") }},
	} {
		c.change()
		id := snap()
		if was, ok := seen[id]; ok {
			t.Fatalf("after %s the snapshot is %s, the same as after %s", c.name, id, was)
		}
		seen[id] = c.name
	}
}
