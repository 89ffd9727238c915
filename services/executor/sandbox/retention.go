package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// inUseSuffix names the file next to a sandbox that steps hold a shared
// lock on while they run (see Use) and housekeeping takes exclusively
// before it removes the sandbox, so a running step never loses its
// checkout. Its modification time is the sandbox's last use.
const inUseSuffix = ".inuse"

// Entry is a sandbox found on disk by List.
type Entry struct {
	Kind       workorder.SandboxType
	Identifier string
	// WorkOrderID is the work order the identifier names (sandbox-<id>);
	// empty when it names none.
	WorkOrderID workorder.ID
	Dir         string
	// LastUsed is when a step last took the sandbox, or when the directory
	// last changed if that is later.
	LastUsed time.Time

	l      layout
	hasDir bool // the directory existed when listed
}

// Use marks the work order's sandbox as in use until release is called:
// RemoveIf never removes a sandbox in use. Steps of one work order may
// hold it together; a step waits while housekeeping is removing it.
func (m *Manager) Use(ctx context.Context, s Spec) (release func(), err error) {
	l, err := m.layout(s)
	if err != nil {
		return nil, err
	}
	path := l.dir + inUseSuffix
	f, _, err := flockPath(ctx, path, true, true)
	if err != nil {
		return nil, fmt.Errorf("marking sandbox %s in use: %w", l.dir, err)
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		m.logger().Warn("recording the sandbox's last use", "work_order_id", s.WorkOrderID, "sandbox", l.dir, "err", err)
	}
	return func() { unlockFile(f) }, nil
}

// List returns the sandboxes under Root: git_worktree worktrees and
// git_branch clones, and the in-use marks of sandboxes whose directory is
// already gone (a step that failed before its sandbox was made).
func (m *Manager) List(ctx context.Context) ([]Entry, error) {
	if m.Root == "" {
		return nil, errors.New("sandbox root directory (AGENT_WORK_ORDER_TEMP_DIR) is not set")
	}
	root, err := filepath.Abs(m.Root)
	if err != nil {
		return nil, fmt.Errorf("resolving sandbox root %s: %w", m.Root, err)
	}
	var out []Entry
	repos, err := readDir(filepath.Join(root, "repos"))
	if err != nil {
		return nil, err
	}
	for _, r := range repos {
		if !r.IsDir() {
			continue
		}
		repoDir := filepath.Join(root, "repos", r.Name())
		base := layout{
			kind:     workorder.SandboxWorktree,
			cache:    filepath.Join(repoDir, "main"),
			lockPath: filepath.Join(repoDir, "lock"),
		}
		found, err := m.listIn(filepath.Join(repoDir, "trees"), func(dir string) layout {
			l := base
			l.dir, l.id = dir, filepath.Base(dir)
			return l
		})
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	found, err := m.listIn(filepath.Join(root, "branches"), func(dir string) layout {
		return layout{id: filepath.Base(dir), kind: workorder.SandboxBranch, dir: dir, lockPath: dir + ".lock"}
	})
	return append(out, found...), err
}

// listIn finds the sandboxes in parent: directories, and in-use marks
// without one. Clones in progress (.tmp-*) belong to their sandbox.
func (m *Manager) listIn(parent string, at func(dir string) layout) ([]Entry, error) {
	des, err := readDir(parent)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Entry{}
	var order []string
	for _, de := range des {
		name := de.Name()
		id, mark := strings.CutSuffix(name, inUseSuffix)
		if (mark && de.IsDir()) || (!mark && !de.IsDir()) || strings.Contains(id, ".tmp-") || !identifierPattern.MatchString(id) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		e, ok := byID[id]
		if !ok {
			l := at(filepath.Join(parent, id))
			e = &Entry{Kind: l.kind, Identifier: id, Dir: l.dir, l: l}
			if rest, ok := strings.CutPrefix(id, "sandbox-"); ok {
				if wo, err := workorder.ParseID(rest); err == nil {
					e.WorkOrderID = wo
				}
			}
			byID[id] = e
			order = append(order, id)
		}
		if t := info.ModTime(); t.After(e.LastUsed) {
			e.LastUsed = t
		}
		if !mark {
			e.hasDir = true
		}
	}
	out := make([]Entry, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out, nil
}

// RemoveIf removes the sandbox when it is not in use and decide, asked
// while no step can take the sandbox, says so. It reports whether the
// sandbox was removed; a sandbox in use is kept without asking decide.
func (m *Manager) RemoveIf(ctx context.Context, e Entry, decide func(context.Context) (bool, error)) (bool, error) {
	if e.l.dir == "" {
		return false, errors.New("removing a sandbox: the entry does not come from List")
	}
	mark := e.l.dir + inUseSuffix
	f, free, err := flockPath(ctx, mark, false, false)
	if err != nil {
		return false, fmt.Errorf("checking whether sandbox %s is in use: %w", e.Dir, err)
	}
	if !free {
		return false, nil
	}
	// Deleted while held, so a step waiting in Use opens a fresh mark.
	defer unlockFile(f)
	if e.hasDir && !exists(e.Dir) {
		// Another executor sharing the directory removed it since List;
		// the mark is the one this call just made.
		_ = os.Remove(mark)
		return false, nil
	}
	remove, err := decide(ctx)
	if err != nil || !remove {
		return false, err
	}
	log := m.logger().With("work_order_id", e.WorkOrderID, "sandbox_type", e.Kind, "sandbox", e.Dir)
	if err := m.remove(ctx, e.l, log); err != nil {
		return false, err
	}
	if err := os.Remove(mark); err != nil && !errors.Is(err, os.ErrNotExist) {
		return true, fmt.Errorf("removing %s: %w", mark, err)
	}
	return true, nil
}

// readDir lists dir; a directory that does not exist is empty.
func readDir(dir string) ([]fs.DirEntry, error) {
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing sandboxes in %s: %w", dir, err)
	}
	return des, nil
}
