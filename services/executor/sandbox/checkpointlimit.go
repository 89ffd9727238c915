package sandbox

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LeftOut is untracked output a checkpoint did not keep because the
// untracked files together were over the checkpoint limit: a file, or a
// whole untracked directory (Path ends in "/"), and its size.
type LeftOut struct {
	Path  string
	Bytes int64
}

// DefaultCheckpointMaxBytes is AWO_CHECKPOINT_MAX_BYTES' default: more
// untracked output than that is an installed node_modules or a build, not
// the agent's work, and would make a bundle of hundreds of megabytes in
// JetStream.
const DefaultCheckpointMaxBytes = 100 << 20

// oversizedUntracked returns the untracked output (not ignored) that a
// checkpoint of dir leaves out: nothing when the untracked files fit under
// the limit, else the largest untracked files and directories until what
// is left fits, largest first. Small untracked files (a new source file
// the agent has not staged) are what is kept.
func (m *Manager) oversizedUntracked(ctx context.Context, dir string) ([]LeftOut, error) {
	limit := m.CheckpointMaxBytes
	if limit <= 0 {
		return nil, nil
	}
	// A working tree smaller than the limit cannot hold more untracked
	// output than that: no git process for the usual small sandbox.
	if !treeLarger(dir, limit) {
		return nil, nil
	}
	// --directory names an untracked directory once ("node_modules/"),
	// however many files it holds.
	out, err := m.gitRawEnv(ctx, dir, nil, "ls-files", "-z", "--others", "--exclude-standard", "--directory", "--no-empty-directory")
	if err != nil {
		return nil, err
	}
	var all []LeftOut
	var total int64
	for p := range strings.SplitSeq(out, "\x00") {
		if p == "" {
			continue
		}
		n := pathSize(filepath.Join(dir, filepath.FromSlash(p)))
		all = append(all, LeftOut{Path: p, Bytes: n})
		total += n
	}
	return leaveOut(all, total, limit), nil
}

// leaveOut picks, largest first, the entries to drop so that what remains
// of total is at most limit.
func leaveOut(all []LeftOut, total, limit int64) []LeftOut {
	if total <= limit {
		return nil
	}
	slices.SortFunc(all, func(a, b LeftOut) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), strings.Compare(a.Path, b.Path))
	})
	var out []LeftOut
	for _, e := range all {
		if total <= limit {
			break
		}
		out = append(out, e)
		total -= e.Bytes
	}
	return out
}

// LeftOutBytes is what the entries hold together.
func LeftOutBytes(l []LeftOut) int64 {
	var n int64
	for _, e := range l {
		n += e.Bytes
	}
	return n
}

// excludePathspecs are the pathspecs of `git add --all -- .` that leave out
// the entries; literal, so a name with * or ? means itself.
func excludePathspecs(l []LeftOut) []string {
	specs := make([]string, 0, len(l))
	for _, e := range l {
		specs = append(specs, ":(exclude,literal)"+strings.TrimSuffix(e.Path, "/"))
	}
	return specs
}

// errLarger stops a walk once it has seen enough.
var errLarger = errors.New("larger than the limit")

// treeLarger reports whether the files under dir (.git aside, symlinks not
// followed) hold more than limit bytes. It stops as soon as they do. A walk
// error counts as larger: git is then asked.
func treeLarger(dir string, limit int64) bool {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if n += info.Size(); n > limit {
			return errLarger
		}
		return nil
	})
	return err != nil
}

// pathSize is the bytes of the regular files at or under p. An untracked
// directory that is a repository of its own is stored as a gitlink, not
// its files: it counts for nothing.
func pathSize(p string) int64 {
	info, err := os.Lstat(p)
	if err != nil {
		return 0
	}
	if !info.IsDir() {
		if info.Mode().IsRegular() {
			return info.Size()
		}
		return 0
	}
	if _, err := os.Lstat(filepath.Join(p, ".git")); err == nil {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}
