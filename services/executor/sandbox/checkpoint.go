package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Checkpoint is a saved state of a sandbox: the commit it is at, its branch,
// and everything the agent left uncommitted (staged, unstaged and untracked
// files; ignored files are not kept). Its git objects travel in a bundle
// that holds only what is not on origin's base branch, so a checkpoint of
// a small change is small whatever the size of the repository.
//
// The working tree is kept the way `git stash` keeps it, plus untracked
// files: a snapshot commit whose tree is the working tree and whose
// parents are HEAD and a commit of the staging area (none when nothing is
// staged beyond HEAD: then HEAD is the staging area's commit).
type Checkpoint struct {
	// ID is the snapshot commit. It names the checkpoint: two checkpoints
	// with the same ID hold the same files, index, HEAD and branch (its
	// dates are fixed, its message names the branch), so a step that
	// changed nothing leaves the checkpoint it started from.
	ID         string
	Index      string // commit whose tree is the staging area (Head when nothing is staged)
	Head       string // the commit HEAD was at
	Branch     string // the branch checked out; empty when HEAD was detached
	BaseBranch string // origin's default branch
	// Base is the commit of origin/<BaseBranch> the bundle is thin
	// against: a restore needs it in the repository first.
	Base string
}

// checkpointRefPrefix holds one hidden ref per sandbox pointing at its last
// snapshot: it names the snapshot in the bundle and keeps its objects from
// being pruned. refs/awo/ is outside refs/heads and refs/tags, so neither
// pushes nor the agent's `git branch` see it.
const checkpointRefPrefix = "refs/awo/checkpoints/"

func (l layout) checkpointRef() string { return checkpointRefPrefix + l.id }

// markerPath records, next to the sandbox, the checkpoint the sandbox is
// known to be at. It is removed as soon as anything may change the sandbox.
func (l layout) markerPath() string { return l.dir + ".checkpoint" }

// checkpointIdentity makes snapshot commits independent of any git config
// and of the time they are made: the same sandbox gives the same ID, and
// the commit git writes is the one checkpointCommit writes in process (an
// i18n.commitEncoding would add a header).
var checkpointIdentity = []string{
	"GIT_AUTHOR_NAME=awo", "GIT_AUTHOR_EMAIL=awo@localhost",
	"GIT_COMMITTER_NAME=awo", "GIT_COMMITTER_EMAIL=awo@localhost",
	"GIT_AUTHOR_DATE=@1000000000 +0000", "GIT_COMMITTER_DATE=@1000000000 +0000",
	"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=i18n.commitEncoding", "GIT_CONFIG_VALUE_0=UTF-8",
}

// Snapshot commits the sandbox as a checkpoint, without writing its bundle
// or pointing the sandbox's checkpoint ref at it (Bundle does both):
// comparing the ID with the latest stored checkpoint's tells whether there
// is anything new to store. It leaves the sandbox itself untouched, and
// does not mark it: call Mark once the checkpoint is stored.
func (m *Manager) Snapshot(ctx context.Context, s Spec, sb Sandbox) (Checkpoint, error) {
	cp, _, err := m.SnapshotCapped(ctx, s, sb)
	return cp, err
}

// SnapshotCapped is Snapshot, also returning the untracked output the
// checkpoint does not hold because more than CheckpointMaxBytes
// (AWO_CHECKPOINT_MAX_BYTES) of it was in the sandbox, largest first.
func (m *Manager) SnapshotCapped(ctx context.Context, s Spec, sb Sandbox) (Checkpoint, []LeftOut, error) {
	var left []LeftOut
	cp, err := m.snapshot(ctx, s, sb, &left)
	return cp, left, err
}

func (m *Manager) snapshot(ctx context.Context, s Spec, sb Sandbox, left *[]LeftOut) (Checkpoint, error) {
	l, err := m.layout(s)
	if err != nil {
		return Checkpoint{}, err
	}
	base := sb.BaseBranch
	if base == "" {
		if base, err = m.baseBranch(ctx, sb.Dir); err != nil {
			return Checkpoint{}, err
		}
	}
	return m.snapshotWith(ctx, m.writer(sb.Dir), l.id, sb.Dir, base, left)
}

// snapshotWith is snapshot of the sandbox id at dir, reading and writing
// its repository in process as far as w may (nil: git does it all).
func (m *Manager) snapshotWith(ctx context.Context, w *repository, id, dir, baseBranch string, left *[]LeftOut) (Checkpoint, error) {
	cp := Checkpoint{BaseBranch: baseBranch}
	wrap := func(what string, err error) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("checkpointing %s: %s: %w", dir, what, err)
	}
	h, err := m.snapshotHead(ctx, w, dir, cp.BaseBranch)
	if err != nil {
		return wrap("reading HEAD and origin/"+cp.BaseBranch, err)
	}
	cp.Head, cp.Base, cp.Branch = h.head, h.base, h.branch
	indexTree, err := m.indexTree(ctx, w, dir, h)
	if err != nil {
		return Checkpoint{}, err
	}
	if *left, err = m.oversizedUntracked(ctx, dir); err != nil {
		return wrap("measuring the untracked files", err)
	}
	workTree, err := m.workingTree(ctx, w, dir, h, excludePathspecs(*left))
	if err != nil {
		return wrap("writing the working tree", err)
	}
	// Nothing staged beyond HEAD (the usual case: agents commit what they
	// stage) needs no commit of its own: HEAD is the index's commit.
	parents := []string{cp.Head}
	cp.Index = cp.Head
	if indexTree != h.headTree {
		if cp.Index, err = m.commitTree(ctx, w, dir, indexTree, []string{cp.Head}, "awo checkpoint: index"); err != nil {
			return wrap("committing the index", err)
		}
		parents = append(parents, cp.Index)
	}
	msg := "awo checkpoint of " + id + " on " + cmp.Or(cp.Branch, "a detached HEAD")
	if cp.ID, err = m.commitTree(ctx, w, dir, workTree, parents, msg); err != nil {
		return wrap("committing the working tree", err)
	}
	return cp, nil
}

// snapshotHead is where a checkpoint starts: HEAD, its tree, origin's
// base, the branch checked out ("" when detached) and the index's file.
type snapshotHead struct {
	head, headTree, base, branch, indexPath string
}

// writer is dir's repository when the checkpoint may read and write it
// in this process (gitwrite.go), nil when git does all of it.
func (m *Manager) writer(dir string) *repository {
	if !m.inProcess() {
		return nil
	}
	r, ok := openRepository(dir)
	if !ok || !plainWrites(r.d) {
		return nil
	}
	return &r
}

// snapshotHead reads HEAD and origin/<base>: in this process when w may,
// with one git for all five otherwise.
func (m *Manager) snapshotHead(ctx context.Context, w *repository, dir, baseBranch string) (snapshotHead, error) {
	if h, ok := w.snapshotHead(dir, baseBranch); ok {
		return h, nil
	}
	out, err := m.git(ctx, dir, "rev-parse", "HEAD^{commit}", "HEAD^{tree}", "refs/remotes/origin/"+baseBranch+"^{commit}",
		"--symbolic-full-name", "HEAD", "--path-format=absolute", "--git-path", "index")
	if err != nil {
		return snapshotHead{}, err
	}
	lines := strings.Split(out, "\n")
	if len(lines) != 5 {
		return snapshotHead{}, fmt.Errorf("git rev-parse printed %q", out)
	}
	h := snapshotHead{head: lines[0], headTree: lines[1], base: lines[2], indexPath: lines[4]}
	if lines[3] != "HEAD" { // "HEAD" is a detached one
		h.branch = strings.TrimPrefix(lines[3], "refs/heads/")
	}
	return h, nil
}

// snapshotHead is the in-process read of snapshotHead, ok when certain.
func (r *repository) snapshotHead(dir, baseBranch string) (snapshotHead, bool) {
	if r == nil || !plainBranchName(baseBranch) {
		return snapshotHead{}, false
	}
	branch, detached, ok := headBranch(dir)
	if !ok {
		return snapshotHead{}, false
	}
	head, ok := r.head()
	if !ok {
		return snapshotHead{}, false
	}
	baseHash, ok := r.resolve(plumbing.NewRemoteReferenceName("origin", baseBranch))
	if !ok {
		return snapshotHead{}, false
	}
	base, ok := r.commit(baseHash)
	if !ok {
		return snapshotHead{}, false
	}
	h := snapshotHead{head: head.Hash.String(), headTree: head.TreeHash.String(), base: base.Hash.String(),
		indexPath: filepath.Join(r.d.gitDir, "index")}
	if !detached {
		h.branch = branch
	}
	return h, true
}

// indexTree is the tree of the staging area as it is. A conflicted one
// cannot be written as a tree, and then HEAD's stands in for it. The
// error is only ever the context's.
func (m *Manager) indexTree(ctx context.Context, w *repository, dir string, h snapshotHead) (string, error) {
	if w != nil {
		if t, ok := readIndexTrees(h.indexPath); ok {
			// Equal to HEAD's, the usual case, the trees are there already.
			if t.root.String() == h.headTree || w.writeTrees(t, plumbing.NewHash(h.headTree)) {
				return t.root.String(), nil
			}
		}
	}
	tree, err := m.git(ctx, dir, "write-tree")
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return h.headTree, nil
	}
	return tree, nil
}

// commitTree writes a checkpoint commit of tree: in this process when w
// may, else with git commit-tree, whose commit is byte for byte the same.
func (m *Manager) commitTree(ctx context.Context, w *repository, dir, tree string, parents []string, msg string) (string, error) {
	if w != nil {
		if h, err := writeLoose(w.objectsDir(), plumbing.CommitObject, checkpointCommit(tree, parents, msg)); err == nil {
			return h.String(), nil
		}
	}
	args := []string{"commit-tree", tree}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	return m.gitEnvTrim(ctx, dir, checkpointIdentity, append(args, "-m", msg)...)
}

// Bundle writes the objects of cp, the sandbox's latest Snapshot, to the
// file at bundle.
func (m *Manager) Bundle(ctx context.Context, s Spec, sb Sandbox, cp Checkpoint, bundle string) error {
	l, err := m.layout(s)
	if err != nil {
		return err
	}
	// The ref names the snapshot in the bundle, and keeps its objects here
	// from being pruned while it is the latest.
	// With an agent user, in the cached clone as root: refs/awo is root's.
	repo := m.rootDir(sb.Dir)
	if w := m.writer(repo); w == nil || !shaPattern.MatchString(cp.ID) ||
		!w.writeRef(plumbing.ReferenceName(l.checkpointRef()), plumbing.NewHash(cp.ID)) {
		if _, err := m.git(ctx, repo, "update-ref", l.checkpointRef(), cp.ID); err != nil {
			return fmt.Errorf("checkpointing %s: updating %s: %w", sb.Dir, l.checkpointRef(), err)
		}
	}
	// Thin against origin's base: every executor has that from its own
	// clone. The snapshot's parents bring HEAD and its history along.
	if _, err := m.git(ctx, repo, "bundle", "create", "--quiet", bundle, l.checkpointRef(), "^"+cp.Base); err != nil {
		return fmt.Errorf("checkpointing %s: creating the bundle: %w", sb.Dir, err)
	}
	return nil
}

// workingTree writes the tree of every file in dir that is not ignored,
// tracked or not, through a temporary index so that the sandbox's own
// index stays as the agent left it. Starting from a copy of that index
// lets git re-hash only the files that changed. The exclude pathspecs
// name untracked output the checkpoint leaves out.
func (m *Manager) workingTree(ctx context.Context, w *repository, dir string, h snapshotHead, exclude []string) (string, error) {
	if m.repoEnv(dir) != nil {
		return m.ownerWorkingTree(ctx, dir, exclude)
	}
	tmp, err := os.CreateTemp("", "awo-index-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	var mtime time.Time
	if src, err := os.Open(h.indexPath); err == nil {
		if info, err := src.Stat(); err == nil {
			mtime = info.ModTime()
		}
		_, err = io.Copy(tmp, src)
		src.Close()
		if err != nil {
			tmp.Close()
			return "", fmt.Errorf("copying the index: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// The copy keeps the index's time: git re-hashes an entry whose file is
	// not older than the index ("racily clean"), and a copy made later would
	// make an edit of the same size in the index's second look unchanged.
	if !mtime.IsZero() {
		if err := os.Chtimes(tmp.Name(), mtime, mtime); err != nil {
			return "", fmt.Errorf("copying the index: %w", err)
		}
	}
	env := []string{"GIT_INDEX_FILE=" + tmp.Name()}
	if _, err := m.gitRawEnv(ctx, dir, env, append([]string{"add", "--all", "--", "."}, exclude...)...); err != nil {
		return "", err
	}
	if w != nil {
		// The trees of what changed since HEAD are written here.
		if t, ok := readIndexTrees(tmp.Name()); ok && w.writeTrees(t, plumbing.NewHash(h.headTree)) {
			return t.root.String(), nil
		}
	}
	return m.gitEnvTrim(ctx, dir, env, "write-tree")
}

// Restore replaces the work order's sandbox, whatever state it is in or
// wherever it is missing, with the checkpoint whose bundle is the file at
// bundle, and marks it as being at that checkpoint. Uncommitted work comes
// back uncommitted, staged work staged, untracked files untracked.
func (m *Manager) Restore(ctx context.Context, s Spec, cp Checkpoint, bundle string) (Sandbox, error) {
	l, err := m.layout(s)
	if err != nil {
		return Sandbox{}, err
	}
	if err := checkCommitIDs(cp); err != nil {
		return Sandbox{}, err
	}
	log := m.logger().With("work_order_id", s.WorkOrderID, "repository", repourl.Mask(s.RepositoryURL),
		"sandbox_type", l.kind, "sandbox", l.dir, "checkpoint", cp.ID)
	start := time.Now()
	unlock, err := m.lock(ctx, l.lockPath)
	if err != nil {
		return Sandbox{}, fmt.Errorf("restoring sandbox for %s: %w", repourl.Mask(s.RepositoryURL), err)
	}
	defer unlock()

	repo, base, err := m.renewRepository(ctx, s, l, start, log)
	if err != nil {
		return Sandbox{}, err
	}
	if cp.Branch != "" {
		if err := m.checkBranchName(ctx, repo, cp.Branch); err != nil {
			return Sandbox{}, err
		}
	}
	if err := m.fetchBundle(ctx, repo, l, cp, bundle, log); err != nil {
		return Sandbox{}, err
	}
	if err := m.checkOutCheckpoint(ctx, repo, l, cp); err != nil {
		return Sandbox{}, err
	}
	if err := m.restoreTrees(ctx, l, cp); err != nil {
		return Sandbox{}, err
	}
	if err := writeMarker(l.markerPath(), cp.ID); err != nil {
		return Sandbox{}, err
	}
	log.Info("sandbox restored from checkpoint", "branch", cp.Branch, "head", cp.Head,
		"duration_ms", time.Since(start).Milliseconds())
	return Sandbox{Dir: l.dir, BaseBranch: base}, nil
}

// checkCommitIDs refuses a checkpoint whose commits are not commit ids
// before any of them reaches git's command line.
func checkCommitIDs(cp Checkpoint) error {
	for name, sha := range map[string]string{"ID": cp.ID, "Index": cp.Index, "Head": cp.Head, "Base": cp.Base} {
		if !shaPattern.MatchString(sha) {
			return fmt.Errorf("%w: checkpoint %s %q is not a commit id", workorder.ErrInvalid, name, sha)
		}
	}
	return nil
}

// renewRepository removes whatever is left of the sandbox and brings back
// the repository a checkpoint is restored into, fetched from origin: the
// cache for a worktree, the sandbox's own clone for a branch sandbox. It
// returns that repository and origin's base branch. The caller holds the
// sandbox's lock.
func (m *Manager) renewRepository(ctx context.Context, s Spec, l layout, asked time.Time, log *slog.Logger) (repo, base string, err error) {
	if err := m.ownerSupports(l); err != nil {
		return "", "", err
	}
	if err := m.removeLocked(ctx, l, log); err != nil {
		return "", "", err
	}
	repo = l.cache
	switch l.kind {
	case workorder.SandboxWorktree:
		if base, err = m.refreshCache(ctx, s.RepositoryURL, l, asked, log); err == nil {
			err = m.shareCache(ctx, l)
		}
	case workorder.SandboxBranch:
		repo = l.dir
		if err = m.cloneInto(ctx, s.RepositoryURL, l.dir); err == nil {
			base, err = m.baseBranch(ctx, l.dir)
		}
	}
	if err != nil {
		return "", "", err
	}
	return repo, base, nil
}

// checkOutCheckpoint makes the sandbox a checkout of the checkpoint's HEAD,
// on its branch when it had one, and hands it to the agent's user.
func (m *Manager) checkOutCheckpoint(ctx context.Context, repo string, l layout, cp Checkpoint) error {
	switch l.kind {
	case workorder.SandboxWorktree:
		args := []string{"worktree", "add", "--quiet", "--detach", l.dir, cp.Head}
		// With an agent user root writes nothing into refs/heads, which
		// the agent's group may change: its git makes the branch below.
		if cp.Branch != "" && m.Owner == nil {
			// -B: the branch may be in the cache already, at an older
			// commit, from an earlier step this executor ran.
			args = []string{"worktree", "add", "--quiet", "-B", cp.Branch, l.dir, cp.Head}
		}
		if _, err := m.git(ctx, repo, args...); err != nil {
			return fmt.Errorf("restoring the worktree at %s: %w", cp.Head, err)
		}
	case workorder.SandboxBranch:
		args := []string{"checkout", "--quiet", "--detach", cp.Head}
		if cp.Branch != "" {
			args = []string{"checkout", "--quiet", "-B", cp.Branch, cp.Head}
		}
		if _, err := m.git(ctx, repo, args...); err != nil {
			return fmt.Errorf("checking out %s in %s: %w", cp.Head, l.dir, err)
		}
	}
	if err := m.handOver(ctx, l, false); err != nil {
		return err
	}
	if cp.Branch != "" && m.Owner != nil {
		if _, err := m.git(ctx, l.dir, "checkout", "--quiet", "-B", cp.Branch, cp.Head); err != nil {
			return fmt.Errorf("restoring branch %s at %s: %w", cp.Branch, cp.Head, err)
		}
	}
	return nil
}

// restoreTrees makes the working tree the snapshot's (untracked files
// included), then the index the staged tree, leaving the rest uncommitted.
// The sandbox is a fresh checkout of cp.Head: two-tree merges move its
// index to the snapshot and then to the staged tree keeping the stat data
// of every file the step did not touch, so the refresh after re-hashes the
// few it did, not the whole tree (on 50,000 files, a third of a restore).
func (m *Manager) restoreTrees(ctx context.Context, l layout, cp Checkpoint) error {
	if _, err := m.git(ctx, l.dir, "read-tree", "-m", "-u", cp.Head, cp.ID); err != nil {
		return fmt.Errorf("restoring the working tree of checkpoint %s: %w", cp.ID, err)
	}
	if _, err := m.git(ctx, l.dir, "read-tree", "-m", cp.ID, cp.Index); err != nil {
		return fmt.Errorf("restoring the index of checkpoint %s: %w", cp.ID, err)
	}
	// Refresh the stat data of what changed; exit 1 only says files
	// differ from the index, which is the point.
	if _, err := m.git(ctx, l.dir, "update-index", "-q", "--refresh"); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// fetchBundle brings the checkpoint's objects into repo. The bundle needs
// cp.Base; a fetch of origin normally has it, but when origin's base
// branch was rewritten since, the commit is asked of origin by id.
func (m *Manager) fetchBundle(ctx context.Context, repo string, l layout, cp Checkpoint, bundle string, log *slog.Logger) error {
	if _, err := m.git(ctx, repo, "cat-file", "-e", cp.Base+"^{commit}"); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("the checkpoint's base commit is no longer on origin's branches; fetching it by id", "base", cp.Base)
		if _, err := m.git(ctx, repo, "fetch", "--quiet", "--no-tags", "origin", cp.Base); err != nil {
			return fmt.Errorf("restoring checkpoint %s: its base commit %s is not in origin any more: %w", cp.ID, cp.Base, err)
		}
	}
	if _, err := m.git(ctx, repo, "fetch", "--quiet", "--no-tags", bundle, "+"+l.checkpointRef()+":"+l.checkpointRef()); err != nil {
		return fmt.Errorf("restoring checkpoint %s from its bundle: %w", cp.ID, err)
	}
	got, err := m.git(ctx, repo, "rev-parse", "--verify", l.checkpointRef()+"^{commit}")
	if err != nil || got != cp.ID {
		return fmt.Errorf("restoring checkpoint %s: the bundle holds %q instead (%v)", cp.ID, got, err)
	}
	return nil
}

// Marker returns the id of the checkpoint the sandbox is known to be at,
// or "" when it is not known to be at any (no sandbox, never marked, or
// changed since).
func (m *Manager) Marker(ctx context.Context, s Spec) (string, error) {
	l, err := m.layout(s)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(l.markerPath())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading checkpoint marker of %s: %w", l.dir, err)
	}
	ok, err := m.isCheckout(ctx, l.dir)
	if err != nil || !ok {
		return "", err
	}
	return string(b), nil
}

// Marked returns the sandbox of s on baseBranch without looking at it: for
// a sandbox whose marker was just read (Marker checks it is a checkout), so
// a step need not take the repository lock and run git to get it back.
func (m *Manager) Marked(s Spec, baseBranch string) (Sandbox, error) {
	l, err := m.layout(s)
	if err != nil {
		return Sandbox{}, err
	}
	return Sandbox{Dir: l.dir, BaseBranch: baseBranch}, nil
}

// Mark records that the sandbox is at checkpoint id; "" records that it
// may have changed since its last checkpoint.
func (m *Manager) Mark(s Spec, id string) error {
	l, err := m.layout(s)
	if err != nil {
		return err
	}
	if id == "" {
		if err := os.Remove(l.markerPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clearing checkpoint marker of %s: %w", l.dir, err)
		}
		return nil
	}
	return writeMarker(l.markerPath(), id)
}

// writeMarker replaces the marker atomically, so a crash never leaves a
// half-written id that could match by accident.
func writeMarker(path, id string) error {
	tmp := path + ".tmp-" + randomSuffix()
	if err := os.WriteFile(tmp, []byte(id), 0o644); err != nil {
		return fmt.Errorf("writing checkpoint marker %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing checkpoint marker %s: %w", path, err)
	}
	return nil
}

func (m *Manager) gitEnvTrim(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	out, err := m.gitRawEnv(ctx, dir, env, args...)
	return strings.TrimSpace(out), err
}

// shaPattern is a full commit id, SHA-1 or SHA-256.
var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
