package sandbox_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/testkit/unixuser"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agentuser"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// agentManager is a Manager whose sandboxes go to a throwaway user, under
// a root the user can reach.
func agentManager(t *testing.T, o *gitfixture.Origin) (*sandbox.Manager, *unixuser.User) {
	t.Helper()
	u := unixuser.New(t) // skips unless root
	id, err := agentuser.Resolve(u.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, o)
	unixuser.Reachable(t, m.Root)
	m.Owner = id
	return m, u
}

// asAgent runs a shell command in dir as u, the way the agent's Bash tool
// would, with no access to the test's git configuration.
func asAgent(t *testing.T, u *unixuser.User, dir, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + u.Home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com", "GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID)}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustAsAgent(t *testing.T, u *unixuser.User, dir, script string) string {
	t.Helper()
	out, err := asAgent(t, u, dir, script)
	if err != nil {
		t.Fatalf("as the agent user: %s: %v\n%s", script, err, out)
	}
	return out
}

func owner(t *testing.T, path string) (uid, gid int, mode os.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sys().(*syscall.Stat_t)
	return int(s.Uid), int(s.Gid), st.Mode()
}

func TestAgentUser_WorktreeIsTheAgentsAndTheExecutorStillDrivesIt(t *testing.T) {
	o := gitfixture.New(t)
	m, u := agentManager(t, o)
	spec := worktreeSpec("wo-a0000001")
	sb := prepare(t, m, spec)

	// The worktree and every file in it are the agent's; its parent is
	// root's and cannot be listed; the store's config stays root's.
	if uid, _, mode := owner(t, sb.Dir); uid != u.UID || mode.Perm() != 0o700 {
		t.Errorf("sandbox: uid %d mode %v, want %d and 0700", uid, mode, u.UID)
	}
	if uid, _, _ := owner(t, filepath.Join(sb.Dir, "README.md")); uid != u.UID {
		t.Errorf("README.md: uid %d, want %d", uid, u.UID)
	}
	if uid, _, mode := owner(t, filepath.Dir(sb.Dir)); uid != 0 || mode.Perm() != 0o711 {
		t.Errorf("trees/: uid %d mode %v, want root and 0711", uid, mode)
	}
	gitDir := filepath.Join(filepath.Dir(filepath.Dir(sb.Dir)), "main", ".git")
	for _, p := range []string{gitDir, filepath.Join(gitDir, "config"), filepath.Join(gitDir, "hooks")} {
		if uid, gid, mode := owner(t, p); uid != 0 || gid != 0 || mode.Perm()&0o022 != 0 {
			t.Errorf("%s: %d:%d %v, want root's and writable by root alone", p, uid, gid, mode)
		}
	}
	// What root's git writes (packs, remote-tracking refs, checkpoint
	// refs) is out of the agent's reach, and there are no reflogs.
	for _, p := range []string{"objects/pack", "objects/info", "refs", "refs/remotes"} {
		if uid, _, mode := owner(t, filepath.Join(gitDir, p)); uid != 0 || mode.Perm()&0o022 != 0 {
			t.Errorf("%s: uid %d %v, want root's alone", p, uid, mode)
		}
	}
	if _, _, mode := owner(t, filepath.Join(gitDir, "objects")); mode&os.ModeSticky == 0 || mode.Perm()&0o020 == 0 {
		t.Errorf("objects/: %v, want group-writable and sticky", mode)
	}
	if _, err := os.Stat(filepath.Join(gitDir, "logs")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reflogs kept: %v", err)
	}
	for _, script := range []string{
		"mv " + filepath.Join(gitDir, "objects", "pack") + " " + filepath.Join(gitDir, "objects", "moved"),
		"ln -s /etc " + filepath.Join(gitDir, "refs", "remotes", "evil"),
		"ln -s /etc " + filepath.Join(gitDir, "worktrees", "evil"),
	} {
		if out, err := asAgent(t, u, sb.Dir, script); err == nil {
			t.Errorf("the agent could: %s (%s)", script, out)
		}
	}
	if out, err := asAgent(t, u, sb.Dir, "ls "+filepath.Dir(sb.Dir)); err == nil {
		t.Errorf("the agent listed the other sandboxes: %s", out)
	}
	if out, err := asAgent(t, u, sb.Dir, "echo x >> "+filepath.Join(gitDir, "config")); err == nil {
		t.Errorf("the agent wrote the shared clone's config: %s", out)
	}

	// The agent works in its worktree as in any checkout: branch, commit.
	mustAsAgent(t, u, sb.Dir, "git checkout --quiet -b feat/agent && echo hello > hello.txt && git add hello.txt && git commit --quiet -m 'Add hello'")

	// The executor (root) reads, checkpoints and pushes it.
	if b, err := m.CurrentBranch(t.Context(), sb.Dir); err != nil || b != "feat/agent" {
		t.Fatalf("CurrentBranch = %q, %v", b, err)
	}
	p, err := m.Progress(t.Context(), sb)
	if err != nil || p.CommitCount != 1 || p.LatestCommitMessage != "Add hello" {
		t.Fatalf("Progress = %+v, %v", p, err)
	}
	mustAsAgent(t, u, sb.Dir, "echo draft > draft.txt")
	cp, err := m.Snapshot(t.Context(), spec, sb)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "cp.bundle")
	if err := m.Bundle(t.Context(), spec, sb, cp, bundle); err != nil {
		t.Fatal(err)
	}
	if err := m.Push(t.Context(), sb, "feat/agent", ""); err != nil {
		t.Fatal(err)
	}
	if !o.HasBranch(t, "feat/agent") {
		t.Fatal("feat/agent not pushed")
	}

	// Restored (as on another executor, or after a crash), the sandbox is
	// the agent's again and it can go on committing.
	sb2, err := m.Restore(t.Context(), spec, cp, bundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"", "hello.txt", "draft.txt"} {
		if uid, _, _ := owner(t, filepath.Join(sb2.Dir, f)); uid != u.UID {
			t.Errorf("restored %q: uid %d, want %d", f, uid, u.UID)
		}
	}
	mustAsAgent(t, u, sb2.Dir, "git add draft.txt && git commit --quiet -m 'Add draft'")
	if p, err := m.Progress(t.Context(), sb2); err != nil || p.CommitCount != 2 {
		t.Fatalf("Progress after restore = %+v, %v", p, err)
	}

	// Root's git wrote no loose object, where the agent could have put a
	// link in its way: the snapshots were made by the agent user's git.
	loose, _ := filepath.Glob(filepath.Join(gitDir, "objects", "??", "*"))
	if len(loose) == 0 {
		t.Fatal("no loose objects: the test proves nothing")
	}
	for _, f := range loose {
		if uid, _, _ := owner(t, f); uid == 0 {
			t.Errorf("root wrote the loose object %s", f)
		}
	}

	// Retention's removal works on the agent's files.
	if err := m.Remove(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sb2.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sandbox left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(gitDir, "worktrees", spec.Identifier)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("worktree entry left behind: %v", err)
	}
}

// The agent owns its worktree's .git file: pointed at a repository whose
// config runs a command, it must not make the executor's git (root) run
// it. The executor names the repository itself, so it goes on working.
func TestAgentUser_ExecutorGitIgnoresTheAgentsDotGit(t *testing.T) {
	o := gitfixture.New(t)
	m, u := agentManager(t, o)
	spec := worktreeSpec("wo-a0000002")
	sb := prepare(t, m, spec)

	pwned := filepath.Join(u.Home, "pwned")
	evil := filepath.Join(u.Home, "evil")
	mustAsAgent(t, u, sb.Dir, "git init --quiet "+evil+
		" && git -C "+evil+" commit --quiet --allow-empty -m evil && git -C "+evil+" update-ref refs/remotes/origin/main HEAD"+
		" && git -C "+evil+" config core.fsmonitor 'id -u > "+pwned+"; false'"+
		" && git -C "+evil+" config core.hooksPath "+evil+
		" && echo 'gitdir: "+evil+"/.git' > .git && echo new > new.txt")

	if _, err := m.Snapshot(t.Context(), spec, sb); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if _, err := m.Progress(t.Context(), sb); err != nil {
		t.Fatalf("Progress: %v", err)
	}
	if b, err := os.ReadFile(pwned); err == nil {
		t.Fatalf("the executor's git ran the agent's fsmonitor command as uid %s", strings.TrimSpace(string(b)))
	}
}

func TestAgentUser_GitBranchSandboxIsRefused(t *testing.T) {
	o := gitfixture.New(t)
	m, _ := agentManager(t, o)
	_, err := m.Prepare(t.Context(), sandbox.Spec{WorkOrderID: "wo-a0000003", RepositoryURL: o.URL, Type: workorder.SandboxBranch})
	if !errors.Is(err, sandbox.ErrBranchWithAgentUser) || !strings.Contains(err.Error(), "AWO_AGENT_USER") {
		t.Fatalf("Prepare(git_branch) = %v", err)
	}
}
