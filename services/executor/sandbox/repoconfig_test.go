package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func runGitT(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
}

// newRepoWithWorktree makes a repository with one commit and a linked
// worktree of it.
func newRepoWithWorktree(t testing.TB) (repo, tree string) {
	t.Helper()
	root := t.TempDir()
	repo, tree = filepath.Join(root, "main"), filepath.Join(root, "tree")
	runGitT(t, root, "init", "--quiet", repo)
	runGitT(t, repo, "commit", "--quiet", "--allow-empty", "-m", "first")
	runGitT(t, repo, "worktree", "add", "--quiet", "--detach", tree)
	return repo, tree
}

func TestLocalConfigFilterFree(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string // appended to the repository's config
		wt     string // written as the worktree's config.worktree
		want   bool
	}{
		{name: "plain repository", want: true},
		{name: "a filter driver", config: "[filter \"lfs\"]\n\tclean = cat\n"},
		{name: "a filter driver, old syntax, upper case", config: "[FILTER.x]\n\tsmudge = cat\n"},
		{name: "an include", config: "[include]\n\tpath = elsewhere\n"},
		{name: "a conditional include", config: "[includeIf \"gitdir:/\"]\n\tpath = elsewhere\n"},
		{name: "a filter in the worktree's own config", wt: "[filter \"x\"]\n\tclean = cat\n"},
		{name: "unrelated settings", config: "[core]\n\tautocrlf = false\n[user]\n\tname = x\n", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo, tree := newRepoWithWorktree(t)
			if tc.config != "" {
				f, err := os.OpenFile(filepath.Join(repo, ".git", "config"), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.WriteString(tc.config)
				f.Close()
			}
			if tc.wt != "" {
				if err := os.WriteFile(filepath.Join(repo, ".git", "worktrees", "tree", "config.worktree"), []byte(tc.wt), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := localConfigFilterFree(tree); got != tc.want {
				t.Errorf("worktree: got %v, want %v", got, tc.want)
			}
			if tc.wt == "" {
				if got := localConfigFilterFree(repo); got != tc.want {
					t.Errorf("repository: got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// Where git would look further up, or could not use the repository, the
// answer is left to git.
func TestLocalConfigFilterFree_UnsureMeansAskGit(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	if localConfigFilterFree(filepath.Join(repo, "missing")) || localConfigFilterFree(t.TempDir()) {
		t.Error("a directory without .git must be left to git")
	}
	if err := os.WriteFile(filepath.Join(tree, ".git"), []byte("not a gitfile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if localConfigFilterFree(tree) {
		t.Error("a broken .git file must be left to git")
	}
	if err := os.WriteFile(filepath.Join(repo, ".git", "HEAD"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if localConfigFilterFree(repo) {
		t.Error("a .git git would not take for a repository must be left to git")
	}
}

// The hardening still resets a driver the repository defines, and adds
// nothing when it defines none.
func TestHardening_FilterResetOnlyWhenDefined(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	m := &Manager{Env: []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}}
	has := func(h []string, s string) bool {
		for _, a := range h {
			if a == s {
				return true
			}
		}
		return false
	}
	if h := m.hardening(t.Context(), tree, []string{"add", "--all"}, false); has(h, "filter.evil.clean=") {
		t.Errorf("no driver defined, yet reset: %v", h)
	}
	runGitT(t, repo, "config", "filter.evil.clean", "touch /tmp/x; cat")
	if h := m.hardening(t.Context(), tree, []string{"add", "--all"}, false); !has(h, "filter.evil.clean=") {
		t.Errorf("driver defined in the repository, not reset: %v", h)
	}
}
