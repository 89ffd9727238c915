package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
)

// A sandbox whose branch origin has moved on (the round's commit pushed,
// or a reviewer did) is moved forward to it; what it holds uncommitted of
// the same work is replaced by origin's committed version.
func TestCatchUp_MovesTheBranchForwardToOrigins(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/x")
	writeFile(t, sb.Dir, "x.txt", "x\n") // what the commit step committed and pushed
	theirs := o.Commit(t, "feat/x", "x.txt", "x\n", "Add x")
	o.Commit(t, "feat/x", "review.txt", "fixed by the reviewer\n", "Reviewer's fix")

	moved, err := m.CatchUp(t.Context(), sb, "feat/x")
	if err != nil || !moved {
		t.Fatalf("CatchUp = %v, %v; want moved", moved, err)
	}
	if head, want := o.Git(t, sb.Dir, "rev-parse", "HEAD"), o.Git(t, "", "--git-dir", o.Dir, "rev-parse", "feat/x"); head != want {
		t.Errorf("HEAD = %s, want origin's %s", head, want)
	}
	o.Git(t, sb.Dir, "merge-base", "--is-ancestor", theirs, "HEAD") // fails the test unless it is
	if b, err := os.ReadFile(filepath.Join(sb.Dir, "review.txt")); err != nil || string(b) != "fixed by the reviewer\n" {
		t.Errorf("review.txt = %q, %v", b, err)
	}
	if st := o.Git(t, sb.Dir, "status", "--porcelain"); st != "" {
		t.Errorf("status after catching up: %q", st)
	}
	if br := o.Git(t, sb.Dir, "branch", "--show-current"); br != "feat/x" {
		t.Errorf("on branch %q", br)
	}
	// Again: nothing to do.
	if moved, err := m.CatchUp(t.Context(), sb, "feat/x"); err != nil || moved {
		t.Errorf("second CatchUp = %v, %v; want nothing to do", moved, err)
	}
}

func TestCatchUp_LeavesWhatOriginDoesNotHaveOrHasLess(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/x")
	writeFile(t, sb.Dir, "x.txt", "x\n")
	commitAll(t, o, sb.Dir, "Add x")
	// Never pushed.
	if moved, err := m.CatchUp(t.Context(), sb, "feat/x"); err != nil || moved {
		t.Fatalf("CatchUp of an unpushed branch = %v, %v", moved, err)
	}
	// Pushed, then committed on: the sandbox is ahead.
	if err := m.Push(t.Context(), sb, "feat/x", ""); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sb.Dir, "y.txt", "y\n")
	commitAll(t, o, sb.Dir, "Add y")
	head := o.Git(t, sb.Dir, "rev-parse", "HEAD")
	if moved, err := m.CatchUp(t.Context(), sb, "feat/x"); err != nil || moved || o.Git(t, sb.Dir, "rev-parse", "HEAD") != head {
		t.Fatalf("CatchUp of a sandbox ahead of origin = %v, %v", moved, err)
	}
}

func TestCatchUp_DivergedOrOtherBranchIsAnError(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/x")
	writeFile(t, sb.Dir, "x.txt", "mine\n")
	commitAll(t, o, sb.Dir, "Mine")
	o.Commit(t, "feat/x", "x.txt", "theirs\n", "Theirs")
	if _, err := m.CatchUp(t.Context(), sb, "feat/x"); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Errorf("diverged: %v", err)
	}
	if got := o.Git(t, sb.Dir, "show", "HEAD:x.txt"); got != "mine" {
		t.Errorf("the sandbox's commit was touched: x.txt = %q", got)
	}
	if _, err := m.CatchUp(t.Context(), sb, "feat/y"); err == nil || !strings.Contains(err.Error(), `not on the work order's branch "feat/y"`) {
		t.Errorf("other branch: %v", err)
	}
}

func TestDiff_ShowsTheBranchAgainstItsBase(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/x")
	writeFile(t, sb.Dir, "x.txt", "hello diff\n")
	commitAll(t, o, sb.Dir, "Add x")
	d, err := m.Diff(t.Context(), sb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x.txt | 1 +", "+hello diff"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}
