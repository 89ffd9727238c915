package sandbox

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// In-process writes for the checkpoint. A checkpoint took seven git
// processes, five of which only read HEAD, turn an index into trees,
// commit those trees and point a ref at the commit: work whose result is
// fixed by git's object format, done here in the repository's own files
// the way git does it (loose objects, a ref written through its lock
// file). What decides which files a checkpoint holds (`git add --all`:
// ignore rules, filters, line endings) and the bundle stay git's.
//
// Like the reads (gitread.go), each write happens only when certain and
// reports ok false otherwise, and the caller runs git: an index git
// itself would refuse or treat specially (unmerged, intent-to-add, split,
// sparse), a configuration that would make git write something else
// (shared permissions, reflogs for every ref), a ref someone else holds
// locked. Never with an agent user: the repository's files are the
// agent's to change, and root writes nothing there.

// writeConfigWords are the settings of the repository's own config that
// make git write objects or refs differently from what is done here:
// group permissions, a reflog for refs/awo (core.logAllRefUpdates=always;
// git init's "true" logs only branches), a commit encoding header.
var writeConfigWords = [][]byte{[]byte("sharedrepository"), []byte("always"), []byte("commitencoding"), []byte("include")}

// plainWrites reports whether the repository's configuration files leave
// git writing objects and refs in its default way.
func plainWrites(d gitDirs) bool {
	for _, path := range []string{filepath.Join(d.commonDir, "config"), filepath.Join(d.gitDir, "config.worktree"), filepath.Join(d.commonDir, "config.worktree")} {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false
		}
		lower := bytes.ToLower(b)
		for _, w := range writeConfigWords {
			if bytes.Contains(lower, w) {
				return false
			}
		}
	}
	return true
}

// indexTrees are the trees `git write-tree` makes of an index, by
// directory ("" the top, "a/b/" below it).
type indexTrees struct {
	root  plumbing.Hash
	trees map[string]builtTree
}

type builtTree struct {
	hash    plumbing.Hash
	content []byte
	subdirs []string // names of the directories in it
}

// treeItem is one entry of a tree object.
type treeItem struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

// readIndexTrees computes the trees of the index file at path, or not ok
// when git must: an index go-git cannot read (split, sparse, unknown
// required extension, a version it does not know), an unmerged or
// intent-to-add entry, a mode or order write-tree would not accept.
func readIndexTrees(path string) (indexTrees, bool) {
	f, err := os.Open(path)
	if err != nil {
		return indexTrees{}, false
	}
	defer f.Close()
	var idx index.Index
	if err := index.NewDecoder(f).Decode(&idx); err != nil {
		return indexTrees{}, false
	}
	for i, e := range idx.Entries {
		if e.Stage != 0 || e.IntentToAdd || !indexMode(e.Mode) || e.Name == "" ||
			(i > 0 && idx.Entries[i-1].Name >= e.Name) {
			return indexTrees{}, false
		}
	}
	t := indexTrees{trees: map[string]builtTree{}}
	var ok bool
	t.root, ok = t.build("", idx.Entries)
	return t, ok
}

func indexMode(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Symlink || m == filemode.Submodule
}

// build makes the tree of dir from its entries (sorted, each named
// dir+...), its subdirectories first. Entries under one subdirectory are
// next to each other in an index's byte order.
func (t indexTrees) build(dir string, entries []*index.Entry) (plumbing.Hash, bool) {
	var items []treeItem
	var subdirs []string
	for i := 0; i < len(entries); {
		rest := entries[i].Name[len(dir):]
		name, _, isDir := strings.Cut(rest, "/")
		if name == "" || name == "." || name == ".." || name == ".git" {
			return plumbing.ZeroHash, false
		}
		if !isDir {
			items = append(items, treeItem{name: name, mode: entries[i].Mode, hash: entries[i].Hash})
			i++
			continue
		}
		sub := dir + name + "/"
		j := i
		for j < len(entries) && strings.HasPrefix(entries[j].Name, sub) {
			j++
		}
		h, ok := t.build(sub, entries[i:j])
		if !ok {
			return plumbing.ZeroHash, false
		}
		items = append(items, treeItem{name: name, mode: filemode.Dir, hash: h})
		subdirs = append(subdirs, name)
		i = j
	}
	content, ok := encodeTree(items)
	if !ok {
		return plumbing.ZeroHash, false
	}
	h := plumbing.ComputeHash(plumbing.TreeObject, content)
	t.trees[dir] = builtTree{hash: h, content: content, subdirs: subdirs}
	return h, true
}

// encodeTree is a tree object's content: entries in git's order (a
// directory sorts as if its name ended in "/"), no name twice.
func encodeTree(items []treeItem) ([]byte, bool) {
	key := func(it treeItem) string {
		if it.mode == filemode.Dir {
			return it.name + "/"
		}
		return it.name
	}
	slices.SortStableFunc(items, func(a, b treeItem) int { return strings.Compare(key(a), key(b)) })
	var buf bytes.Buffer
	for i, it := range items {
		if i > 0 && items[i-1].name == it.name {
			return nil, false // a file and a directory of one name
		}
		buf.WriteString(strconv.FormatUint(uint64(it.mode), 8))
		buf.WriteByte(' ')
		buf.WriteString(it.name)
		buf.WriteByte(0)
		buf.Write(it.hash[:])
	}
	return buf.Bytes(), true
}

// writeTrees stores the trees of t that the repository may lack, as
// loose objects, children before their parent as git does. A tree equal
// to HEAD's at the same path is there already, and so is all below it:
// after a step only the directories on the way to what changed are new.
func (r repository) writeTrees(t indexTrees, headTree plumbing.Hash) bool {
	return r.writeTree(t, "", headTree)
}

func (r repository) writeTree(t indexTrees, dir string, known plumbing.Hash) bool {
	bt := t.trees[dir]
	if bt.hash == known {
		return true
	}
	var knownTree *object.Tree
	if !known.IsZero() {
		knownTree, _ = object.GetTree(r.st, known) // unreadable: compare with nothing
	}
	for _, name := range bt.subdirs {
		var sub plumbing.Hash
		if knownTree != nil {
			if e, err := knownTree.FindEntry(name); err == nil && e.Mode == filemode.Dir {
				sub = e.Hash
			}
		}
		if !r.writeTree(t, dir+name+"/", sub) {
			return false
		}
	}
	_, err := writeLoose(r.objectsDir(), plumbing.TreeObject, bt.content)
	return err == nil
}

func (r repository) objectsDir() string { return filepath.Join(r.d.commonDir, "objects") }

// checkpointCommit is the content `git commit-tree` writes with
// checkpointIdentity's names and dates and a UTF-8 commit encoding.
func checkpointCommit(tree string, parents []string, msg string) []byte {
	var b strings.Builder
	b.WriteString("tree " + tree + "\n")
	for _, p := range parents {
		b.WriteString("parent " + p + "\n")
	}
	const who = "awo <awo@localhost> 1000000000 +0000\n"
	b.WriteString("author " + who + "committer " + who + "\n" + msg + "\n")
	return []byte(b.String())
}

// writeLoose stores an object the way git stores a loose one: deflated
// into a temporary file next to where it belongs, read-only, then linked
// to its name (an object already there is the same object).
func writeLoose(objectsDir string, typ plumbing.ObjectType, content []byte) (plumbing.Hash, error) {
	h := plumbing.ComputeHash(typ, content)
	hex := h.String()
	dir := filepath.Join(objectsDir, hex[:2])
	final := filepath.Join(dir, hex[2:])
	if _, err := os.Lstat(final); err == nil {
		return h, nil
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return h, err
	}
	tmp, err := os.CreateTemp(dir, "tmp_obj_")
	if err != nil {
		return h, err
	}
	defer os.Remove(tmp.Name())
	zw, _ := zlib.NewWriterLevel(tmp, zlib.BestSpeed)
	_, err = fmt.Fprintf(zw, "%s %d\x00", typ, len(content))
	if err == nil {
		_, err = zw.Write(content)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o444)
	}
	if err == nil {
		if err = os.Link(tmp.Name(), final); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	return h, err
}

// writeRef points the loose ref name at h as `git update-ref` does: its
// lock file created exclusively, written, renamed over the ref. Not ok,
// and nothing changed, when git should do it: the ref has a reflog git
// would append to, is symbolic, or is locked by someone else (git waits
// for the lock or fails as it always has).
func (r repository) writeRef(name plumbing.ReferenceName, h plumbing.Hash) bool {
	if name.Validate() != nil || !strings.HasPrefix(name.String(), "refs/") {
		return false
	}
	rel := filepath.FromSlash(name.String())
	if _, err := os.Lstat(filepath.Join(r.d.commonDir, "logs", rel)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	path := filepath.Join(r.d.commonDir, rel)
	if b, err := os.ReadFile(path); err == nil && bytes.HasPrefix(b, []byte("ref:")) {
		return false
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return false
	}
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return false
	}
	_, err = f.WriteString(h.String() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(lock, path)
	}
	if err != nil {
		_ = os.Remove(lock)
		return false
	}
	return true
}
