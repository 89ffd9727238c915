package sandbox

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The hardening (harden.go) resets every filter driver a repository's own
// configuration defines, which took one `git config` before every git that
// may convert file contents: a third of the git processes of a work order.
// Almost always the answer is "none". localConfigFilterFree tells that
// from the configuration files themselves, the very ones git reads in dir,
// and only when it is sure; anything it cannot vouch for (an include, a
// layout it does not know) still asks git.

// headContent is what git accepts in HEAD when it decides whether a
// directory is a repository: a symbolic ref or an object name.
var headContent = regexp.MustCompile(`^(ref: refs/\S+|[0-9a-f]{40}|[0-9a-f]{64})\s*$`)

// gitDirs is where a checkout's repository lives: gitDir holds its HEAD
// (and index), commonDir its configuration, objects and refs (the same
// directory except in a linked worktree).
type gitDirs struct{ gitDir, commonDir string }

// locateGitDir finds the repository git uses when it runs in dir, which
// must be the top of a checkout: dir/.git, a directory or a "gitdir:"
// file. ok is false when dir/.git is missing or does not look like a
// repository to git (git would then search the directories above dir).
func locateGitDir(dir string) (gitDirs, bool) {
	dotGit := filepath.Join(dir, ".git")
	st, err := os.Stat(dotGit)
	if err != nil {
		return gitDirs{}, false
	}
	d := gitDirs{gitDir: dotGit}
	if !st.IsDir() {
		b, err := os.ReadFile(dotGit)
		if err != nil {
			return gitDirs{}, false
		}
		path, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
		if !ok || path == "" || strings.Contains(path, "\n") {
			return gitDirs{}, false
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		d.gitDir = path
	}
	d.commonDir = d.gitDir
	if b, err := os.ReadFile(filepath.Join(d.gitDir, "commondir")); err == nil {
		common := strings.TrimSpace(string(b))
		if !filepath.IsAbs(common) {
			common = filepath.Join(d.gitDir, common)
		}
		d.commonDir = common
	} else if !errors.Is(err, fs.ErrNotExist) {
		return gitDirs{}, false
	}
	head, err := os.ReadFile(filepath.Join(d.gitDir, "HEAD"))
	if err != nil || !headContent.Match(head) {
		return gitDirs{}, false
	}
	for _, sub := range []string{"objects", "refs"} {
		if st, err := os.Stat(filepath.Join(d.commonDir, sub)); err != nil || !st.IsDir() {
			return gitDirs{}, false
		}
	}
	return d, true
}

// localConfigFilterFree reports whether the repository configuration git
// reads in dir (the repository's config and the worktree's config.worktree)
// certainly defines no filter driver: neither file mentions "filter" or
// "include" in any letter case. A section name cannot be escaped or split
// across lines, so a driver defined in one of these files always spells
// the word out; an include may pull one in from anywhere, so it is left to
// git. False means: ask git.
func localConfigFilterFree(dir string) bool {
	d, ok := locateGitDir(dir)
	if !ok {
		return false
	}
	for _, path := range []string{filepath.Join(d.commonDir, "config"), filepath.Join(d.gitDir, "config.worktree"), filepath.Join(d.commonDir, "config.worktree")} {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false
		}
		lower := bytes.ToLower(b)
		if bytes.Contains(lower, []byte("filter")) || bytes.Contains(lower, []byte("include")) {
			return false
		}
	}
	return true
}
