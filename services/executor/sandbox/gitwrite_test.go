package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// gitEnvOut is gitOut with extra environment variables.
func gitEnvOut(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// treeFixture leaves in tree's index every kind of entry and the names
// whose order in a tree differs from a plain sort ("a-b", "a.txt" and the
// directory "a"), and returns the index's file.
func treeFixture(t *testing.T, tree string) string {
	t.Helper()
	for name, content := range map[string]string{
		"a-b": "1\n", "a.txt": "2\n", "a/x": "3\n", "a/y/z": "4\n", "a0": "5\n", "b/c/d/e": "6\n", "run.sh": "#!/bin/sh\n",
	} {
		write(t, tree, name, content)
	}
	if err := os.Chmod(filepath.Join(tree, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(tree, "link")); err != nil {
		t.Fatal(err)
	}
	runGitT(t, tree, "add", "--all")
	// A submodule's gitlink, pointing at a commit this repository lacks.
	runGitT(t, tree, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,sub")
	return gitOut(t, tree, "rev-parse", "--path-format=absolute", "--git-path", "index")
}

// The trees computed and written in process are git write-tree's, every
// one of them readable by git before git writes any itself.
func TestIndexTrees_AreGitWriteTrees(t *testing.T) {
	_, tree := newRepoWithWorktree(t)
	index := treeFixture(t, tree)
	r, ok := openRepository(tree)
	if !ok {
		t.Fatal("repository not opened")
	}
	trees, ok := readIndexTrees(index)
	if !ok {
		t.Fatal("index not read")
	}
	headTree := plumbing.NewHash(gitOut(t, tree, "rev-parse", "HEAD^{tree}"))
	if !r.writeTrees(trees, headTree) {
		t.Fatal("trees not written")
	}
	listed := gitOut(t, tree, "ls-tree", "-r", "-t", "--full-tree", trees.root.String())
	if want := gitOut(t, tree, "write-tree"); trees.root.String() != want {
		t.Fatalf("tree %s, git write-tree says %s:\n%s", trees.root, want, listed)
	}
	for _, name := range []string{"a-b", "a/y/z", "b/c/d/e", "link", "run.sh", "sub"} {
		if !strings.Contains(listed, "\t"+name+"\n") && !strings.HasSuffix(listed, "\t"+name) {
			t.Errorf("%s missing from the tree:\n%s", name, listed)
		}
	}

	// Committed, the index is HEAD's tree: nothing to write.
	runGitT(t, tree, "commit", "--quiet", "-m", "all")
	trees, ok = readIndexTrees(index)
	if !ok || trees.root.String() != gitOut(t, tree, "rev-parse", "HEAD^{tree}") {
		t.Fatalf("after the commit: %s, %v; HEAD's tree is %s", trees.root, ok, gitOut(t, tree, "rev-parse", "HEAD^{tree}"))
	}

	// One file staged: the index's cache still holds b/ (as HEAD has
	// it), and a/y/, a/ and the top are built and written here.
	write(t, tree, "a/y/z", "changed\n")
	runGitT(t, tree, "add", "a/y/z")
	if trees, ok = readIndexTrees(index); !ok || trees.trees["b/"].content != nil || trees.trees["a/y/"].content == nil {
		t.Fatalf("staged: %v, b/ from the cache %v, a/y/ built %v", ok, trees.trees["b/"].content == nil, trees.trees["a/y/"].content != nil)
	}
	headTree = plumbing.NewHash(gitOut(t, tree, "rev-parse", "HEAD^{tree}"))
	if !r.writeTrees(trees, headTree) {
		t.Fatal("trees not written")
	}
	gitOut(t, tree, "ls-tree", "-r", trees.root.String())
	if want := gitOut(t, tree, "write-tree"); trees.root.String() != want {
		t.Fatalf("staged: tree %s, git write-tree says %s", trees.root, want)
	}
	// Now git has cached them all, HEAD has not: used when they are there.
	if trees, ok = readIndexTrees(index); !ok || trees.trees[""].content != nil || !r.writeTrees(trees, headTree) {
		t.Fatalf("cached: %v, root built %v", ok, trees.trees[""].content != nil)
	}
}

// indexFile is the index of the checkout at tree, which must exist.
func indexFile(t *testing.T, tree string) string {
	t.Helper()
	path := gitOut(t, tree, "rev-parse", "--path-format=absolute", "--git-path", "index")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// What write-tree refuses or treats specially is left to git.
func TestIndexTrees_LeavesSpecialIndexesToGit(t *testing.T) {
	t.Run("intent to add", func(t *testing.T) {
		_, tree := newRepoWithWorktree(t)
		write(t, tree, "new.txt", "new\n")
		runGitT(t, tree, "add", "-N", "new.txt")
		if _, ok := readIndexTrees(indexFile(t, tree)); ok {
			t.Fatal("an intent-to-add entry was written")
		}
	})
	t.Run("unmerged", func(t *testing.T) {
		_, tree := newRepoWithWorktree(t)
		write(t, tree, "f", "base\n")
		runGitT(t, tree, "add", "f")
		runGitT(t, tree, "commit", "--quiet", "-m", "base")
		runGitT(t, tree, "switch", "--quiet", "-c", "side")
		write(t, tree, "f", "side\n")
		runGitT(t, tree, "commit", "--quiet", "-am", "side")
		runGitT(t, tree, "switch", "--quiet", "--detach", "HEAD~1")
		write(t, tree, "f", "other\n")
		runGitT(t, tree, "commit", "--quiet", "-am", "other")
		cmd := exec.Command("git", "merge", "side")
		cmd.Dir = tree
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "CONFLICT") {
			t.Fatalf("the merge did not conflict: %v: %s", err, out)
		}
		if _, ok := readIndexTrees(indexFile(t, tree)); ok {
			t.Fatal("an unmerged index was written")
		}
	})
	t.Run("split index", func(t *testing.T) {
		_, tree := newRepoWithWorktree(t)
		write(t, tree, "f", "x\n")
		runGitT(t, tree, "-c", "core.splitIndex=true", "add", "f")
		runGitT(t, tree, "update-index", "--split-index")
		if _, ok := readIndexTrees(indexFile(t, tree)); ok {
			t.Fatal("a split index was read")
		}
	})
}

// The checkpoint's commits written in process are git commit-tree's.
func TestCheckpointCommit_IsGitCommitTree(t *testing.T) {
	_, tree := newRepoWithWorktree(t)
	r, _ := openRepository(tree)
	head := gitOut(t, tree, "rev-parse", "HEAD")
	headTree := gitOut(t, tree, "rev-parse", "HEAD^{tree}")
	index, err := writeLoose(r.objectsDir(), plumbing.CommitObject, checkpointCommit(headTree, []string{head}, "awo checkpoint: index"))
	if err != nil {
		t.Fatal(err)
	}
	if want := gitEnvOut(t, tree, checkpointIdentity, "commit-tree", headTree, "-p", head, "-m", "awo checkpoint: index"); index.String() != want {
		t.Fatalf("index commit %s, git says %s", index, want)
	}
	id, err := writeLoose(r.objectsDir(), plumbing.CommitObject, checkpointCommit(headTree, []string{head, index.String()}, "awo checkpoint of x on feat/é"))
	if err != nil {
		t.Fatal(err)
	}
	// Even with a commit encoding in git's configuration.
	env := append([]string{"GIT_CONFIG_GLOBAL=/dev/null"}, checkpointIdentity...)
	runGitT(t, tree, "config", "i18n.commitEncoding", "ISO-8859-1")
	if want := gitEnvOut(t, tree, env, "commit-tree", headTree, "-p", head, "-p", index.String(), "-m", "awo checkpoint of x on feat/é"); id.String() != want {
		t.Fatalf("snapshot commit %s, git says %s", id, want)
	}
	if got := gitOut(t, tree, "cat-file", "-t", id.String()); got != "commit" {
		t.Fatalf("git reads the object as %q", got)
	}
}

// The ref written in process is read by git; one git holds locked, has a
// reflog or is symbolic is left to git.
func TestWriteRef(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	r, _ := openRepository(tree)
	head := plumbing.NewHash(gitOut(t, tree, "rev-parse", "HEAD"))
	name := plumbing.ReferenceName(checkpointRefPrefix + "wo-1")
	if !r.writeRef(name, head) {
		t.Fatal("ref not written")
	}
	if got := gitOut(t, repo, "rev-parse", name.String()); got != head.String() {
		t.Fatalf("git reads %s as %s, want %s", name, got, head)
	}
	if out, err := os.ReadFile(filepath.Join(repo, ".git", name.String())); err != nil || string(out) != head.String()+"\n" {
		t.Fatalf("ref file %q, %v", out, err)
	}

	lock := filepath.Join(repo, ".git", name.String()+".lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r.writeRef(name, plumbing.ZeroHash) {
		t.Fatal("a locked ref was written")
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("someone else's lock removed: %v", err)
	}
	_ = os.Remove(lock)

	logged := plumbing.ReferenceName(checkpointRefPrefix + "wo-2")
	runGitT(t, repo, "update-ref", "--create-reflog", logged.String(), head.String())
	if r.writeRef(logged, head) {
		t.Fatal("a ref with a reflog was written")
	}
	runGitT(t, repo, "symbolic-ref", checkpointRefPrefix+"wo-3", "refs/heads/elsewhere")
	if r.writeRef(plumbing.ReferenceName(checkpointRefPrefix+"wo-3"), head) {
		t.Fatal("a symbolic ref was written")
	}
}

// A snapshot taken in process is the snapshot git takes, through every
// state a step may leave the sandbox in.
func TestSnapshotInProcess_IsGitsSnapshot(t *testing.T) {
	repo, tree := newRepoWithWorktree(t)
	runGitT(t, repo, "update-ref", "refs/remotes/origin/main", "HEAD")
	m := &Manager{}
	ctx := context.Background()
	steps := []struct {
		name string
		do   func()
	}{
		{"as checked out", func() {}},
		{"on a branch with untracked files", func() {
			runGitT(t, tree, "switch", "--quiet", "-c", "feat/x")
			write(t, tree, "new/deep/file.txt", "new\n")
			write(t, tree, ".gitignore", "*.log\n")
			write(t, tree, "out.log", "ignored\n")
		}},
		{"committed", func() {
			runGitT(t, tree, "add", "--all")
			runGitT(t, tree, "commit", "--quiet", "-m", "feat")
		}},
		{"staged and further edited", func() {
			write(t, tree, "new/deep/file.txt", "staged\n")
			runGitT(t, tree, "add", "new/deep/file.txt")
			write(t, tree, "new/deep/file.txt", "edited\n")
			write(t, tree, "new/other.txt", "other\n")
		}},
		{"a file deleted, detached", func() {
			runGitT(t, tree, "commit", "--quiet", "-am", "more")
			runGitT(t, tree, "rm", "--quiet", "-r", "new/deep")
			runGitT(t, tree, "switch", "--quiet", "--detach")
		}},
	}
	for _, st := range steps {
		st.do()
		var left []LeftOut
		want, err := m.snapshotWith(ctx, nil, "wo", tree, "main", &left)
		if err != nil {
			t.Fatalf("%s: git: %v", st.name, err)
		}
		w := m.writer(tree)
		if w == nil {
			t.Fatalf("%s: no in-process writer", st.name)
		}
		// Each part is answered in process, not by git after all.
		if _, ok := w.snapshotHead(tree, "main"); !ok {
			t.Fatalf("%s: HEAD not read in process", st.name)
		}
		if _, ok := readIndexTrees(indexFile(t, tree)); !ok {
			t.Fatalf("%s: index not read in process", st.name)
		}
		got, err := m.snapshotWith(ctx, w, "wo", tree, "main", &left)
		if err != nil {
			t.Fatalf("%s: in process: %v", st.name, err)
		}
		if got != want {
			t.Fatalf("%s: in process %+v, git %+v", st.name, got, want)
		}
	}
}

// BenchmarkIndexTree: the index of a 50,000-file repository (the issue's
// big repository) turned into its tree in process, next to git write-tree
// on the same index, in the same run. Both find the tree already there.
func BenchmarkIndexTree(b *testing.B) {
	_, tree := newRepoWithWorktree(b)
	blob := gitEnvOut(b, tree, nil, "hash-object", "-w", "--stdin")
	var list strings.Builder
	for i := range 50_000 {
		fmt.Fprintf(&list, "100644 %s\tdir%02d/sub%02d/file%04d.txt\n", blob, i%50, (i/50)%20, i)
	}
	cmd := exec.Command("git", "update-index", "--index-info")
	cmd.Dir, cmd.Stdin = tree, strings.NewReader(list.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	want := gitOut(b, tree, "write-tree")
	index := gitOut(b, tree, "rev-parse", "--path-format=absolute", "--git-path", "index")
	b.Run("in process", func(b *testing.B) {
		for b.Loop() {
			if t, ok := readIndexTrees(index); !ok || t.root.String() != want {
				b.Fatalf("tree %s, %v; want %s", t.root, ok, want)
			}
		}
	})
	b.Run("git write-tree", func(b *testing.B) {
		for b.Loop() {
			gitOut(b, tree, "write-tree")
		}
	})
}
