package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// use runs one "step": the sandbox marked in use, prepared, released.
func use(t *testing.T, m *sandbox.Manager, s sandbox.Spec) sandbox.Sandbox {
	t.Helper()
	release, err := m.Use(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	return prepare(t, m, s)
}

func list(t *testing.T, m *sandbox.Manager) map[string]sandbox.Entry {
	t.Helper()
	entries, err := m.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sandbox.Entry{}
	for _, e := range entries {
		if _, dup := out[e.Identifier]; dup {
			t.Fatalf("%s listed twice", e.Identifier)
		}
		out[e.Identifier] = e
	}
	return out
}

func yes(context.Context) (bool, error) { return true, nil }

func branchSpec(id workorder.ID) sandbox.Spec {
	return sandbox.Spec{WorkOrderID: id, RepositoryURL: gitfixture.DefaultURL, Type: workorder.SandboxBranch}
}

func gone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
}

func TestList_FindsWorktreesAndBranchClonesWithTheirWorkOrders(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	before := time.Now().Add(-time.Second)
	wt := use(t, m, worktreeSpec("wo-000000a1"))
	br := use(t, m, branchSpec("wo-000000b1"))
	// A step that failed before its sandbox existed leaves only its mark.
	release, err := m.Use(t.Context(), branchSpec("wo-000000c1"))
	if err != nil {
		t.Fatal(err)
	}
	release()
	// Not sandboxes: a clone in progress, a stray file, a name no sandbox has.
	for _, d := range []string{"branches/sandbox-wo-000000b1.tmp-1234", "branches/-rf", "repos/x/trees/.hidden"} {
		if err := os.MkdirAll(filepath.Join(m.Root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, m.Root, "branches/notes.txt", "x")

	got := list(t, m)
	want := map[string]struct {
		kind workorder.SandboxType
		wo   workorder.ID
		dir  string
	}{
		"sandbox-wo-000000a1": {workorder.SandboxWorktree, "wo-000000a1", wt.Dir},
		"sandbox-wo-000000b1": {workorder.SandboxBranch, "wo-000000b1", br.Dir},
		"sandbox-wo-000000c1": {workorder.SandboxBranch, "wo-000000c1", filepath.Join(m.Root, "branches", "sandbox-wo-000000c1")},
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %d sandboxes", got, len(want))
	}
	for id, w := range want {
		e := got[id]
		if e.Kind != w.kind || e.WorkOrderID != w.wo || e.Dir != w.dir {
			t.Errorf("%s = %+v, want %v", id, e, w)
		}
		if e.LastUsed.Before(before) || e.LastUsed.After(time.Now()) {
			t.Errorf("%s last used %s, want just now", id, e.LastUsed)
		}
	}

	// A sandbox not named after a work order is listed without one.
	use(t, m, sandbox.Spec{WorkOrderID: "wo-000000d1", RepositoryURL: gitfixture.DefaultURL, Identifier: "custom-name"})
	if e, ok := list(t, m)["custom-name"]; !ok || e.WorkOrderID != "" || e.Kind != workorder.SandboxWorktree {
		t.Errorf("custom identifier: %+v, %v", e, ok)
	}
}

func TestRemoveIf_RemovesWorktreeCloneAndTheirLockFiles_KeepsTheRest(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	keep := use(t, m, worktreeSpec("wo-000000a1"))
	old := use(t, m, worktreeSpec("wo-000000a2"))
	writeFile(t, old.Dir, "dirty.txt", "uncommitted")
	br := use(t, m, branchSpec("wo-000000b1"))
	if err := os.MkdirAll(br.Dir+".tmp-dead", 0o755); err != nil { // a crashed clone
		t.Fatal(err)
	}
	entries := list(t, m)

	for _, id := range []string{"sandbox-wo-000000a2", "sandbox-wo-000000b1"} {
		removed, err := m.RemoveIf(t.Context(), entries[id], yes)
		if err != nil || !removed {
			t.Fatalf("RemoveIf(%s) = %v, %v", id, removed, err)
		}
	}
	gone(t, old.Dir, old.Dir+".inuse", br.Dir, br.Dir+".lock", br.Dir+".inuse", br.Dir+".tmp-dead")
	cache := filepath.Join(m.Root, "repos", repourl.CacheKey(o.URL), "main")
	if wl := o.Git(t, cache, "worktree", "list"); strings.Contains(wl, old.Dir) || !strings.Contains(wl, keep.Dir) {
		t.Errorf("git worktree list after removal:\n%s", wl)
	}
	if got := list(t, m); len(got) != 1 || got["sandbox-wo-000000a1"].Dir != keep.Dir {
		t.Errorf("left: %v", got)
	}
	// The cache serves the next work order, and a removed one may start over.
	use(t, m, worktreeSpec("wo-000000a3"))
	again := use(t, m, worktreeSpec("wo-000000a2"))
	if _, err := os.Stat(filepath.Join(again.Dir, "dirty.txt")); err == nil {
		t.Error("a removed sandbox came back with its old files")
	}

	// decide saying no keeps it.
	removed, err := m.RemoveIf(t.Context(), list(t, m)["sandbox-wo-000000a1"], func(context.Context) (bool, error) { return false, nil })
	if err != nil || removed {
		t.Errorf("decide false: removed %v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(keep.Dir, "README.md")); err != nil {
		t.Errorf("kept sandbox: %v", err)
	}
}

// A step's sandbox is never removed under it, whichever process holds it.
func TestRemoveIf_SandboxInUse_IsKeptWithoutAsking(t *testing.T) {
	o := gitfixture.New(t)
	step := newManager(t, o)
	sweeper := &sandbox.Manager{Root: step.Root, Env: step.Env, Logger: step.Logger} // as another process
	s := worktreeSpec("wo-000000a1")
	use(t, step, s)
	e := list(t, sweeper)["sandbox-wo-000000a1"]

	release, err := step.Use(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	asked := false
	removed, err := sweeper.RemoveIf(t.Context(), e, func(context.Context) (bool, error) { asked = true; return true, nil })
	if err != nil || removed || asked {
		t.Fatalf("in use: removed %v, decide asked %v, %v", removed, asked, err)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "README.md")); err != nil {
		t.Fatalf("sandbox in use was touched: %v", err)
	}
	release()
	if removed, err := sweeper.RemoveIf(t.Context(), e, yes); err != nil || !removed {
		t.Fatalf("after release: removed %v, %v", removed, err)
	}
}

// A step that starts while the sandbox is being removed waits, then gets a
// fresh mark and a fresh sandbox: it never runs in a half-removed one.
func TestUse_WaitsWhileTheSandboxIsRemoved(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	other := &sandbox.Manager{Root: m.Root, Env: m.Env, Logger: m.Logger}
	s := branchSpec("wo-000000b1")
	use(t, m, s)
	e := list(t, m)["sandbox-wo-000000b1"]

	deciding, finish := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := m.RemoveIf(t.Context(), e, func(context.Context) (bool, error) {
			close(deciding)
			<-finish
			return true, nil
		})
		done <- err
	}()
	<-deciding
	got := make(chan error, 1)
	var release func()
	go func() {
		var err error
		release, err = other.Use(t.Context(), s)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Use returned while the sandbox was being removed: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := os.Stat(e.Dir + ".inuse"); err != nil {
		t.Errorf("the waiting step holds no mark at the path: %v", err)
	}
	// Held on the new mark: the sweeper must see it in use.
	if removed, err := m.RemoveIf(t.Context(), list(t, m)["sandbox-wo-000000b1"], yes); err != nil || removed {
		t.Errorf("a sandbox held through the new mark was removed: %v, %v", removed, err)
	}
	prepare(t, other, s)
}

func TestUse_CancelledWhileRemovalHoldsTheMark(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	s := branchSpec("wo-000000b1")
	use(t, m, s)
	e := list(t, m)["sandbox-wo-000000b1"]
	_, err := m.RemoveIf(t.Context(), e, func(context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := m.Use(ctx, s)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Use while the mark is held exclusively = %v, want to wait until the deadline", err)
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
