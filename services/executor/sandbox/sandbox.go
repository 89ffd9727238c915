// Package sandbox prepares and inspects the isolated git checkout a work
// order runs in.
//
// Layout under Manager.Root (AGENT_WORK_ORDER_TEMP_DIR):
//
//	repos/<cache key>/main               one cached clone per repository
//	repos/<cache key>/trees/<identifier> git_worktree: a worktree per work order
//	repos/<cache key>/lock               serialises clone, fetch and worktree changes
//	branches/<identifier>                git_branch: a full clone per work order
//	<sandbox>.checkpoint                 the checkpoint the sandbox is known to be at
//
// Every step of a work order calls Prepare; only the first one creates the
// sandbox, later ones get it back untouched, with whatever the agent left in
// it. Checkpoint and Restore (checkpoint.go) carry a sandbox to another
// executor, or back to its last good state after an interrupted step.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agentuser"
)

// ErrDetachedHead is returned by CurrentBranch when no branch is checked out,
// as in a fresh sandbox before create-branch ran.
var ErrDetachedHead = errors.New("HEAD is detached: no branch is checked out")

// Spec names the sandbox of one work order.
type Spec struct {
	WorkOrderID   workorder.ID
	RepositoryURL string
	// Type is the kind of sandbox; empty means git_worktree.
	Type workorder.SandboxType
	// Identifier names the sandbox directory; empty means
	// WorkOrderID.SandboxIdentifier().
	Identifier string
}

// Sandbox is a prepared checkout.
type Sandbox struct {
	Dir string
	// BaseBranch is origin's default branch, the one the work order's pull
	// request will target.
	BaseBranch string
}

// Progress is what the work order has done in its sandbox so far, compared
// with origin/<BaseBranch>.
type Progress struct {
	Branch              string // empty while HEAD is detached
	CommitCount         int    // commits on HEAD that are not on the base branch
	FilesChanged        int    // files differing between the merge base and HEAD
	LatestCommitMessage string // subject of HEAD; empty when CommitCount is 0
}

// Manager prepares sandboxes under Root. The zero value of the unexported
// fields is ready to use; a Manager must not be copied after first use.
type Manager struct {
	Root       string       // AGENT_WORK_ORDER_TEMP_DIR
	AllowLocal bool         // accept file:// URLs, local paths and local hosts
	Env        []string     // extra environment for git, e.g. GIT_CONFIG_GLOBAL
	Logger     *slog.Logger // nil: slog.Default() (see package app)
	// Allowed (AWO_ALLOWED_REPOSITORIES) limits the repositories a sandbox
	// may be made of; empty allows any.
	Allowed repourl.Allowlist
	// GitTimeout (AWO_GIT_TIMEOUT) bounds one clone, fetch or push; 0 means
	// DefaultGitTimeout.
	GitTimeout time.Duration

	// operatorCfg is the operator's own git configuration, read once.
	operatorOnce sync.Once
	operatorCfg  operatorConfig
	// Owner, when set (AWO_AGENT_USER), is the user the agent runs as;
	// each sandbox is handed to it, part of the cached clone's store is
	// shared with its group, and git in a sandbox runs as it (see
	// owner.go). The Manager itself must then run as root.
	Owner *agentuser.Identity

	mu    sync.Mutex
	locks map[string]*lockEntry
	// fetched is when the last fetch of each cached clone began: a
	// sandbox asked for after that is as fresh with it as with a fetch of
	// its own, so work orders that queue on the repository lock share one.
	fetched map[string]time.Time
}

var identifierPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Prepare returns the work order's sandbox, creating it on first use. An
// existing sandbox is reused as it is: never reset, never cloned again.
func (m *Manager) Prepare(ctx context.Context, s Spec) (Sandbox, error) {
	l, err := m.layout(s)
	if err != nil {
		return Sandbox{}, err
	}
	log := m.logger().With("work_order_id", s.WorkOrderID, "repository", repourl.Mask(s.RepositoryURL),
		"sandbox_type", l.kind, "sandbox", l.dir)
	start := time.Now()

	unlock, err := m.lock(ctx, l.lockPath)
	if err != nil {
		return Sandbox{}, fmt.Errorf("preparing sandbox for %s: %w", repourl.Mask(s.RepositoryURL), err)
	}
	defer unlock()

	if err := m.ownerSupports(l); err != nil {
		return Sandbox{}, err
	}
	ready, err := m.isCheckout(ctx, l.dir)
	if err != nil {
		return Sandbox{}, err
	}
	if ready {
		base, err := m.baseBranch(ctx, l.dir)
		if err != nil {
			return Sandbox{}, err
		}
		// A sandbox from before AWO_AGENT_USER was set is still root's.
		if err := m.handOver(ctx, l, true); err != nil {
			return Sandbox{}, err
		}
		log.Info("reusing sandbox", "base_branch", base)
		return Sandbox{Dir: l.dir, BaseBranch: base}, nil
	}

	var base string
	switch l.kind {
	case workorder.SandboxWorktree:
		base, err = m.createWorktree(ctx, s.RepositoryURL, l, start, log)
	case workorder.SandboxBranch:
		base, err = m.createClone(ctx, s.RepositoryURL, l.dir, log)
	}
	if err == nil {
		err = m.handOver(ctx, l, false)
	}
	if err != nil {
		return Sandbox{}, err
	}
	log.Info("sandbox created", "base_branch", base, "duration_ms", time.Since(start).Milliseconds())
	return Sandbox{Dir: l.dir, BaseBranch: base}, nil
}

// Remove deletes the work order's sandbox; removing one that does not exist
// is not an error. The cached clone stays for other work orders.
func (m *Manager) Remove(ctx context.Context, s Spec) error {
	l, err := m.layout(s)
	if err != nil {
		return err
	}
	if !exists(l.dir) {
		// Not on this host (another executor held it) or gone already;
		// taking the lock would create lock files for nothing.
		return nil
	}
	return m.remove(ctx, l, m.logger().With("work_order_id", s.WorkOrderID, "sandbox_type", l.kind, "sandbox", l.dir))
}

// remove deletes the sandbox at l under its lock: through git for a
// worktree, so the cached clone forgets it; with its lock file and clone
// leftovers for a git_branch clone.
func (m *Manager) remove(ctx context.Context, l layout, log *slog.Logger) error {
	unlock, err := m.lock(ctx, l.lockPath)
	if err != nil {
		return fmt.Errorf("removing sandbox %s: %w", l.dir, err)
	}
	defer unlock()
	if err := m.removeLocked(ctx, l, log); err != nil {
		return err
	}
	log.Info("sandbox removed")
	return nil
}

// removeLocked deletes the sandbox, its checkpoint marker and its
// checkpoint ref in the cached clone. The caller holds the lock and says
// what it did: remove logs "sandbox removed", a restore its own line.
func (m *Manager) removeLocked(ctx context.Context, l layout, log *slog.Logger) error {
	if err := os.Remove(l.markerPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing checkpoint marker of %s: %w", l.dir, err)
	}
	cached := false
	var err error
	if l.kind == workorder.SandboxWorktree {
		if cached, err = m.isCheckout(ctx, l.cache); err != nil {
			return err
		}
	}
	if cached && m.Owner != nil {
		// The agent owns the tree and its entry in the git store: they go
		// by os.RemoveAll, which never follows a symbolic link the agent
		// may swap in, and prune below drops what git still remembers.
		if err := os.RemoveAll(m.adminDir(l)); err != nil {
			return fmt.Errorf("removing the git bookkeeping of sandbox %s: %w", l.dir, err)
		}
	} else if cached {
		// Let git drop its bookkeeping too; --force twice also removes a
		// worktree with uncommitted changes or a lock.
		if _, err := m.git(ctx, l.cache, "worktree", "remove", "--force", "--force", l.dir); err != nil && exists(l.dir) {
			log.Warn("git worktree remove failed; deleting the directory", "err", err)
		}
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("removing sandbox %s: %w", l.dir, err)
	}
	if cached {
		// Not with an agent user: prune deletes worktree entries by path,
		// recursively, and the agent may plant entries; its own entry went
		// above.
		if m.Owner == nil {
			if _, err := m.git(ctx, l.cache, "worktree", "prune"); err != nil {
				return fmt.Errorf("pruning worktrees of %s: %w", l.cache, err)
			}
		}
		if _, err := m.git(ctx, l.cache, "update-ref", "-d", l.checkpointRef()); err != nil {
			return fmt.Errorf("deleting %s in %s: %w", l.checkpointRef(), l.cache, err)
		}
	}
	if l.kind == workorder.SandboxBranch {
		// Clones a crash left half-done, and the clone's own lock: deleting
		// it while held is safe (see flockPath).
		stale, _ := filepath.Glob(l.dir + ".tmp-*")
		for _, p := range stale {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("removing leftover %s: %w", p, err)
			}
		}
		if err := os.Remove(l.lockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing lock file %s: %w", l.lockPath, err)
		}
	}
	return nil
}

// Progress compares HEAD of the sandbox with origin/<base>.
func (m *Manager) Progress(ctx context.Context, sb Sandbox) (Progress, error) {
	base := sb.BaseBranch
	if base == "" {
		b, err := m.baseBranch(ctx, sb.Dir)
		if err != nil {
			return Progress{}, err
		}
		base = b
	}
	baseRef := "refs/remotes/origin/" + base
	var p Progress
	branch, err := m.CurrentBranch(ctx, sb.Dir)
	switch {
	case err == nil:
		p.Branch = branch
	case !errors.Is(err, ErrDetachedHead):
		return Progress{}, err
	}

	count, err := m.git(ctx, sb.Dir, "rev-list", "--count", baseRef+"..HEAD")
	if err != nil {
		return Progress{}, fmt.Errorf("counting commits since %s in %s: %w", baseRef, sb.Dir, err)
	}
	if p.CommitCount, err = strconv.Atoi(count); err != nil {
		return Progress{}, fmt.Errorf("counting commits since %s: git printed %q", baseRef, count)
	}
	// -z: file names may contain newlines.
	names, err := m.gitRaw(ctx, sb.Dir, "diff", "--no-ext-diff", "--no-textconv", "--name-only", "-z", baseRef+"...HEAD")
	if err != nil {
		return Progress{}, fmt.Errorf("listing files changed since %s in %s: %w", baseRef, sb.Dir, err)
	}
	if names = strings.TrimRight(names, "\x00"); names != "" {
		p.FilesChanged = strings.Count(names, "\x00") + 1
	}
	if p.CommitCount > 0 {
		if p.LatestCommitMessage, err = m.git(ctx, sb.Dir, "log", "-1", "--format=%s", "HEAD"); err != nil {
			return Progress{}, fmt.Errorf("reading the latest commit in %s: %w", sb.Dir, err)
		}
	}
	return p, nil
}

// CurrentBranch returns the branch checked out in dir, or an error wrapping
// ErrDetachedHead when HEAD is detached.
func (m *Manager) CurrentBranch(ctx context.Context, dir string) (string, error) {
	out, err := m.git(ctx, dir, "symbolic-ref", "--quiet", "--short", "HEAD")
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		// symbolic-ref --quiet exits 1, silently, exactly when HEAD is detached.
		return "", fmt.Errorf("reading the current branch in %s: %w", dir, ErrDetachedHead)
	}
	return "", fmt.Errorf("reading the current branch in %s: %w", dir, err)
}

// Push publishes HEAD of the sandbox as origin's branch and makes it the
// upstream of the current branch. It never pushes over commits HEAD does
// not have, with one exception: a step run again after its executor died
// passes rerunFrom, the commit it began at, and may then replace what the
// earlier run pushed (replaceEarlierRun).
func (m *Manager) Push(ctx context.Context, sb Sandbox, branch, rerunFrom string) error {
	// With an agent user the push runs as root in the cached clone, whose
	// config only root writes, and names the commit the agent's HEAD is
	// at (the agent's own commits are in that clone's store).
	repo, src := m.rootDir(sb.Dir), "HEAD"
	if repo != sb.Dir {
		head, err := m.git(ctx, sb.Dir, "rev-parse", "--verify", "HEAD^{commit}")
		if err != nil || !shaPattern.MatchString(head) {
			return fmt.Errorf("pushing %s: reading HEAD in %s: %q, %v", branch, sb.Dir, head, err)
		}
		src = head
	}
	if err := m.checkBranchName(ctx, repo, branch); err != nil {
		return err
	}
	// Not --quiet: that would also hide the "! [rejected] ... (fetch first)"
	// line that says why a push failed.
	_, err := m.git(ctx, repo, pushArgs(src, "origin", src+":refs/heads/"+branch)...)
	if err == nil {
		return m.setUpstream(ctx, repo, src, branch)
	}
	if rerunFrom != "" && ctx.Err() == nil {
		if replaced, rerr := m.replaceEarlierRun(ctx, repo, src, branch, rerunFrom); rerr != nil {
			err = fmt.Errorf("%w; replacing an earlier run's push: %w", err, rerr)
		} else if replaced {
			return m.setUpstream(ctx, repo, src, branch)
		}
	}
	return fmt.Errorf("pushing HEAD to origin as %s: %w", branch, err)
}

// replaceEarlierRun pushes HEAD over origin's branch when all origin has
// beyond HEAD's history sits on top of rerunFrom, the commit the step
// started from: commits an earlier run of the same step pushed before it
// was cut short (its executor died after pushing, before the result was
// recorded), which this run has made again. Anything else on the branch
// is never overwritten, and the push is leased on the commit seen.
func (m *Manager) replaceEarlierRun(ctx context.Context, repo, src, branch, rerunFrom string) (bool, error) {
	if _, err := m.git(ctx, repo, "fetch", "--quiet", "--no-tags", "origin", "refs/heads/"+branch); err != nil {
		return false, err
	}
	remote, err := m.git(ctx, repo, "rev-parse", "--verify", "FETCH_HEAD^{commit}")
	if err != nil {
		return false, err
	}
	if _, err := m.git(ctx, repo, "merge-base", "--is-ancestor", rerunFrom, remote); err != nil {
		return false, nil // origin's branch does not build on where this step began
	}
	if _, err := m.git(ctx, repo, pushArgs(src, "--force-with-lease=refs/heads/"+branch+":"+remote, "origin", src+":refs/heads/"+branch)...); err != nil {
		return false, err
	}
	m.logger().Warn("replaced commits an earlier run of the step had pushed", "branch", branch, "replaced", remote, "step_began_at", rerunFrom)
	return true, nil
}

func (m *Manager) checkBranchName(ctx context.Context, dir, branch string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: branch name %q %s", workorder.ErrInvalid, branch, why)
	}
	switch {
	case branch == "":
		return bad("is empty")
	case strings.HasPrefix(branch, "-"):
		return bad("must not start with '-'")
	case branch == "HEAD":
		return bad("is reserved by git")
	}
	if _, err := m.git(ctx, dir, "check-ref-format", "refs/heads/"+branch); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return bad("is not a valid git branch name")
	}
	return nil
}

// layout is where a Spec's sandbox lives.
type layout struct {
	id       string // the sandbox identifier
	kind     workorder.SandboxType
	dir      string // the sandbox
	cache    string // the cached clone (git_worktree only)
	lockPath string
}

func (m *Manager) layout(s Spec) (layout, error) {
	// Defence in depth: the gateway validated the URL, but this is the last
	// stop before git.
	if _, err := (repourl.Policy{AllowLocal: m.AllowLocal, Allowed: m.Allowed}).Check(s.RepositoryURL); err != nil {
		return layout{}, err
	}
	if m.Root == "" {
		return layout{}, errors.New("sandbox root directory (AGENT_WORK_ORDER_TEMP_DIR) is not set")
	}
	root, err := filepath.Abs(m.Root)
	if err != nil {
		return layout{}, fmt.Errorf("resolving sandbox root %s: %w", m.Root, err)
	}
	id := s.Identifier
	if id == "" {
		id = s.WorkOrderID.SandboxIdentifier()
	}
	if !identifierPattern.MatchString(id) || strings.Contains(id, "..") {
		return layout{}, fmt.Errorf("%w: sandbox identifier %q must be letters, digits, '.', '_' and '-'", workorder.ErrInvalid, id)
	}
	switch s.Type {
	case workorder.SandboxWorktree, "":
		repoDir := filepath.Join(root, "repos", repourl.CacheKey(s.RepositoryURL))
		return layout{
			id:       id,
			kind:     workorder.SandboxWorktree,
			dir:      filepath.Join(repoDir, "trees", id),
			cache:    filepath.Join(repoDir, "main"),
			lockPath: filepath.Join(repoDir, "lock"),
		}, nil
	case workorder.SandboxBranch:
		dir := filepath.Join(root, "branches", id)
		return layout{id: id, kind: workorder.SandboxBranch, dir: dir, lockPath: dir + ".lock"}, nil
	}
	return layout{}, fmt.Errorf("%w: sandbox type %q is not supported", workorder.ErrInvalid, s.Type)
}

// createWorktree refreshes (or makes) the repository's cached clone and adds
// a worktree detached at origin's default branch. The caller holds the
// repository lock.
func (m *Manager) createWorktree(ctx context.Context, url string, l layout, asked time.Time, log *slog.Logger) (string, error) {
	base, err := m.refreshCache(ctx, url, l, asked, log)
	if err != nil {
		return "", err
	}
	if err := m.shareCache(ctx, l); err != nil {
		return "", err
	}
	if exists(l.dir) {
		// git said it is not a checkout (Prepare asked): left by a crash
		// in the middle of an earlier attempt.
		log.Warn("removing an unusable sandbox directory left by an earlier attempt")
		if err := os.RemoveAll(l.dir); err != nil {
			return "", fmt.Errorf("removing broken sandbox %s: %w", l.dir, err)
		}
	}
	// A worktree deleted behind git's back stays registered and blocks add.
	if m.Owner != nil {
		// worktrees/ is root's: this entry's path is what it says.
		if err := os.RemoveAll(m.adminDir(l)); err != nil {
			return "", fmt.Errorf("removing the stale git entry of %s: %w", l.dir, err)
		}
	} else if _, err := m.git(ctx, l.cache, "worktree", "prune"); err != nil {
		return "", fmt.Errorf("pruning worktrees of %s: %w", l.cache, err)
	}
	if _, err := m.git(ctx, l.cache, "worktree", "add", "--quiet", "--detach", l.dir, "refs/remotes/origin/"+base); err != nil {
		return "", fmt.Errorf("creating worktree for %s at origin/%s: %w", repourl.Mask(url), base, err)
	}
	return base, nil
}

// refreshCache fetches (or makes) the repository's cached clone and returns
// origin's default branch. The caller holds the repository lock.
func (m *Manager) refreshCache(ctx context.Context, url string, l layout, asked time.Time, log *slog.Logger) (string, error) {
	cached, err := m.isCheckout(ctx, l.cache)
	if err != nil {
		return "", err
	}
	began := time.Now()
	switch {
	case cached && m.fetchedSince(l.cache, asked):
		log.Debug("cached clone fetched since this sandbox was asked for; not fetching again", "clone", l.cache)
	case cached:
		log.Info("fetching cached clone", "clone", l.cache)
		if _, err := m.git(ctx, l.cache, "fetch", "--quiet", "--prune", "origin"); err != nil {
			return "", fmt.Errorf("fetching %s: %w", repourl.Mask(url), err)
		}
		m.recordFetch(l.cache, began)
	default:
		log.Info("cloning repository into the cache", "clone", l.cache)
		// No checkout: the cache only feeds worktrees.
		if err := m.cloneInto(ctx, url, l.cache, "--no-checkout"); err != nil {
			return "", err
		}
		m.recordFetch(l.cache, began)
	}
	return m.baseBranch(ctx, l.cache)
}

// fetchedSince reports whether a fetch of clone began after t.
func (m *Manager) fetchedSince(clone string, t time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetched[clone].After(t)
}

func (m *Manager) recordFetch(clone string, began time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fetched == nil {
		m.fetched = map[string]time.Time{}
	}
	m.fetched[clone] = began
}

// createClone makes a full clone detached at origin's default branch, like
// a worktree, so every sandbox starts in the same state.
func (m *Manager) createClone(ctx context.Context, url, dir string, log *slog.Logger) (string, error) {
	log.Info("cloning repository")
	if err := m.cloneInto(ctx, url, dir); err != nil {
		return "", err
	}
	base, err := m.baseBranch(ctx, dir)
	if err != nil {
		return "", err
	}
	if _, err := m.git(ctx, dir, "checkout", "--quiet", "--detach", "refs/remotes/origin/"+base); err != nil {
		return "", fmt.Errorf("checking out origin/%s in %s: %w", base, dir, err)
	}
	return base, nil
}

// cloneInto clones into a temporary sibling and renames it into place, so a
// crash never leaves a half-cloned dir that looks ready.
func (m *Manager) cloneInto(ctx context.Context, url, dir string, flags ...string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dir), err)
	}
	// Leftovers of crashed attempts; the caller's lock keeps live ones away.
	stale, _ := filepath.Glob(dir + ".tmp-*")
	if exists(dir) {
		stale = append(stale, dir)
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing leftover %s: %w", p, err)
		}
	}
	tmp := dir + ".tmp-" + randomSuffix()
	args := append(append([]string{"clone", "--quiet"}, flags...), "--", url, tmp)
	if _, err := m.git(ctx, filepath.Dir(dir), args...); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("cloning %s: %w", repourl.Mask(url), err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("moving the clone of %s into place: %w", repourl.Mask(url), err)
	}
	return nil
}

// baseBranch reads origin's default branch from refs/remotes/origin/HEAD,
// asking origin again when that ref is missing or points at a branch that
// has since been deleted.
func (m *Manager) baseBranch(ctx context.Context, dir string) (string, error) {
	for attempt := 0; ; attempt++ {
		// One git for what took two (symbolic-ref, then a check that the
		// branch it names exists): a dangling origin/HEAD fails to verify,
		// and one that is not symbolic names itself.
		ref, err := m.git(ctx, dir, "rev-parse", "--verify", "--quiet", "--symbolic-full-name", "refs/remotes/origin/HEAD")
		if branch, ok := strings.CutPrefix(ref, "refs/remotes/origin/"); err == nil && ok && branch != "HEAD" {
			return branch, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if attempt > 0 {
			return "", fmt.Errorf("finding origin's default branch in %s: origin/HEAD names no branch (is the repository empty?)", dir)
		}
		if err := m.setOriginHead(ctx, dir); err != nil {
			return "", fmt.Errorf("asking origin for its default branch in %s: %w", dir, err)
		}
	}
}

// setOriginHead does what `git remote set-head origin --auto` does, through
// ls-remote, which takes --upload-pack (see packPrograms) where set-head
// would run the repository's remote.origin.uploadpack.
func (m *Manager) setOriginHead(ctx context.Context, dir string) error {
	out, err := m.git(ctx, dir, "ls-remote", "--symref", "origin", "HEAD")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		target, name, ok := strings.Cut(strings.TrimPrefix(line, "ref: "), "\t")
		if branch, isBranch := strings.CutPrefix(target, "refs/heads/"); ok && isBranch && name == "HEAD" && strings.HasPrefix(line, "ref: ") {
			_, err := m.git(ctx, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/"+branch)
			return err
		}
	}
	return errors.New("origin's HEAD names no branch (is the repository empty?)")
}

// isCheckout reports whether dir is the top of a git checkout with a commit
// at HEAD; a directory that only lies inside some other repository is not.
// It errs when it cannot tell (git did not run, ctx ended), so that callers
// never delete a live sandbox on a hiccup.
func (m *Manager) isCheckout(ctx context.Context, dir string) (bool, error) {
	if !exists(dir) {
		return false, nil
	}
	// One git for both questions; it fails when HEAD has no commit.
	out, err := m.git(ctx, dir, "rev-parse", "--show-toplevel", "HEAD^{commit}")
	if err != nil {
		return false, gitSaidNo(ctx, dir, err)
	}
	top, _, _ := strings.Cut(out, "\n")
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, fmt.Errorf("resolving %s: %w", dir, err)
	}
	return filepath.Clean(top) == want, nil
}

// gitSaidNo turns a git exit status into "no" (nil) and anything else into
// an error.
func gitSaidNo(ctx context.Context, dir string, err error) error {
	var exit *exec.ExitError
	if ctx.Err() == nil && errors.As(err, &exit) {
		return nil
	}
	return fmt.Errorf("inspecting %s: %w", dir, err)
}

func (m *Manager) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
