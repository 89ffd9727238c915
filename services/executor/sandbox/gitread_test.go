package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
)

func gitOut(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// gitProgress is what Progress asked git before the in-process reads: the
// reference the in-process answer is held against.
func gitProgress(t *testing.T, dir, baseRef string) Progress {
	t.Helper()
	var p Progress
	p.CommitCount, _ = strconv.Atoi(gitOut(t, dir, "rev-list", "--count", baseRef+"..HEAD"))
	if names := gitOut(t, dir, "diff", "--name-only", baseRef+"...HEAD"); names != "" {
		p.FilesChanged = len(strings.Split(names, "\n"))
	}
	if p.CommitCount > 0 {
		p.LatestCommitMessage = gitOut(t, dir, "log", "-1", "--format=%s", "HEAD")
	}
	p.Branch = strings.TrimPrefix(gitOut(t, dir, "rev-parse", "--symbolic-full-name", "HEAD"), "refs/heads/")
	if p.Branch == "HEAD" {
		p.Branch = ""
	}
	return p
}

func write(t testing.TB, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The in-process Progress answers what git answers, step by step through
// what a work order does to its sandbox.
func TestProgressInProcess_AgreesWithGit(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	const baseRef = "refs/remotes/origin/main"
	runGitT(t, repo, "update-ref", baseRef, "HEAD")
	steps := []struct {
		name string
		do   func()
	}{
		{"detached at the base", func() {}},
		{"on a new branch", func() { runGitT(t, tree, "switch", "--quiet", "-c", "feat/x") }},
		{"two files committed", func() {
			write(t, tree, "a.md", strings.Repeat("alpha line\n", 20))
			write(t, tree, "dir/b.md", "b\n")
			runGitT(t, tree, "add", "--all")
			runGitT(t, tree, "commit", "--quiet", "-m", "feat: two files\n\nwith a body")
		}},
		{"a rename and a multi-line subject", func() {
			runGitT(t, tree, "mv", "a.md", "c.md")
			runGitT(t, tree, "commit", "--quiet", "-m", "first line\nsecond line\n\nbody")
		}},
		{"a merge of a side branch", func() {
			runGitT(t, tree, "switch", "--quiet", "-c", "side", baseRef)
			write(t, tree, "side.md", "side\n")
			runGitT(t, tree, "add", "--all")
			runGitT(t, tree, "commit", "--quiet", "-m", "side")
			runGitT(t, tree, "switch", "--quiet", "feat/x")
			runGitT(t, tree, "merge", "--quiet", "--no-edit", "side")
		}},
	}
	for _, s := range steps {
		s.do()
		got, ok := progressInProcess(t.Context(), tree, baseRef)
		if !ok {
			t.Fatalf("%s: not answered in process", s.name)
		}
		if want := gitProgress(t, tree, baseRef); got != want {
			t.Errorf("%s: in process %+v, git %+v", s.name, got, want)
		}
	}
}

// When origin's branch moved on, HEAD no longer descends from it: git
// answers, and Progress still agrees with it.
func TestProgressInProcess_LeavesADivergedBaseToGit(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	const baseRef = "refs/remotes/origin/main"
	runGitT(t, repo, "update-ref", baseRef, "HEAD")
	runGitT(t, tree, "switch", "--quiet", "-c", "feat/x")
	write(t, tree, "a.md", "a\n")
	runGitT(t, tree, "add", "--all")
	runGitT(t, tree, "commit", "--quiet", "-m", "a")
	write(t, repo, "upstream.md", "u\n")
	runGitT(t, repo, "add", "--all")
	runGitT(t, repo, "commit", "--quiet", "-m", "upstream")
	runGitT(t, repo, "update-ref", baseRef, "HEAD")
	if p, ok := progressInProcess(t.Context(), tree, baseRef); ok {
		t.Fatalf("answered in process: %+v", p)
	}
	m := &Manager{Env: []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}}
	got, err := m.Progress(t.Context(), Sandbox{Dir: tree, BaseBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if want := gitProgress(t, tree, baseRef); got != want {
		t.Errorf("Progress %+v, git %+v", got, want)
	}
}

func TestHeadBranchAndCheckout(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	if _, detached, ok := headBranch(tree); !ok || !detached {
		t.Errorf("fresh worktree: detached %v ok %v, want detached", detached, ok)
	}
	runGitT(t, tree, "switch", "--quiet", "-c", "feat/deep/name")
	if b, detached, ok := headBranch(tree); !ok || detached || b != "feat/deep/name" {
		t.Errorf("got %q detached %v ok %v", b, detached, ok)
	}
	if !checkoutHasCommit(tree) || !checkoutHasCommit(repo) {
		t.Error("a checkout with a commit not recognised")
	}
	empty := filepath.Join(t.TempDir(), "empty")
	runGitT(t, filepath.Dir(empty), "init", "--quiet", empty)
	if checkoutHasCommit(empty) || checkoutHasCommit(filepath.Join(tree, "dir")) {
		t.Error("a repository without a commit, or a directory inside one, taken for a checkout")
	}
	runGitT(t, repo, "update-ref", "refs/remotes/origin/trunk", "HEAD")
	runGitT(t, repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
	if b, ok := originHead(tree); !ok || b != "trunk" {
		t.Errorf("origin/HEAD: %q %v", b, ok)
	}
	runGitT(t, repo, "update-ref", "-d", "refs/remotes/origin/trunk")
	if b, ok := originHead(tree); ok {
		t.Errorf("origin/HEAD naming a deleted branch answered %q", b)
	}
}

func TestPlainBranchName(t *testing.T) {
	for name, want := range map[string]bool{
		"feat/x": true, "feat/sandbox-wo-1a2b": true, "fix_1.2": true,
		"-x": false, "a..b": false, "a.lock": false, "a/": false, "a//b": false, "a.": false,
		"a b": false, "a~1": false, "a@{1}": false, ".hidden": false, "feat/.x": false, "ünï": false,
	} {
		if got := plainBranchName(name); got != want {
			t.Errorf("%q: got %v, want %v", name, got, want)
		}
	}
}

// A sandbox deleted behind git's back leaves an entry that blocks add;
// with none, there is nothing to prune first.
func TestStaleWorktreeEntry(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	other := filepath.Join(filepath.Dir(tree), "other")
	if staleWorktreeEntry(repo, other) {
		t.Error("an entry for another path taken for this one")
	}
	if !staleWorktreeEntry(repo, tree) {
		t.Error("the worktree's own entry not seen")
	}
	if err := os.RemoveAll(tree); err != nil {
		t.Fatal(err)
	}
	if !staleWorktreeEntry(repo, tree) {
		t.Error("the entry of a deleted worktree not seen")
	}
	runGitT(t, repo, "worktree", "prune")
	if staleWorktreeEntry(repo, tree) {
		t.Error("an entry seen after prune")
	}
}

// A reftable repository's HEAD file names a placeholder: git answers.
func TestHeadBranch_LeavesOtherRefStoragesToGit(t *testing.T) {
	_, tree := newRepoWithWorktree(t)
	d, _ := locateGitDir(tree)
	f, err := os.OpenFile(filepath.Join(d.commonDir, "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("[extensions]\n\trefStorage = reftable\n")
	f.Close()
	if _, _, ok := headBranch(tree); ok {
		t.Error("answered for a repository whose refs are not files")
	}
	if _, ok := openRepository(tree); ok {
		t.Error("opened a repository whose refs are not files")
	}
}

// BenchmarkProgress holds the in-process Progress against git's (the
// agent-user path, which always asks git) on a branch of one commit.
func BenchmarkProgress(b *testing.B) {
	t := b
	repo, tree := newRepoWithWorktree(t)
	runGitT(t, repo, "update-ref", "refs/remotes/origin/main", "HEAD")
	runGitT(t, tree, "switch", "--quiet", "-c", "feat/x")
	write(t, tree, "a.md", "a\n")
	runGitT(t, tree, "add", "--all")
	runGitT(t, tree, "commit", "--quiet", "-m", "a")
	sb := Sandbox{Dir: tree, BaseBranch: "main"}
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	b.Run("in-process", func(b *testing.B) {
		m := &Manager{Env: env}
		for b.Loop() {
			if _, err := m.Progress(b.Context(), sb); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("git", func(b *testing.B) {
		m := &Manager{Env: env}
		for b.Loop() {
			if _, err := m.progressByGit(b.Context(), sb.Dir, "refs/remotes/origin/main"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Packed objects are read through the pack's index, read whole into
// memory (objectsListing.Open).
func TestInProcessReads_PackedObjects(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	const baseRef = "refs/remotes/origin/main"
	runGitT(t, repo, "update-ref", baseRef, "HEAD")
	runGitT(t, tree, "switch", "--quiet", "-c", "feat/x")
	write(t, tree, "a.md", "a\n")
	runGitT(t, tree, "add", "--all")
	runGitT(t, tree, "commit", "--quiet", "-m", "feat: a")
	runGitT(t, repo, "gc", "--quiet")
	if n := gitOut(t, repo, "count-objects", "-v"); !strings.Contains(n, "count: 0\n") || strings.Contains(n, "packs: 0\n") {
		t.Fatalf("objects not packed:\n%s", n)
	}
	got, ok := progressInProcess(context.Background(), tree, baseRef)
	if !ok {
		t.Fatal("not read in process")
	}
	if want := gitProgress(t, tree, baseRef); got != want {
		t.Fatalf("in process %+v, git %+v", got, want)
	}
}

// The objects directory is listed for go-git with the quarantine
// directories of a push in progress only, each a directory.
func TestObjectsListing_OnlyIncomingDirectories(t *testing.T) {
	repo, _ := newRepoWithWorktree(t)
	objects := filepath.Join(repo, ".git", "objects")
	for _, d := range []string{"incoming-a1", "tmp_objdir-incoming-b2"} {
		if err := os.Mkdir(filepath.Join(objects, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, objects, "incoming-not-a-dir", "")
	infos, err := objectsListing{Filesystem: osfs.New(filepath.Join(repo, ".git")), dir: objects}.ReadDir("objects")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name())
	}
	slices.Sort(names)
	if want := []string{"incoming-a1", "tmp_objdir-incoming-b2"}; !slices.Equal(names, want) {
		t.Fatalf("listed %v, want %v", names, want)
	}
}
