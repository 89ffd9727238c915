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
	"path/filepath"
	"regexp"
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
	// CheckpointMaxBytes (AWO_CHECKPOINT_MAX_BYTES) caps the untracked
	// output a checkpoint holds; 0 keeps all of it (checkpointlimit.go).
	CheckpointMaxBytes int64

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
