package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

func newManager(t *testing.T, o *gitfixture.Origin) *sandbox.Manager {
	t.Helper()
	return &sandbox.Manager{
		Root:   t.TempDir(),
		Env:    o.Env(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func worktreeSpec(id workorder.ID) sandbox.Spec {
	return sandbox.Spec{
		WorkOrderID:   id,
		RepositoryURL: gitfixture.DefaultURL,
		Type:          workorder.SandboxWorktree,
		Identifier:    id.SandboxIdentifier(),
	}
}

func prepare(t *testing.T, m *sandbox.Manager, s sandbox.Spec) sandbox.Sandbox {
	t.Helper()
	sb, err := m.Prepare(t.Context(), s)
	if err != nil {
		t.Fatalf("Prepare(%s): %v", s.WorkOrderID, err)
	}
	return sb
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func commitAll(t *testing.T, o *gitfixture.Origin, dir, message string) {
	t.Helper()
	o.Git(t, dir, "add", "--all")
	o.Git(t, dir, "commit", "--quiet", "-m", message)
}

func TestPrepare_Worktree_DetachedAtOriginDefaultBranch(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)

	sb := prepare(t, m, worktreeSpec("wo-00000001"))

	wantDir := filepath.Join(m.Root, "repos", repourl.CacheKey(o.URL), "trees", "sandbox-wo-00000001")
	if sb.Dir != wantDir {
		t.Errorf("Dir = %s, want %s", sb.Dir, wantDir)
	}
	if sb.BaseBranch != "main" {
		t.Errorf("BaseBranch = %q, want main", sb.BaseBranch)
	}
	if _, err := os.Stat(filepath.Join(sb.Dir, "README.md")); err != nil {
		t.Errorf("README.md not checked out: %v", err)
	}
	if _, err := m.CurrentBranch(t.Context(), sb.Dir); !errors.Is(err, sandbox.ErrDetachedHead) {
		t.Errorf("CurrentBranch of a fresh sandbox: %v, want ErrDetachedHead", err)
	}
	head := o.Git(t, sb.Dir, "rev-parse", "HEAD")
	if want := o.Git(t, "", "--git-dir", o.Dir, "rev-parse", "main"); head != want {
		t.Errorf("HEAD = %s, want origin's main %s", head, want)
	}
	if gitFile, err := os.Stat(filepath.Join(sb.Dir, ".git")); err != nil || gitFile.IsDir() {
		t.Errorf("sandbox .git should be a worktree's file: %v", err)
	}
}

func TestPrepare_Worktree_BaseBranchIsOriginsDefault(t *testing.T) {
	o := gitfixture.New(t)
	o.Commit(t, "trunk", "TRUNK.md", "trunk\n", "Trunk only")
	o.Git(t, "", "--git-dir", o.Dir, "symbolic-ref", "HEAD", "refs/heads/trunk")
	m := newManager(t, o)

	sb := prepare(t, m, worktreeSpec("wo-00000001"))

	if sb.BaseBranch != "trunk" {
		t.Errorf("BaseBranch = %q, want trunk", sb.BaseBranch)
	}
	if _, err := os.Stat(filepath.Join(sb.Dir, "TRUNK.md")); err != nil {
		t.Errorf("sandbox not at origin/trunk: %v", err)
	}
}

func TestPrepare_Again_ReusesSandboxWithLocalChanges(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	s := worktreeSpec("wo-00000001")
	first := prepare(t, m, s)
	o.Git(t, first.Dir, "switch", "--quiet", "-c", "feat/login")
	writeFile(t, first.Dir, "committed.txt", "committed\n")
	commitAll(t, o, first.Dir, "Add committed")
	writeFile(t, first.Dir, "uncommitted.txt", "work in progress\n")
	// Upstream moves on meanwhile; the sandbox must not follow.
	o.Commit(t, "main", "upstream.txt", "upstream\n", "Upstream change")

	again := prepare(t, m, s)

	if again != first {
		t.Errorf("second Prepare = %+v, want %+v", again, first)
	}
	if branch, err := m.CurrentBranch(t.Context(), again.Dir); err != nil || branch != "feat/login" {
		t.Errorf("CurrentBranch = %q, %v; want feat/login", branch, err)
	}
	for _, f := range []string{"committed.txt", "uncommitted.txt"} {
		if _, err := os.Stat(filepath.Join(again.Dir, f)); err != nil {
			t.Errorf("%s lost: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(again.Dir, "upstream.txt")); err == nil {
		t.Error("a reused sandbox was updated from upstream")
	}
}

func TestPrepare_NewWorkOrder_SeesUpstreamCommitsFetchedIntoTheCache(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	prepare(t, m, worktreeSpec("wo-00000001"))
	o.Commit(t, "main", "upstream.txt", "upstream\n", "Upstream change")

	sb := prepare(t, m, worktreeSpec("wo-00000002"))

	if got, err := os.ReadFile(filepath.Join(sb.Dir, "upstream.txt")); err != nil || string(got) != "upstream\n" {
		t.Errorf("new sandbox misses the upstream commit: %q, %v", got, err)
	}
}

func TestPrepare_ParallelWorkOrdersOnOneRepository(t *testing.T) {
	o := gitfixture.New(t)
	// Two managers on one root behave like two executor processes on one
	// host: only the lock file keeps them apart.
	a := newManager(t, o)
	b := &sandbox.Manager{Root: a.Root, Env: a.Env, Logger: a.Logger}

	const n = 6
	var wg sync.WaitGroup
	results := make([]sandbox.Sandbox, n)
	errs := make([]error, n)
	for i := range n {
		m := a
		if i%2 == 1 {
			m = b
		}
		wg.Go(func() {
			results[i], errs[i] = m.Prepare(t.Context(), worktreeSpec(workorder.ID(fmt.Sprintf("wo-%08x", i))))
		})
	}
	wg.Wait()

	dirs := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("work order %d: %v", i, errs[i])
		}
		if dirs[results[i].Dir] {
			t.Errorf("two work orders share %s", results[i].Dir)
		}
		dirs[results[i].Dir] = true
		if _, err := os.Stat(filepath.Join(results[i].Dir, "README.md")); err != nil {
			t.Errorf("work order %d: %v", i, err)
		}
	}
	cache := filepath.Join(a.Root, "repos", repourl.CacheKey(o.URL), "main")
	list := o.Git(t, cache, "worktree", "list", "--porcelain")
	if got := strings.Count(list, "worktree "); got != n+1 {
		t.Errorf("git knows %d worktrees, want %d plus the cache:\n%s", got, n, list)
	}
}

func TestPrepare_BranchSandbox_IsAFullClonePerWorkOrder(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	s := sandbox.Spec{WorkOrderID: "wo-00000001", RepositoryURL: "git@github.com:acme/demo.git", Type: workorder.SandboxBranch}

	sb := prepare(t, m, s)

	if want := filepath.Join(m.Root, "branches", "sandbox-wo-00000001"); sb.Dir != want {
		t.Errorf("Dir = %s, want %s", sb.Dir, want)
	}
	if sb.BaseBranch != "main" {
		t.Errorf("BaseBranch = %q", sb.BaseBranch)
	}
	if st, err := os.Stat(filepath.Join(sb.Dir, ".git")); err != nil || !st.IsDir() {
		t.Errorf("want a full clone with a .git directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sb.Dir, "README.md")); err != nil {
		t.Error(err)
	}
	if _, err := m.CurrentBranch(t.Context(), sb.Dir); !errors.Is(err, sandbox.ErrDetachedHead) {
		t.Errorf("fresh branch sandbox: %v, want detached like a worktree", err)
	}
	if _, err := os.Stat(filepath.Join(m.Root, "repos")); err == nil {
		t.Error("a git_branch sandbox touched the worktree cache")
	}

	writeFile(t, sb.Dir, "local.txt", "mine\n")
	again := prepare(t, m, s)
	if again != sb {
		t.Errorf("second Prepare = %+v, want %+v", again, sb)
	}
	if _, err := os.Stat(filepath.Join(again.Dir, "local.txt")); err != nil {
		t.Errorf("reused branch sandbox lost a local file: %v", err)
	}
}

func TestPrepare_RepairsWhatACrashLeftBehind(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	s := worktreeSpec("wo-00000001")
	sb := prepare(t, m, s)

	t.Run("directory deleted behind git's back", func(t *testing.T) {
		if err := os.RemoveAll(sb.Dir); err != nil {
			t.Fatal(err)
		}
		again := prepare(t, m, s)
		if _, err := os.Stat(filepath.Join(again.Dir, "README.md")); err != nil {
			t.Error(err)
		}
	})
	t.Run("directory that is not a checkout", func(t *testing.T) {
		if err := os.RemoveAll(sb.Dir); err != nil {
			t.Fatal(err)
		}
		writeFile(t, sb.Dir, "half-written", "x")
		again := prepare(t, m, s)
		if _, err := os.Stat(filepath.Join(again.Dir, "README.md")); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(again.Dir, "half-written")); err == nil {
			t.Error("junk from the crashed attempt survived")
		}
	})
	t.Run("half-finished clone of the cache", func(t *testing.T) {
		m := newManager(t, o)
		junk := filepath.Join(m.Root, "repos", repourl.CacheKey(o.URL), "main.tmp-deadbeef")
		writeFile(t, junk, "partial", "x")
		prepare(t, m, s)
		if _, err := os.Stat(junk); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover clone %s not cleaned: %v", junk, err)
		}
	})
}

func TestPrepare_RejectsBadURLBeforeGitRuns(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	// A git on PATH that leaves a mark proves that no git process starts.
	bin := t.TempDir()
	marker := filepath.Join(t.TempDir(), "git-ran")
	script := "#!/bin/sh\ntouch '" + marker + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)

	for _, url := range []string{
		"--upload-pack=touch /tmp/pwned",
		"ext::sh -c touch% /tmp/pwned",
		"http://github.com/acme/demo",
		"https://user:secret@github.com/acme/demo",
		"file:///tmp/acme/demo",
		"https://github.com/acme/../demo",
		"",
	} {
		for _, typ := range []workorder.SandboxType{workorder.SandboxWorktree, workorder.SandboxBranch} {
			s := sandbox.Spec{WorkOrderID: "wo-00000001", RepositoryURL: url, Type: typ}
			if _, err := m.Prepare(t.Context(), s); !errors.Is(err, workorder.ErrInvalid) {
				t.Errorf("Prepare(%q, %s) = %v, want ErrInvalid", url, typ, err)
			}
			if err := m.Remove(t.Context(), s); !errors.Is(err, workorder.ErrInvalid) {
				t.Errorf("Remove(%q, %s) = %v, want ErrInvalid", url, typ, err)
			}
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("git ran for an invalid URL")
	}
	if entries, _ := os.ReadDir(m.Root); len(entries) != 0 {
		t.Errorf("invalid URLs left files in the root: %v", entries)
	}
}

func TestPrepare_RejectsUnsafeIdentifiers(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	for _, id := range []string{"../escape", "a/b", ".hidden", "-x", "a..b", strings.Repeat("x", 200)} {
		s := sandbox.Spec{WorkOrderID: "wo-00000001", RepositoryURL: o.URL, Identifier: id}
		if _, err := m.Prepare(t.Context(), s); !errors.Is(err, workorder.ErrInvalid) {
			t.Errorf("identifier %q: %v, want ErrInvalid", id, err)
		}
	}
}

func TestPrepare_MissingRepository_SaysWhatFailed(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	url := "https://github.com/acme/missing"

	for _, typ := range []workorder.SandboxType{workorder.SandboxWorktree, workorder.SandboxBranch} {
		_, err := m.Prepare(t.Context(), sandbox.Spec{WorkOrderID: "wo-00000001", RepositoryURL: url, Type: typ})
		if err == nil {
			t.Fatalf("%s: Prepare of a missing repository succeeded", typ)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "cloning "+url+": ") || !strings.Contains(msg, "git clone failed: repository not found, or no access to it") {
			t.Errorf("%s: error %q should name the URL and the kind of failure", typ, msg)
		}
		// git's own words name a path on the executor's machine.
		if strings.Contains(msg, "does not appear") || strings.Contains(msg, "/tmp/") {
			t.Errorf("%s: error %q echoes git's stderr", typ, msg)
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, "fatal:") {
			t.Errorf("%s: error %q should be one clean line", typ, msg)
		}
	}
	for _, dir := range []string{filepath.Join(m.Root, "repos", repourl.CacheKey(url)), filepath.Join(m.Root, "branches")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), "lock") {
				t.Errorf("failed clone left %s in %s", e.Name(), dir)
			}
		}
	}
}

func TestPrepare_CancelledContext(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Prepare(ctx, worktreeSpec("wo-00000001")); !errors.Is(err, context.Canceled) {
		t.Errorf("Prepare with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestProgress_CountsWorkSinceTheBase(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))

	p, err := m.Progress(t.Context(), sb)
	if err != nil {
		t.Fatal(err)
	}
	if p != (sandbox.Progress{}) {
		t.Errorf("fresh sandbox progress = %+v, want zero", p)
	}

	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/auth")
	writeFile(t, sb.Dir, "auth.go", "package auth\n")
	writeFile(t, sb.Dir, "README.md", "# demo\n\nNow with auth.\n")
	commitAll(t, o, sb.Dir, "feat: add auth\n\nLonger body that is not the subject.")
	writeFile(t, sb.Dir, "auth.go", "package auth // v2\n")
	commitAll(t, o, sb.Dir, "fix: tidy auth")
	writeFile(t, sb.Dir, "not-committed.txt", "x")
	// Upstream moving on must not count as the work order's changes.
	o.Commit(t, "main", "upstream.txt", "upstream\n", "Upstream change")
	prepare(t, m, worktreeSpec("wo-00000002")) // fetches origin/main into the shared cache

	p, err = m.Progress(t.Context(), sb)
	if err != nil {
		t.Fatal(err)
	}
	want := sandbox.Progress{Branch: "feat/auth", CommitCount: 2, FilesChanged: 2, LatestCommitMessage: "fix: tidy auth"}
	if p != want {
		t.Errorf("Progress = %+v, want %+v", p, want)
	}
}

func TestProgress_WithoutBaseBranchReadsOriginHead(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	writeFile(t, sb.Dir, "a.txt", "a")
	commitAll(t, o, sb.Dir, "Add a")

	p, err := m.Progress(t.Context(), sandbox.Sandbox{Dir: sb.Dir})
	if err != nil {
		t.Fatal(err)
	}
	if p.CommitCount != 1 || p.FilesChanged != 1 || p.Branch != "" || p.LatestCommitMessage != "Add a" {
		t.Errorf("Progress = %+v", p)
	}
}

func TestPush_BranchAppearsInOrigin(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/hello")
	writeFile(t, sb.Dir, "hello.txt", "hello\n")
	commitAll(t, o, sb.Dir, "Add hello")

	if err := m.Push(t.Context(), sb, "feat/hello", ""); err != nil {
		t.Fatal(err)
	}

	if got, ok := o.File(t, "feat/hello", "hello.txt"); !ok || got != "hello\n" {
		t.Errorf("origin feat/hello:hello.txt = %q, %v", got, ok)
	}
	if n := o.CommitCount(t, "feat/hello"); n != 2 {
		t.Errorf("origin feat/hello has %d commits, want 2", n)
	}
	if up := o.Git(t, sb.Dir, "rev-parse", "--abbrev-ref", "@{upstream}"); up != "origin/feat/hello" {
		t.Errorf("upstream = %q, want origin/feat/hello", up)
	}
	// Pushing what is already there is a no-op, not an error.
	if err := m.Push(t.Context(), sb, "feat/hello", ""); err != nil {
		t.Errorf("second push: %v", err)
	}
}

func TestPush_NeverForces(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/x")
	writeFile(t, sb.Dir, "x.txt", "x")
	commitAll(t, o, sb.Dir, "Add x")
	theirs := o.Commit(t, "feat/x", "theirs.txt", "theirs\n", "Someone else's work")

	err := m.Push(t.Context(), sb, "feat/x", "")
	if err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("push over someone else's commit = %v, want a rejection", err)
	}
	if got := o.Git(t, "", "--git-dir", o.Dir, "rev-parse", "feat/x"); got != theirs {
		t.Error("origin's branch was overwritten")
	}
}

func TestPush_RejectsInvalidBranchNames(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	for _, name := range []string{"", "-f", "--force", "bad..name", "has space", "HEAD", "x.lock", "a~1", "a:b", "trailing/", "@{-1}"} {
		if err := m.Push(t.Context(), sb, name, ""); !errors.Is(err, workorder.ErrInvalid) {
			t.Errorf("Push(%q) = %v, want ErrInvalid", name, err)
		}
	}
	if got := o.Branches(t); !slices.Equal(got, []string{"main"}) {
		t.Errorf("origin branches = %v after rejected pushes", got)
	}
}

func TestRemove_CleansUp(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	keep := prepare(t, m, worktreeSpec("wo-00000002"))
	s := worktreeSpec("wo-00000001")
	sb := prepare(t, m, s)
	writeFile(t, sb.Dir, "dirty.txt", "uncommitted")

	if err := m.Remove(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sandbox still there: %v", err)
	}
	cache := filepath.Join(m.Root, "repos", repourl.CacheKey(o.URL), "main")
	if list := o.Git(t, cache, "worktree", "list"); strings.Contains(list, sb.Dir) {
		t.Errorf("git still lists the removed worktree:\n%s", list)
	}
	if _, err := os.Stat(filepath.Join(keep.Dir, "README.md")); err != nil {
		t.Errorf("another work order's sandbox was touched: %v", err)
	}
	if err := m.Remove(t.Context(), s); err != nil {
		t.Errorf("removing twice: %v", err)
	}
	// The same work order can start over.
	again := prepare(t, m, s)
	if _, err := os.Stat(filepath.Join(again.Dir, "dirty.txt")); err == nil {
		t.Error("a removed sandbox came back with its old files")
	}

	bs := sandbox.Spec{WorkOrderID: "wo-00000003", RepositoryURL: o.URL, Type: workorder.SandboxBranch}
	bsb := prepare(t, m, bs)
	if err := m.Remove(t.Context(), bs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bsb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("branch sandbox still there: %v", err)
	}
}

// One removal is one "sandbox removed" line, for either kind of sandbox.
func TestRemove_LogsOneLinePerRemoval(t *testing.T) {
	o := gitfixture.New(t)
	logs := &syncbuf.Buffer{}
	m := &sandbox.Manager{Root: t.TempDir(), Env: o.Env(), Logger: slog.New(slog.NewTextHandler(logs, nil))}
	for i, s := range []sandbox.Spec{
		worktreeSpec("wo-00000001"),
		{WorkOrderID: "wo-00000002", RepositoryURL: o.URL, Type: workorder.SandboxBranch},
	} {
		prepare(t, m, s)
		if err := m.Remove(t.Context(), s); err != nil {
			t.Fatalf("Remove(%s): %v", s.Type, err)
		}
		if n := count(logs, `msg="sandbox removed"`); n != i+1 {
			t.Errorf("after removing the %s sandbox: %d \"sandbox removed\" lines in all, want %d\n%s", s.Type, n, i+1, logs)
		}
	}
}

func TestLock_SecondProcessWaitsForTheFirst(t *testing.T) {
	o := gitfixture.New(t)
	a := newManager(t, o)
	b := &sandbox.Manager{Root: a.Root, Env: a.Env, Logger: a.Logger}
	// Hold the repository lock from "another process" while a Prepare tries.
	release := make(chan struct{})
	held := make(chan struct{})
	go func() {
		unlock, err := sandbox.LockRepoForTest(t.Context(), a, repourl.CacheKey(o.URL))
		if err != nil {
			t.Error(err)
			close(held)
			return
		}
		close(held)
		<-release
		unlock()
	}()
	<-held
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Prepare(ctx, worktreeSpec("wo-00000001")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Prepare while the lock is held = %v, want to wait until the deadline", err)
	}
	close(release)
	prepare(t, b, worktreeSpec("wo-00000001"))
}

// An executor told about every cancelled work order removes only what it
// holds: for a sandbox that is not on this host it leaves no trace.
func TestRemove_SandboxNotHere_TouchesNothing(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	for _, s := range []sandbox.Spec{
		worktreeSpec("wo-00000004"),
		{WorkOrderID: "wo-00000005", RepositoryURL: o.URL, Type: workorder.SandboxBranch},
	} {
		if err := m.Remove(t.Context(), s); err != nil {
			t.Fatalf("Remove(%s): %v", s.Type, err)
		}
	}
	if entries, err := os.ReadDir(m.Root); err == nil && len(entries) > 0 {
		t.Errorf("removing absent sandboxes created %d entries under the root", len(entries))
	}
}

// count is how many times s stands in the log so far.
func count(l *syncbuf.Buffer, s string) int { return strings.Count(l.String(), s) }

// Work orders that queue on the repository lock share one fetch: a fetch
// that began after a sandbox was asked for is as fresh as its own. One
// asked for after that fetch began fetches again.
func TestPrepare_QueuedWorkOrders_ShareOneFetch(t *testing.T) {
	o := gitfixture.New(t)
	logs := &syncbuf.Buffer{}
	m := &sandbox.Manager{Root: t.TempDir(), Env: o.Env(), Logger: slog.New(slog.NewTextHandler(logs, nil))}
	prepare(t, m, worktreeSpec("wo-00000001")) // clones the cache

	release := make(chan struct{})
	held := make(chan struct{})
	go func() {
		unlock, err := sandbox.LockRepoForTest(t.Context(), &sandbox.Manager{Root: m.Root}, repourl.CacheKey(o.URL))
		close(held)
		if err != nil {
			t.Error(err)
			return
		}
		<-release
		unlock()
	}()
	<-held
	o.Commit(t, "main", "upstream.txt", "upstream\n", "Upstream change")
	var wg sync.WaitGroup
	dirs := make([]string, 3)
	for i := range dirs {
		wg.Go(func() {
			sb, err := m.Prepare(t.Context(), worktreeSpec(workorder.ID(fmt.Sprintf("wo-0000000%d", i+2))))
			if err != nil {
				t.Error(err)
				return
			}
			dirs[i] = sb.Dir
		})
	}
	time.Sleep(200 * time.Millisecond) // all three wait for the lock
	close(release)
	wg.Wait()
	if n := count(logs, "fetching cached clone"); n != 1 {
		t.Errorf("%d fetches for three work orders queued together, want 1", n)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "upstream.txt")); err != nil {
			t.Errorf("a sandbox misses the upstream commit made before it was asked for: %v", err)
		}
	}

	prepare(t, m, worktreeSpec("wo-00000009"))
	if n := count(logs, "fetching cached clone"); n != 2 {
		t.Errorf("%d fetches after a later work order, want 2: it was asked for after the last fetch began", n)
	}
}

// Origin's default branch is read from origin/HEAD; when that is missing,
// dangling or not symbolic, origin is asked again rather than failing.
func TestProgress_FindsTheBaseBranchWhateverStateOriginHEADIsIn(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil []string // git arguments run in the sandbox
	}{
		{"intact", nil},
		{"missing", []string{"symbolic-ref", "--delete", "refs/remotes/origin/HEAD"}},
		{"dangling", []string{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/gone"}},
		{"not symbolic", []string{"update-ref", "--no-deref", "refs/remotes/origin/HEAD", "HEAD"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := gitfixture.New(t)
			m := newManager(t, o)
			sb := prepare(t, m, worktreeSpec("wo-0000ba5e"))
			if c.spoil != nil {
				o.Git(t, sb.Dir, c.spoil...)
			}
			p, err := m.Progress(t.Context(), sandbox.Sandbox{Dir: sb.Dir}) // no base branch known: read it
			if err != nil {
				t.Fatal(err)
			}
			if p.CommitCount != 0 || p.FilesChanged != 0 {
				t.Fatalf("progress of an untouched sandbox = %+v", p)
			}
			if got := strings.TrimSpace(o.Git(t, sb.Dir, "symbolic-ref", "refs/remotes/origin/HEAD")); got != "refs/remotes/origin/main" {
				t.Errorf("origin/HEAD afterwards = %q", got)
			}
		})
	}
}

// A step whose executor died after pushing runs again from the checkpoint
// before it and makes its commit again (another commit id): its push may
// replace what the earlier run pushed, which sits on top of where the
// step began, and nothing else.
func TestPush_ARerunReplacesOnlyWhatItsEarlierRunPushed(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	sb := prepare(t, m, worktreeSpec("wo-00000001"))
	o.Git(t, sb.Dir, "switch", "--quiet", "-c", "feat/x")
	began := o.Git(t, sb.Dir, "rev-parse", "HEAD")
	writeFile(t, sb.Dir, "x.txt", "first run\n")
	commitAll(t, o, sb.Dir, "Add x")
	if err := m.Push(t.Context(), sb, "feat/x", ""); err != nil {
		t.Fatal(err)
	}
	first := o.Git(t, sb.Dir, "rev-parse", "HEAD")

	// The run again, from the checkpoint taken where the step began.
	o.Git(t, sb.Dir, "reset", "--quiet", "--hard", began)
	writeFile(t, sb.Dir, "x.txt", "second run\n")
	commitAll(t, o, sb.Dir, "Add x, again")
	second := o.Git(t, sb.Dir, "rev-parse", "HEAD")
	originAt := func() string { return o.Git(t, "", "--git-dir", o.Dir, "rev-parse", "feat/x") }

	if err := m.Push(t.Context(), sb, "feat/x", ""); err == nil || originAt() != first {
		t.Fatalf("a first run's push over another commit = %v; origin at %s, want it rejected and %s kept", err, originAt(), first)
	}
	// Claiming to have begun elsewhere (at a commit origin's branch does not
	// build on) replaces nothing either.
	if err := m.Push(t.Context(), sb, "feat/x", second); err == nil || originAt() != first {
		t.Fatalf("a rerun that began past origin's branch = %v; origin at %s, want %s kept", err, originAt(), first)
	}
	if err := m.Push(t.Context(), sb, "feat/x", began); err != nil {
		t.Fatalf("the rerun's push: %v", err)
	}
	if got := originAt(); got != second {
		t.Fatalf("origin's branch at %s after the rerun's push, want %s", got, second)
	}
}
