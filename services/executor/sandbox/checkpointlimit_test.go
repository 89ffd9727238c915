package sandbox_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
)

// writeRandom writes n bytes that do not compress, so a bundle holding them
// is at least that big.
func writeRandom(t *testing.T, dir, name string, n int) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A step that installs a node_modules without a .gitignore: over the limit,
// the largest untracked output is left out of the checkpoint (and named),
// while the agent's own small untracked file and its edits are kept; the
// bundle holds none of the left-out bytes.
func TestSnapshot_UntrackedOutputOverTheLimit_IsLeftOut(t *testing.T) {
	o := gitfixture.New(t)
	spec := worktreeSpec("wo-0000c101")
	m := newManager(t, o)
	m.CheckpointMaxBytes = 32 << 10
	sb := prepare(t, m, spec)
	writeFile(t, sb.Dir, "README.md", "# demo\n\nEdited.\n")
	writeFile(t, sb.Dir, "src/new.go", "package src\n")
	for i := range 8 {
		writeRandom(t, sb.Dir, filepath.Join("node_modules", "pkg"+string(rune('a'+i)), "index.js"), 32<<10)
	}
	writeRandom(t, sb.Dir, "build.tar", 48<<10)
	writeRandom(t, sb.Dir, "notes.bin", 8<<10) // fits once the two above are out

	bundle := filepath.Join(t.TempDir(), "cp.bundle")
	cp, left, err := m.SnapshotCapped(t.Context(), spec, sb)
	if err == nil {
		err = m.Bundle(t.Context(), spec, sb, cp, bundle)
	}
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range left {
		paths = append(paths, e.Path)
	}
	if !slices.Equal(paths, []string{"node_modules/", "build.tar"}) || left[0].Bytes != 8*32<<10 {
		t.Fatalf("left out %+v, want node_modules/ (256 KiB) then build.tar", left)
	}
	files := o.Git(t, sb.Dir, "ls-tree", "-r", "--name-only", cp.ID)
	for _, want := range []string{"README.md", "src/new.go", "notes.bin"} {
		if !slices.Contains(strings.Split(files, "\n"), want) {
			t.Errorf("checkpoint lacks %s: %q", want, files)
		}
	}
	if strings.Contains(files, "node_modules") || strings.Contains(files, "build.tar") {
		t.Errorf("checkpoint holds left-out output: %q", files)
	}
	if info, err := os.Stat(bundle); err != nil || info.Size() > 48<<10 {
		t.Fatalf("bundle of %v bytes (%v): it holds left-out output", info.Size(), err)
	}
	// The sandbox keeps them: only the checkpoint leaves them out.
	if _, err := os.Stat(filepath.Join(sb.Dir, "node_modules", "pkga", "index.js")); err != nil {
		t.Fatal(err)
	}
}

// Under the limit, or with no limit, everything untracked is kept.
func TestSnapshot_UntrackedOutputUnderTheLimit_IsKept(t *testing.T) {
	for _, limit := range []int64{0, 1 << 20} {
		o := gitfixture.New(t)
		spec := worktreeSpec("wo-0000c102")
		m := newManager(t, o)
		m.CheckpointMaxBytes = limit
		sb := prepare(t, m, spec)
		writeRandom(t, sb.Dir, "node_modules/x/index.js", 200<<10)
		cp, left, err := m.SnapshotCapped(t.Context(), spec, sb)
		if err != nil {
			t.Fatal(err)
		}
		files := o.Git(t, sb.Dir, "ls-tree", "-r", "--name-only", cp.ID)
		if len(left) != 0 || !strings.Contains(files, "node_modules/x/index.js") {
			t.Fatalf("limit %d: left out %+v, checkpoint files %q", limit, left, files)
		}
	}
}

// Ignored output never counts toward the limit, tracked files neither, and
// a name with pathspec magic characters is left out as itself.
func TestSnapshot_Limit_CountsOnlyUntrackedAndMatchesLiterally(t *testing.T) {
	o := gitfixture.New(t)
	spec := worktreeSpec("wo-0000c103")
	m := newManager(t, o)
	m.CheckpointMaxBytes = 16 << 10
	sb := prepare(t, m, spec)
	writeFile(t, sb.Dir, ".gitignore", "dist/\n")
	writeRandom(t, sb.Dir, "dist/app.js", 64<<10)
	writeRandom(t, sb.Dir, "tracked.bin", 64<<10)
	commitAll(t, o, sb.Dir, "a big tracked file")
	writeRandom(t, sb.Dir, "tracked.bin", 64<<10) // an edit: tracked, kept
	writeRandom(t, sb.Dir, "a*b.bin", 32<<10)
	writeFile(t, sb.Dir, "ab.bin", "kept\n") // a*b.bin as a glob would match it
	cp, left, err := m.SnapshotCapped(t.Context(), spec, sb)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Path != "a*b.bin" {
		t.Fatalf("left out %+v, want a*b.bin alone", left)
	}
	files := o.Git(t, sb.Dir, "ls-tree", "-r", "--name-only", cp.ID)
	if !strings.Contains(files, "ab.bin") || !strings.Contains(files, "tracked.bin") || strings.Contains(files, "a*b.bin") {
		t.Fatalf("checkpoint files %q", files)
	}
	blob := o.Git(t, sb.Dir, "rev-parse", cp.ID+":tracked.bin")
	if want := o.Git(t, sb.Dir, "hash-object", "tracked.bin"); blob != want {
		t.Fatal("the edit of a tracked file was not kept")
	}
}

// A checkpoint of a small change is incremental against origin's base:
// the bundle holds the change, not the repository's other files.
func TestBundle_SmallChangeInABigTree_IsSmall(t *testing.T) {
	o := gitfixture.New(t)
	spec := worktreeSpec("wo-0000c104")
	m := newManager(t, o)
	sb := prepare(t, m, spec)
	for i := range 200 {
		writeRandom(t, sb.Dir, filepath.Join("vendor", fmt.Sprintf("f%03d", i)), 4<<10)
	}
	commitAll(t, o, sb.Dir, "vendor 800 KiB")
	o.Git(t, sb.Dir, "push", "--quiet", "origin", "HEAD:main")
	o.Git(t, sb.Dir, "fetch", "--quiet", "origin")
	writeFile(t, sb.Dir, "README.md", "# demo\n\nA small change.\n")
	writeFile(t, sb.Dir, "new.txt", "new\n")
	bundle := filepath.Join(t.TempDir(), "cp.bundle")
	if _, err := checkpointTo(t.Context(), m, spec, sb, bundle); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(bundle); err != nil || info.Size() > 16<<10 {
		t.Fatalf("bundle of %d bytes for a two-file change (%v): not incremental against the base", info.Size(), err)
	}
}
