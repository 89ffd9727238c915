package gitfixture_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
)

// hostileHome makes the developer's configuration as unhelpful as possible:
// a ~/.gitconfig that sends github.com elsewhere and signs every commit.
// The fixture must not notice.
func hostileHome(t *testing.T) {
	home := t.TempDir()
	cfg := "[user]\n\tname = Wrong Person\n\temail = wrong@example.com\n" +
		"[url \"https://nowhere.invalid/\"]\n\tinsteadOf = https://github.com/\n" +
		"[commit]\n\tgpgsign = true\n[init]\n\tdefaultBranch = trunk\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_DIR", filepath.Join(home, "not-a-repo")) // as if run from a git hook
}

func TestNew_OriginHasOneCommitOnMain(t *testing.T) {
	hostileHome(t)
	o := gitfixture.New(t)

	if got := o.Branches(t); !slices.Equal(got, []string{"main"}) {
		t.Errorf("Branches = %v, want [main]", got)
	}
	if head := o.Git(t, "", "--git-dir", o.Dir, "symbolic-ref", "HEAD"); head != "refs/heads/main" {
		t.Errorf("origin HEAD = %s, want refs/heads/main", head)
	}
	if n := o.CommitCount(t, "main"); n != 1 {
		t.Errorf("CommitCount(main) = %d, want 1", n)
	}
	if readme, ok := o.File(t, "main", "README.md"); !ok || !strings.HasPrefix(readme, "# demo") {
		t.Errorf("README.md = %q, %v", readme, ok)
	}
	if _, ok := o.File(t, "main", "missing.txt"); ok {
		t.Error("File reports a missing file")
	}
	if _, ok := o.File(t, "nope", "README.md"); ok {
		t.Error("File reports a file on a missing branch")
	}
	if o.HasBranch(t, "nope") || !o.HasBranch(t, "main") {
		t.Error("HasBranch is wrong")
	}
	author := o.Git(t, "", "--git-dir", o.Dir, "log", "-1", "--format=%an <%ae>", "main")
	if author != gitfixture.UserName+" <"+gitfixture.UserEmail+">" {
		t.Errorf("author = %q: the developer's gitconfig leaked in", author)
	}
}

func TestEnv_NamesOnlyTheFixtureConfig(t *testing.T) {
	o := gitfixture.New(t)
	want := []string{"GIT_CONFIG_GLOBAL=" + o.GitConfig, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	if got := o.Env(); !slices.Equal(got, want) {
		t.Errorf("Env = %v, want %v", got, want)
	}
}

func TestOrigin_ReachableUnderEveryGitHubSpelling(t *testing.T) {
	hostileHome(t)
	o := gitfixture.New(t)
	for i, url := range []string{o.URL, o.URL + ".git", "git@github.com:acme/demo.git", "ssh://git@github.com/acme/demo"} {
		dir := filepath.Join(t.TempDir(), "clone")
		o.Git(t, "", "clone", "--quiet", url, dir)
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Errorf("clone %d of %s has no README.md: %v", i, url, err)
		}
	}
}

func TestOrigin_PushedBranchIsVisible(t *testing.T) {
	hostileHome(t)
	o := gitfixture.New(t)
	dir := filepath.Join(t.TempDir(), "clone")
	o.Git(t, "", "clone", "--quiet", o.URL, dir)
	o.Git(t, dir, "switch", "--quiet", "-c", "feat/hello")
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Git(t, dir, "add", "hello.txt")
	o.Git(t, dir, "commit", "--quiet", "-m", "Add hello")
	o.Git(t, dir, "push", "--quiet", "origin", "feat/hello")

	if !o.HasBranch(t, "feat/hello") {
		t.Fatal("pushed branch not in origin")
	}
	if got := o.Branches(t); !slices.Equal(got, []string{"feat/hello", "main"}) {
		t.Errorf("Branches = %v", got)
	}
	if got, ok := o.File(t, "feat/hello", "hello.txt"); !ok || got != "hello\n" {
		t.Errorf("hello.txt = %q, %v", got, ok)
	}
	if n := o.CommitCount(t, "feat/hello"); n != 2 {
		t.Errorf("CommitCount = %d, want 2", n)
	}
}

func TestCommit_AddsUpstreamWork(t *testing.T) {
	o := gitfixture.New(t)
	o.Commit(t, "main", "docs/guide.md", "guide\n", "Add guide")
	o.Commit(t, "release", "VERSION", "1.0\n", "Release 1.0")

	if n := o.CommitCount(t, "main"); n != 2 {
		t.Errorf("main has %d commits, want 2", n)
	}
	if _, ok := o.File(t, "main", "README.md"); !ok {
		t.Error("Commit dropped the files already on the branch")
	}
	if got, _ := o.File(t, "main", "docs/guide.md"); got != "guide\n" {
		t.Errorf("docs/guide.md = %q", got)
	}
	if n := o.CommitCount(t, "release"); n != 3 {
		t.Errorf("release (from main) has %d commits, want 3", n)
	}
}

func TestOtherGitHubRepositories_FailLocally(t *testing.T) {
	o := gitfixture.New(t)
	cmd := exec.Command("git", "ls-remote", "https://github.com/acme/missing")
	cmd.Env = append(os.Environ(), o.Env()...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not appear to be a git repository") {
		t.Fatalf("ls-remote of a missing repository: %v: %s", err, out)
	}
}
