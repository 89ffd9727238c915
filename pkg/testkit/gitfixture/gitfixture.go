// Package gitfixture gives tests a real "GitHub" repository without the
// network: a bare repository on disk that git reaches as
// https://github.com/acme/demo through url.<base>.insteadOf in a private
// global gitconfig.
//
// Every https://github.com/, ssh://git@github.com/ and git@github.com: URL is
// rewritten into the fixture's directory, so a test that names another
// repository (https://github.com/acme/missing) gets git's ordinary "does not
// appear to be a git repository" error at once instead of a network call.
// Processes under test must run with Env() appended to their environment;
// the developer's ~/.gitconfig and /etc/gitconfig are then never read.
package gitfixture

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// DefaultURL is the public URL the fixture's repository answers to.
const DefaultURL = "https://github.com/acme/demo"

// Identity of every commit made under the fixture's gitconfig.
const (
	UserName  = "AWO Test"
	UserEmail = "awo-test@example.com"
)

// Origin is a bare repository with one commit on main (README.md).
type Origin struct {
	Dir       string // the bare repository, <root>/github.com/acme/demo.git
	URL       string // DefaultURL
	GitConfig string // the global gitconfig that maps URL onto Dir
}

// New creates the origin and its gitconfig in the test's temp directory.
func New(t testing.TB) *Origin {
	t.Helper()
	root := t.TempDir()
	o := &Origin{
		Dir:       filepath.Join(root, "github.com", "acme", "demo.git"),
		URL:       DefaultURL,
		GitConfig: filepath.Join(root, "gitconfig"),
	}
	// The file must exist before git runs with GIT_CONFIG_GLOBAL pointing at it.
	if err := os.WriteFile(o.GitConfig, nil, 0o600); err != nil {
		t.Fatalf("gitfixture: creating gitconfig: %v", err)
	}
	// The rewrite target has no ".git": git tries "<path>.git" when "<path>"
	// is missing, so both spellings of the URL reach the same repository.
	base := "file://" + filepath.Join(root, "github.com") + "/"
	for _, kv := range [][2]string{
		{"user.name", UserName},
		{"user.email", UserEmail},
		{"init.defaultBranch", "main"},
		{"advice.detachedHead", "false"},
		{"url." + base + ".insteadOf", "https://github.com/"},
		{"url." + base + ".insteadOf", "ssh://git@github.com/"},
		{"url." + base + ".insteadOf", "git@github.com:"},
	} {
		o.Git(t, root, "config", "--file", o.GitConfig, "--add", kv[0], kv[1])
	}
	o.Git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", o.Dir)
	o.Commit(t, "main", "README.md", "# demo\n\nA repository for tests.\n", "Initial commit")
	return o
}

// Env is what a process under test appends to its environment so git uses
// only the fixture's configuration and never waits for a password.
func (o *Origin) Env() []string {
	return []string{
		"GIT_CONFIG_GLOBAL=" + o.GitConfig,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	}
}

// Git runs git in dir with the fixture's environment and returns its
// trimmed standard output; any failure fails the test.
func (o *Origin) Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := o.run(dir, "", nil, args...)
	if err != nil {
		t.Fatalf("gitfixture: %v", err)
	}
	return out
}

// Commit writes content to path on branch directly in the origin, as a
// teammate's push would; a missing branch is created from main. It returns
// the new commit's id.
func (o *Origin) Commit(t testing.TB, branch, path, content, message string) string {
	t.Helper()
	var parent string
	for _, ref := range []string{"refs/heads/" + branch, "refs/heads/main"} {
		if id, err := o.run("", "", nil, "--git-dir", o.Dir, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err == nil {
			parent = id
			break
		}
	}
	// A private index keeps the bare repository free of a working tree.
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(t.TempDir(), "index")}
	git := func(stdin string, args ...string) string {
		t.Helper()
		out, err := o.run("", stdin, index, append([]string{"--git-dir", o.Dir}, args...)...)
		if err != nil {
			t.Fatalf("gitfixture: committing %s to %s: %v", path, branch, err)
		}
		return out
	}
	commitArgs := []string{"commit-tree", "-m", message}
	if parent != "" {
		git("", "read-tree", parent)
		commitArgs = append(commitArgs, "-p", parent)
	}
	blob := git(content, "hash-object", "-w", "--stdin")
	git("", "update-index", "--add", "--cacheinfo", "100644,"+blob+","+path)
	tree := git("", "write-tree")
	commit := git("", append(commitArgs, tree)...)
	git("", "update-ref", "refs/heads/"+branch, commit)
	return commit
}

// HasBranch reports whether the origin has the branch.
func (o *Origin) HasBranch(t testing.TB, name string) bool {
	t.Helper()
	_, err := o.run("", "", nil, "--git-dir", o.Dir, "show-ref", "--verify", "--quiet", "refs/heads/"+name)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false
	}
	t.Fatalf("gitfixture: looking up branch %s: %v", name, err)
	return false
}

// File returns the content of path on branch in the origin, and false when
// the branch or the file does not exist.
func (o *Origin) File(t testing.TB, branch, path string) (string, bool) {
	t.Helper()
	spec := "refs/heads/" + branch + ":" + path
	if _, err := o.run("", "", nil, "--git-dir", o.Dir, "cat-file", "-e", spec); err != nil {
		return "", false
	}
	out, err := o.runRaw("", "", nil, "--git-dir", o.Dir, "cat-file", "blob", spec)
	if err != nil {
		t.Fatalf("gitfixture: reading %s: %v", spec, err)
	}
	return out, true
}

// Branches lists the origin's branches in name order.
func (o *Origin) Branches(t testing.TB) []string {
	t.Helper()
	out := o.Git(t, "", "--git-dir", o.Dir, "for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// CommitCount is the number of commits reachable from branch; the branch
// must exist.
func (o *Origin) CommitCount(t testing.TB, branch string) int {
	t.Helper()
	out := o.Git(t, "", "--git-dir", o.Dir, "rev-list", "--count", "refs/heads/"+branch)
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("gitfixture: rev-list --count printed %q", out)
	}
	return n
}

func (o *Origin) run(dir, stdin string, env []string, args ...string) (string, error) {
	out, err := o.runRaw(dir, stdin, env, args...)
	return strings.TrimSpace(out), err
}

func (o *Origin) runRaw(dir, stdin string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(cleanEnv(), o.Env()...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &gitError{args: args, stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.String(), nil
}

// cleanEnv is the process environment without GIT_* variables, which could
// point git at another repository (GIT_DIR set by a hook running the tests)
// or another configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}

type gitError struct {
	args   []string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	return "git " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

func (e *gitError) Unwrap() error { return e.err }
