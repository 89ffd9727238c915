package sandbox

// Sandboxes handed to the agent user (Manager.Owner, AWO_AGENT_USER).
//
// The rule: root's git never runs on, and root never writes into, anything
// the agent can write. Whatever root's git writes into a directory the
// agent may change can be redirected by a link the agent plants there (a
// loose object, whose content the agent chooses, written through
// objects/<xx> -> /etc/cron.d; a reflog appended through a link to
// /etc/passwd), and whatever config root's git reads there can make it run
// a command (core.fsmonitor, core.sshCommand, filter drivers, ...).
//
// A git_worktree sandbox is a worktree of the repository's cached clone:
// its commits go into the clone's store. With an agent user:
//
//   - the worktree (0700) and its entry worktrees/<id> in the clone belong
//     to the agent user; trees/ (0711) and worktrees/ stay root's, so the
//     agent cannot swap either for a link;
//   - of the clone's store only objects/ (group-writable, setgid, sticky:
//     root's pack/ and info/ cannot be moved away), the loose object
//     directories and refs/heads are shared with the agent's group;
//     core.sharedRepository=group keeps what either side creates there
//     writable by both. The top git directory, its config and hooks,
//     refs/remotes and refs/awo stay root's alone;
//   - every git command the executor runs in the sandbox (progress,
//     branch, the checkpoint snapshot, a restore's checkout) runs as the
//     agent user, with the repository named explicitly (GIT_DIR,
//     GIT_COMMON_DIR, GIT_WORK_TREE) so the agent's .git file is not
//     followed, and with none of the executor's environment;
//   - root's git works in the cached clone only: fetch (written as packs
//     only: fetch/transfer.unpackLimit=1), push of the commit the agent's
//     HEAD is at, the checkpoint ref and bundle, worktree add. No reflogs
//     (logs/ removed, core.logAllRefUpdates=false), no gc or maintenance,
//     no worktree prune: each would write or delete by path where the
//     agent may have planted links.
//
// safe.directory is never set: git's "dubious ownership" check is what
// keeps root's git from trusting a repository another user controls.
//
// git_branch sandboxes (a full clone per work order, whose git directory
// is inside the sandbox) cannot be handed over that way: the agent would
// own the directory holding the config root's git reads. They are refused
// while an agent user is set.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrBranchWithAgentUser refuses git_branch sandboxes with an agent user.
var ErrBranchWithAgentUser = fmt.Errorf("%w: git_branch sandboxes cannot be used with AWO_AGENT_USER "+
	"(the agent would own the clone's git directory, whose config the executor's git reads as root); use git_worktree", workorder.ErrInvalid)

// sharedGIDKey records in a cached clone's config which group its store
// was handed to, so a clone is converted once, and again when the group
// changes.
const sharedGIDKey = "awo.agentGroup"

func (m *Manager) ownerSupports(l layout) error {
	if m.Owner != nil && l.kind == workorder.SandboxBranch {
		return ErrBranchWithAgentUser
	}
	return nil
}

// adminDir is where the cached clone keeps a worktree's HEAD and index.
// createWorktree and Restore prune stale entries first, so git names it
// after the sandbox; handOver checks that it did.
func (m *Manager) adminDir(l layout) string {
	return filepath.Join(l.cache, ".git", "worktrees", l.id)
}

// ownedWorktree is the layout of dir when it is a git_worktree sandbox
// of the agent user.
func (m *Manager) ownedWorktree(dir string) (layout, bool) {
	if m.Owner == nil || m.Root == "" {
		return layout{}, false
	}
	root, err := filepath.Abs(m.Root)
	if err != nil {
		return layout{}, false
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return layout{}, false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 4 || parts[0] != "repos" || parts[2] != "trees" || !identifierPattern.MatchString(parts[3]) {
		return layout{}, false
	}
	return layout{id: parts[3], kind: workorder.SandboxWorktree, dir: filepath.Join(root, rel),
		cache: filepath.Join(root, "repos", parts[1], "main")}, true
}

// repoEnv names the repository of dir for git explicitly when dir is a
// sandbox of the agent user (see the top of this file); nil otherwise,
// leaving git to discover it.
func (m *Manager) repoEnv(dir string) []string {
	l, ok := m.ownedWorktree(dir)
	if !ok {
		return nil
	}
	return []string{
		"GIT_DIR=" + m.adminDir(l),
		"GIT_COMMON_DIR=" + filepath.Join(l.cache, ".git"),
		"GIT_WORK_TREE=" + l.dir,
	}
}

// rootDir is where root's git works on dir's repository: the cached
// clone for a sandbox of the agent user, dir itself otherwise.
func (m *Manager) rootDir(dir string) string {
	if l, ok := m.ownedWorktree(dir); ok {
		return l.cache
	}
	return dir
}

// agentGitEnv is the whole environment of a git run as the agent user:
// none of the executor's variables (its credentials would be readable in
// /proc by the agent's processes, which share the uid), no global or
// system git config, no prompts.
func (m *Manager) agentGitEnv() []string {
	env := []string{"HOME=" + m.Owner.Home, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "LANG" || k == "TZ" || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	return env
}

// ownerWorkingTree is workingTree for a sandbox of the agent user: the
// temporary index lives in a directory handed to it, and the copy of the
// sandbox's index is made by the agent user (root opening a file the
// agent may have swapped for a link could copy one only root may read).
func (m *Manager) ownerWorkingTree(ctx context.Context, dir string, exclude []string) (string, error) {
	l, _ := m.ownedWorktree(dir)
	tmp, err := os.MkdirTemp("", "awo-index-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chown(tmp, int(m.Owner.UID), int(m.Owner.GID)); err != nil {
		return "", err
	}
	index := filepath.Join(tmp, "index")
	cp := exec.CommandContext(ctx, "cp", "--preserve=timestamps", "--", filepath.Join(m.adminDir(l), "index"), index)
	cp.Env = m.agentGitEnv()
	m.runAsOwner(cp)
	_ = cp.Run() // without a copy git hashes every file: slower, same tree
	env := []string{"GIT_INDEX_FILE=" + index}
	if _, err := m.gitRawEnv(ctx, dir, env, append([]string{"add", "--all", "--", "."}, exclude...)...); err != nil {
		return "", err
	}
	return m.gitEnvTrim(ctx, dir, env, "write-tree")
}

// pushArgs is a push of src with -u when src is the sandbox's HEAD; a
// commit id (the agent user's HEAD, pushed from the cached clone) names
// no local branch to set it on, and setUpstream does it instead.
func pushArgs(src string, args ...string) []string {
	if src == "HEAD" {
		return append([]string{"push", "-u"}, args...)
	}
	return append([]string{"push"}, args...)
}

// setUpstream records origin's branch as the upstream of the local branch
// after a push of a commit id, as push -u does for HEAD.
func (m *Manager) setUpstream(ctx context.Context, repo, src, branch string) error {
	if src == "HEAD" {
		return nil
	}
	for _, kv := range [][2]string{{"branch." + branch + ".remote", "origin"}, {"branch." + branch + ".merge", "refs/heads/" + branch}} {
		if _, err := m.git(ctx, repo, "config", kv[0], kv[1]); err != nil {
			return fmt.Errorf("setting the upstream of %s: %w", branch, err)
		}
	}
	return nil
}

// shareCache hands the cached clone's store to the agent's group, once:
// before any worktree of it is handed to the agent, when nothing in it is
// writable by anyone but root yet. The caller holds the repository lock.
func (m *Manager) shareCache(ctx context.Context, l layout) error {
	if m.Owner == nil {
		return nil
	}
	gid := strconv.FormatUint(uint64(m.Owner.GID), 10)
	if got, _ := m.git(ctx, l.cache, "config", "--get", sharedGIDKey); got == gid {
		return nil
	}
	gitDir := filepath.Join(l.cache, ".git")
	// No reflogs, from anyone: root's git appends to a reflog through any
	// link the agent could plant in a directory it may write.
	if err := os.RemoveAll(filepath.Join(gitDir, "logs")); err != nil {
		return fmt.Errorf("sharing %s with the agent user: %w", l.cache, err)
	}
	for _, d := range []string{"objects", filepath.Join("refs", "heads"), "worktrees"} {
		if err := os.MkdirAll(filepath.Join(gitDir, d), 0o755); err != nil {
			return fmt.Errorf("sharing %s with the agent user: %w", l.cache, err)
		}
	}
	// objects/: the agent adds loose objects; sticky, so it cannot move
	// root's pack/ and info/ away and put links in their place. refs/heads:
	// the agent's branches. Nothing else: root's git writes only packs
	// (unpackLimit=1), refs/remotes and refs/awo, all out of its reach.
	objects := filepath.Join(gitDir, "objects")
	if err := shareDir(objects, int(m.Owner.GID), true); err != nil {
		return fmt.Errorf("sharing %s with the agent user: %w", l.cache, err)
	}
	loose, err := os.ReadDir(objects)
	if err != nil {
		return fmt.Errorf("sharing %s with the agent user: %w", l.cache, err)
	}
	for _, e := range loose {
		if len(e.Name()) == 2 && e.IsDir() && strings.Trim(e.Name(), "0123456789abcdef") == "" {
			if err := shareTree(filepath.Join(objects, e.Name()), int(m.Owner.GID)); err != nil {
				return fmt.Errorf("sharing %s with the agent user: %w", l.cache, err)
			}
		}
	}
	if err := shareTree(filepath.Join(gitDir, "refs", "heads"), int(m.Owner.GID)); err != nil {
		return fmt.Errorf("sharing %s with the agent user: %w", l.cache, err)
	}
	// Last: a crash before this converts the clone again next time.
	for _, kv := range [][2]string{
		{"core.sharedRepository", "group"},
		{"core.logAllRefUpdates", "false"},
		// gc would prune worktree entries and loose objects by path, as
		// root, in directories the agent may write.
		{"gc.auto", "0"},
		{"maintenance.auto", "false"},
		{"fetch.unpackLimit", "1"},
		{"transfer.unpackLimit", "1"},
		{sharedGIDKey, gid},
	} {
		if _, err := m.git(ctx, l.cache, "config", kv[0], kv[1]); err != nil {
			return fmt.Errorf("sharing %s with the agent user: setting %s: %w", l.cache, kv[0], err)
		}
	}
	return nil
}

// handOver gives a git_worktree sandbox and its entry in the git store to
// the agent user. With ifNeeded, a sandbox whose top directory is the
// agent's already is left alone (a reused sandbox, handed over when it was
// made).
func (m *Manager) handOver(ctx context.Context, l layout, ifNeeded bool) error {
	if m.Owner == nil || l.kind != workorder.SandboxWorktree {
		return nil
	}
	uid, gid := int(m.Owner.UID), int(m.Owner.GID)
	if ifNeeded {
		if st, err := os.Lstat(l.dir); err == nil && ownerOf(st) == m.Owner.UID {
			return nil
		}
		if err := m.shareCache(ctx, l); err != nil {
			return err
		}
	}
	admin := m.adminDir(l)
	// The entry must be this sandbox's: git names it after the directory
	// unless that name is taken, and repoEnv relies on it.
	b, err := os.ReadFile(filepath.Join(admin, "gitdir"))
	got := filepath.Clean(strings.TrimSpace(string(b)))
	real, _ := filepath.EvalSymlinks(l.dir)
	if err != nil || (got != filepath.Join(l.dir, ".git") && got != filepath.Join(real, ".git")) {
		return fmt.Errorf("handing sandbox %s to the agent user: git keeps it elsewhere than %s (%v)", l.dir, admin, errOr(err, "gitdir names another worktree"))
	}
	// trees/ is root's: the agent cannot swap its worktree for a link.
	if err := os.Chmod(filepath.Dir(l.dir), 0o711); err != nil {
		return fmt.Errorf("handing sandbox %s to the agent user: %w", l.dir, err)
	}
	if err := chownTree(l.dir, uid, gid); err != nil {
		return fmt.Errorf("handing sandbox %s to the agent user: %w", l.dir, err)
	}
	if err := os.Chmod(l.dir, 0o700); err != nil {
		return fmt.Errorf("handing sandbox %s to the agent user: %w", l.dir, err)
	}
	if err := chownTree(admin, uid, gid); err != nil {
		return fmt.Errorf("handing sandbox %s to the agent user: %w", l.dir, err)
	}
	return nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
