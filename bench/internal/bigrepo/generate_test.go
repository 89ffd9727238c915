package bigrepo

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A small repository through the same generator: the files and commits
// asked for, and a second Ensure reuses it.
func TestEnsure_GeneratesOnceThenReuses(t *testing.T) {
	p := Params{Files: 300, FileBytes: 64, Commits: 3, FilesPerCommit: 20, Seed: 1}
	cache := t.TempDir()
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull}
	bare, took, err := Ensure(t.Context(), cache, p, env)
	if err != nil || took == 0 {
		t.Fatalf("Ensure: %v (took %s)", err, took)
	}
	out, err := exec.Command("git", "--git-dir", bare, "ls-tree", "-r", "--name-only", "main").Output()
	if err != nil || len(strings.Fields(string(out))) != 300 {
		t.Fatalf("main has %d files (%v), want 300", len(strings.Fields(string(out))), err)
	}
	out, _ = exec.Command("git", "--git-dir", bare, "rev-list", "--count", "main").Output()
	if strings.TrimSpace(string(out)) != "4" {
		t.Fatalf("main has %s commits, want 4", out)
	}
	again, took, err := Ensure(t.Context(), cache, p, env)
	if err != nil || again != bare || took != 0 {
		t.Fatalf("second Ensure: %s, %s, %v; want the cached one", again, took, err)
	}
}
