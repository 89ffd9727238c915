package sandbox

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
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
	// cached are the index's own valid trees (its cache-tree extension),
	// which git write-tree takes as they are when it has their objects.
	cached map[string]cachedTree
}

type builtTree struct {
	hash    plumbing.Hash
	content []byte   // nil for a tree of the cache: not built here
	subdirs []string // names of the directories in it
}

// cachedTree is a valid node of an index's cache-tree extension.
type cachedTree struct {
	entries int // index entries it covers
	hash    plumbing.Hash
}

// treeItem is one entry of a tree object.
type treeItem struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

// indexEntry is what write-tree reads of an index entry.
type indexEntry struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

// readIndexTrees computes the trees of the index file at path, or not ok
// when git must: an index of another version than 2 and 3 (4 compresses
// names), a required extension (split, sparse), a checksum that does not
// match, an unmerged or intent-to-add entry, a mode or an order
// write-tree would not accept. The file is read here rather than with
// go-git's decoder, ten times slower on 50,000 files than git write-tree
// itself.
func readIndexTrees(path string) (indexTrees, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return indexTrees{}, false
	}
	entries, cached, ok := parseIndex(b)
	if !ok {
		return indexTrees{}, false
	}
	t := indexTrees{trees: map[string]builtTree{}, cached: cached}
	t.root, ok = t.build("", entries)
	return t, ok
}

// indexEntryHeader is the fixed part of an entry: stat data (40 bytes),
// the object id (20) and the flags (2).
const indexEntryHeader = 62

// parseIndex reads the entries of an index file (gitformat-index(5)) and
// the valid trees of its cache-tree extension.
func parseIndex(b []byte) ([]indexEntry, map[string]cachedTree, bool) {
	if len(b) < 12+sha1.Size || string(b[:4]) != "DIRC" {
		return nil, nil, false
	}
	body := b[:len(b)-sha1.Size]
	if sum := sha1.Sum(body); !bytes.Equal(sum[:], b[len(body):]) {
		return nil, nil, false
	}
	version, count := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
	if version != 2 && version != 3 {
		return nil, nil, false
	}
	entries := make([]indexEntry, 0, count)
	// The names are cut from one string of the whole file: one
	// allocation rather than one per entry.
	names := string(body)
	off := 12
	for range count {
		e, size, ok := parseIndexEntry(body[off:], names[off:], version)
		if !ok || (len(entries) > 0 && entries[len(entries)-1].name >= e.name) {
			return nil, nil, false
		}
		entries = append(entries, e)
		off += size
	}
	// Extensions: an optional one (its name in upper case) only speeds
	// git up; a required one changes what the entries mean.
	cached := map[string]cachedTree{}
	for off < len(body) {
		if len(body)-off < 8 || body[off] < 'A' || body[off] > 'Z' {
			return nil, nil, false
		}
		size := int(binary.BigEndian.Uint32(body[off+4:]))
		if size < 0 || size > len(body)-off-8 {
			return nil, nil, false
		}
		if string(body[off:off+4]) == "TREE" {
			if rest, ok := parseCacheTree(body[off+8:off+8+size], "", cached); !ok || len(rest) != 0 {
				return nil, nil, false
			}
		}
		off += 8 + size
	}
	return entries, cached, true
}

// parseCacheTree reads one node of a cache-tree extension and the nodes
// below it: its name, NUL, the entries it covers (-1: invalid), a space,
// how many subtrees follow, a newline, and the tree's id when valid.
func parseCacheTree(b []byte, parent string, out map[string]cachedTree) ([]byte, bool) {
	nul := bytes.IndexByte(b, 0)
	if nul < 0 {
		return nil, false
	}
	dir := parent
	if nul > 0 {
		dir = parent + string(b[:nul]) + "/"
	}
	b = b[nul+1:]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, false
	}
	counts := strings.Fields(string(b[:nl]))
	b = b[nl+1:]
	if len(counts) != 2 {
		return nil, false
	}
	entries, err1 := strconv.Atoi(counts[0])
	subtrees, err2 := strconv.Atoi(counts[1])
	if err1 != nil || err2 != nil || subtrees < 0 {
		return nil, false
	}
	if entries >= 0 {
		if len(b) < sha1.Size {
			return nil, false
		}
		c := cachedTree{entries: entries}
		copy(c.hash[:], b)
		out[dir] = c
		b = b[sha1.Size:]
	}
	for range subtrees {
		var ok bool
		if b, ok = parseCacheTree(b, dir, out); !ok {
			return nil, false
		}
	}
	return b, true
}

// parseIndexEntry reads one entry at the start of b and its size on disk.
// names is b as a string.
func parseIndexEntry(b []byte, names string, version uint32) (indexEntry, int, bool) {
	if len(b) < indexEntryHeader {
		return indexEntry{}, 0, false
	}
	var e indexEntry
	e.mode = filemode.FileMode(binary.BigEndian.Uint32(b[24:]))
	copy(e.hash[:], b[40:60])
	flags := binary.BigEndian.Uint16(b[60:])
	header := indexEntryHeader
	if flags&0x4000 != 0 { // extended flags follow
		if version < 3 || len(b) < header+2 {
			return indexEntry{}, 0, false
		}
		// Skip-worktree (0x4000) is written as any entry; intent-to-add
		// (0x2000) and bits git does not know are git's to handle.
		if binary.BigEndian.Uint16(b[header:])&^0x4000 != 0 {
			return indexEntry{}, 0, false
		}
		header += 2
	}
	// Unmerged (a stage) or assume-valid (rare) entries are left to git.
	if flags&0x8000 != 0 || (flags>>12)&3 != 0 || !indexMode(e.mode) {
		return indexEntry{}, 0, false
	}
	n := int(flags & 0xfff)
	if n == 0xfff {
		n = bytes.IndexByte(b[header:], 0)
	}
	if n <= 0 || header+n >= len(b) || b[header+n] != 0 {
		return indexEntry{}, 0, false
	}
	e.name = names[header : header+n]
	size := (header + n + 8) &^ 7
	if size > len(b) {
		return indexEntry{}, 0, false
	}
	return e, size, true
}

func indexMode(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Symlink || m == filemode.Submodule
}

// build makes the tree of dir from its entries (sorted, each named
// dir+...), its subdirectories first. Entries under one subdirectory are
// next to each other in an index's byte order.
func (t indexTrees) build(dir string, entries []indexEntry) (plumbing.Hash, bool) {
	if c, ok := t.cached[dir]; ok {
		// git skips that many entries: another count is a cache git
		// would misread, and git's to deal with.
		if c.entries != len(entries) {
			return plumbing.ZeroHash, false
		}
		t.trees[dir] = builtTree{hash: c.hash}
		return c.hash, true
	}
	var items []treeItem
	var subdirs []string
	for i := 0; i < len(entries); {
		rest := entries[i].name[len(dir):]
		name, _, isDir := strings.Cut(rest, "/")
		if name == "" || name == "." || name == ".." || name == ".git" {
			return plumbing.ZeroHash, false
		}
		if !isDir {
			items = append(items, treeItem{name: name, mode: entries[i].mode, hash: entries[i].hash})
			i++
			continue
		}
		sub := dir + name + "/"
		j := i
		for j < len(entries) && strings.HasPrefix(entries[j].name, sub) {
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
	h := objectID(plumbing.TreeObject, content)
	t.trees[dir] = builtTree{hash: h, content: content, subdirs: subdirs}
	return h, true
}

// objectID is git's name of an object. crypto/sha1 rather than go-git's
// collision-detecting hash, several times slower: the content is ours.
func objectID(typ plumbing.ObjectType, content []byte) plumbing.Hash {
	h := sha1.New()
	h.Write(typ.Bytes())
	h.Write([]byte(" " + strconv.Itoa(len(content)) + "\x00"))
	h.Write(content)
	var id plumbing.Hash
	h.Sum(id[:0])
	return id
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
	if bt.content == nil {
		// A tree of the index's cache, used by git when it has it.
		return r.hasObject(bt.hash)
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

// hasObject reports whether the repository has the object, loose or
// packed.
func (r repository) hasObject(h plumbing.Hash) bool {
	hex := h.String()
	if _, err := os.Lstat(filepath.Join(r.objectsDir(), hex[:2], hex[2:])); err == nil {
		return true
	}
	return r.st.HasEncodedObject(h) == nil
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

// zlibWriters are reused: a new one allocates its compressor's tables,
// most of the cost of a small object.
var zlibWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed)
	return zw
}}

// writeLoose stores an object the way git stores a loose one: deflated
// into a temporary file next to where it belongs, read-only, then linked
// to its name (an object already there is the same object).
func writeLoose(objectsDir string, typ plumbing.ObjectType, content []byte) (plumbing.Hash, error) {
	h := objectID(typ, content)
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
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(tmp)
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
