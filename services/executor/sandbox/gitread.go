package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// In-process reads. Starting git costs a few milliseconds of CPU, and the
// questions the executor asks after every step (which branch, how many
// commits, how many files, is this a checkout) are read-only: they are
// answered here from the repository's files, with go-git, whenever the
// answer is certain, and by git otherwise. Each returns ok false rather
// than guess; the caller then runs git, whose answer is the reference.
//
// Not in a sandbox of the agent user (Manager.Owner): there the files are
// the agent's, and reading them as root could follow a link it planted to
// a file only root may read, so git runs as that user instead.

// maxInProcessWalk bounds the commits walked from HEAD back to the base:
// a branch of a work order has a few; more means HEAD does not descend
// from the base as it stands (origin moved on), which git answers.
const maxInProcessWalk = 1000

// inProcess reports whether dir's repository may be read in this process.
func (m *Manager) inProcess() bool { return m.Owner == nil }

// plainBranchNamePattern is a branch name of the plainest characters; any
// other is left to git check-ref-format.
var plainBranchNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)

// plainBranchName reports, without starting git, that branch is certainly
// a valid name: plain characters and git check-ref-format's rules (go-git
// spells them out). False means: ask git.
func plainBranchName(branch string) bool {
	return plainBranchNamePattern.MatchString(branch) && plumbing.NewBranchReferenceName(branch).Validate() == nil
}

// staleWorktreeEntry reports whether the cached clone may still hold an
// entry for a worktree at dir (deleted behind git's back), which would make
// `git worktree add` refuse: one named after dir, or one whose gitdir
// file names a directory called like dir. Unsure is true.
func staleWorktreeEntry(cache, dir string) bool {
	admin := filepath.Join(cache, ".git", "worktrees")
	entries, err := os.ReadDir(admin)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	id := filepath.Base(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), id) {
			return true
		}
		b, err := os.ReadFile(filepath.Join(admin, e.Name(), "gitdir"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true
		}
		if err == nil && filepath.Base(filepath.Dir(strings.TrimSpace(string(b)))) == id {
			return true
		}
	}
	return false
}

// headBranch reads the branch HEAD of the checkout at dir names: ok with
// the branch, ok with detached true, or not ok when unsure.
func headBranch(dir string) (branch string, detached, ok bool) {
	d, found := locateGitDir(dir)
	if !found || !filesAndSHA1(d) {
		return "", false, false
	}
	b, err := os.ReadFile(filepath.Join(d.gitDir, "HEAD"))
	if err != nil {
		return "", false, false
	}
	head := strings.TrimSpace(string(b))
	if target, symbolic := strings.CutPrefix(head, "ref: "); symbolic {
		// symbolic-ref --short shortens other refs in ways not worth
		// copying: those go to git.
		name, isBranch := strings.CutPrefix(target, "refs/heads/")
		return name, false, isBranch && plumbing.ReferenceName(target).Validate() == nil
	}
	return "", true, headContent.MatchString(head)
}

// filesAndSHA1 reports whether the repository keeps its refs in files and
// names objects by SHA-1, all that is read here: a reftable repository's
// HEAD file, for one, names a placeholder branch.
func filesAndSHA1(d gitDirs) bool {
	b, err := os.ReadFile(filepath.Join(d.commonDir, "config"))
	if err != nil {
		return false
	}
	lower := bytes.ToLower(b)
	return !bytes.Contains(lower, []byte("refstorage")) && !bytes.Contains(lower, []byte("objectformat"))
}

// repository is the part of a repository read here: HEAD from the
// checkout's own git directory, refs and objects from the common one.
// It opens no go-git Repository, which would parse the configuration
// first, for nothing used here.
type repository struct {
	d  gitDirs
	st *filesystem.Storage
}

// openRepository opens the repository of the checkout at dir.
func openRepository(dir string) (repository, bool) {
	d, ok := locateGitDir(dir)
	if !ok || !filesAndSHA1(d) {
		return repository{}, false
	}
	fs := objectsListing{Filesystem: osfs.New(d.commonDir), dir: filepath.Join(d.commonDir, "objects")}
	return repository{d: d, st: filesystem.NewStorage(fs, cache.NewObjectLRUDefault())}, true
}

func (r repository) commit(h plumbing.Hash) (*object.Commit, bool) {
	c, err := object.GetCommit(r.st, h)
	return c, err == nil
}

func (r repository) resolve(name plumbing.ReferenceName) (plumbing.Hash, bool) {
	ref, err := storer.ResolveReference(r.st, name)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	return ref.Hash(), true
}

// head is the commit HEAD is at.
func (r repository) head() (*object.Commit, bool) {
	b, err := os.ReadFile(filepath.Join(r.d.gitDir, "HEAD"))
	if err != nil {
		return nil, false
	}
	head := strings.TrimSpace(string(b))
	if target, symbolic := strings.CutPrefix(head, "ref: "); symbolic {
		h, ok := r.resolve(plumbing.ReferenceName(target))
		if !ok {
			return nil, false
		}
		return r.commit(h)
	}
	if !plumbing.IsHash(head) {
		return nil, false
	}
	return r.commit(plumbing.NewHash(head))
}

// objectsListing lists the objects directory without a stat per entry:
// go-git lists it once per opening, before reading a packed object, only
// to find a quarantine directory of a push in progress; osfs would stat
// each of up to 256 fan-out directories for that.
type objectsListing struct {
	billy.Filesystem
	dir string
}

func (o objectsListing) ReadDir(path string) ([]os.FileInfo, error) {
	if filepath.Clean(path) != "objects" {
		return o.Filesystem.ReadDir(path)
	}
	// Names only: no sort and no entry per fan-out directory.
	d, err := os.Open(o.dir)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []os.FileInfo
	for _, name := range names {
		if strings.HasPrefix(name, "tmp_objdir-incoming-") || strings.HasPrefix(name, "incoming-") {
			if info, err := os.Lstat(filepath.Join(o.dir, name)); err == nil && info.IsDir() {
				out = append(out, info)
			}
		}
	}
	return out, nil
}

// Open reads a pack's index whole: go-git decodes one with a read per
// four bytes (a syscall each, 256 for the fan-out table alone), a tenth
// of the executor's CPU on the git path before this.
func (o objectsListing) Open(name string) (billy.File, error) {
	f, err := o.Filesystem.Open(name)
	if err != nil || !strings.HasSuffix(name, ".idx") {
		return f, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return &readOnlyFile{Reader: bytes.NewReader(b), name: f.Name()}, nil
}

// readOnlyFile is a file read into memory.
type readOnlyFile struct {
	*bytes.Reader
	name string
}

var errReadOnly = errors.New("read-only file")

func (f *readOnlyFile) Name() string              { return f.name }
func (f *readOnlyFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (f *readOnlyFile) Close() error              { return nil }
func (f *readOnlyFile) Lock() error               { return nil }
func (f *readOnlyFile) Unlock() error             { return nil }
func (f *readOnlyFile) Truncate(int64) error      { return errReadOnly }

// checkoutHasCommit reports, when sure, that dir is a checkout with a
// commit at HEAD (the yes of isCheckout; a no is left to git).
func checkoutHasCommit(dir string) bool {
	r, ok := openRepository(dir)
	if !ok {
		return false
	}
	_, ok = r.head()
	return ok
}

// originHead reads the branch refs/remotes/origin/HEAD names, when it
// names one that exists.
func originHead(dir string) (string, bool) {
	r, ok := openRepository(dir)
	if !ok {
		return "", false
	}
	ref, err := r.st.Reference(plumbing.NewRemoteHEADReferenceName("origin"))
	if err != nil || ref.Type() != plumbing.SymbolicReference {
		return "", false
	}
	branch, isRemote := strings.CutPrefix(ref.Target().String(), "refs/remotes/origin/")
	if !isRemote || branch == "" || branch == "HEAD" {
		return "", false
	}
	if _, err := r.st.Reference(ref.Target()); err != nil {
		return "", false
	}
	return branch, true
}

// progressInProcess is Progress read in this process when HEAD descends
// from baseRef within maxInProcessWalk commits; the commits walked are
// then exactly those on HEAD that are not on the base, and the merge base
// is the base itself.
func progressInProcess(ctx context.Context, dir, baseRef string) (Progress, bool) {
	var p Progress
	branch, detached, ok := headBranch(dir)
	if !ok {
		return Progress{}, false
	}
	if !detached {
		p.Branch = branch
	}
	r, ok := openRepository(dir)
	if !ok {
		return Progress{}, false
	}
	head, ok := r.head()
	if !ok {
		return Progress{}, false
	}
	baseHash, ok := r.resolve(plumbing.ReferenceName(baseRef))
	if !ok {
		return Progress{}, false
	}
	base, ok := r.commit(baseHash)
	if !ok {
		return Progress{}, false
	}
	if p.CommitCount, ok = commitsSince(r, head, base.Hash); !ok {
		return Progress{}, false
	}
	if p.CommitCount == 0 {
		return p, true
	}
	if p.FilesChanged, ok = filesChanged(ctx, base, head); !ok {
		return Progress{}, false
	}
	p.LatestCommitMessage = subject(head.Message)
	return p, true
}

// commitsSince counts the commits reachable from head, walking back until
// base; not ok when a path reaches a root commit (HEAD does not descend
// from base) or the walk grows beyond maxInProcessWalk.
func commitsSince(r repository, head *object.Commit, base plumbing.Hash) (int, bool) {
	seen := map[plumbing.Hash]bool{}
	queue := []*object.Commit{head}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c.Hash == base || seen[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		if len(seen) > maxInProcessWalk || len(c.ParentHashes) == 0 {
			return 0, false
		}
		for _, h := range c.ParentHashes {
			parent, ok := r.commit(h)
			if !ok {
				return 0, false
			}
			queue = append(queue, parent)
		}
	}
	return len(seen), true
}

// filesChanged counts the paths differing between base and head as
// `git diff --name-only` does, a rename being one path.
func filesChanged(ctx context.Context, base, head *object.Commit) (int, bool) {
	from, err := base.Tree()
	if err != nil {
		return 0, false
	}
	to, err := head.Tree()
	if err != nil {
		return 0, false
	}
	changes, err := object.DiffTreeWithOptions(ctx, from, to, object.DefaultDiffTreeOptions)
	if err != nil {
		return 0, false
	}
	return len(changes), true
}

// subject is git's %s of a commit message: its first paragraph on one line.
func subject(message string) string {
	first, _, _ := strings.Cut(strings.TrimLeft(message, "\n"), "\n\n")
	lines := strings.Split(strings.TrimRight(first, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " ")
}
