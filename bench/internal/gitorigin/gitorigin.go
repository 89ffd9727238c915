// Package gitorigin makes the local "remote" repository the git benchmark
// works against: a bare repository with one commit on main, and a private
// git configuration (identity, no system or user config) for every git
// process of the run.
package gitorigin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Origin is a bare repository on disk.
type Origin struct {
	URL string   // file:// URL of the bare repository, .../acme/demo.git
	Env []string // what every git process of the run adds to its environment
}

// Create makes the origin under root.
func Create(root string) (Origin, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Origin{}, fmt.Errorf("creating the benchmark origin: %w", err)
	}
	gitconfig := filepath.Join(root, "gitconfig")
	config := "[user]\n\tname = AWO Bench\n\temail = awo-bench@example.com\n" +
		"[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
	if err := os.WriteFile(gitconfig, []byte(config), 0o600); err != nil {
		return Origin{}, fmt.Errorf("writing the benchmark gitconfig: %w", err)
	}
	bare := filepath.Join(root, "origin", "acme", "demo.git")
	o := Origin{
		URL: "file://" + bare,
		Env: []string{"GIT_CONFIG_GLOBAL=" + gitconfig, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"},
	}
	seed := filepath.Join(root, "seed")
	if err := os.MkdirAll(seed, 0o755); err != nil {
		return Origin{}, err
	}
	if err := os.WriteFile(filepath.Join(seed, "README.md"), []byte("# demo\n"), 0o644); err != nil {
		return Origin{}, err
	}
	for _, step := range []struct {
		dir  string
		args []string
	}{
		{root, []string{"init", "--quiet", "--bare", "--initial-branch=main", bare}},
		{seed, []string{"init", "--quiet", "--initial-branch=main"}},
		{seed, []string{"add", "README.md"}},
		{seed, []string{"commit", "--quiet", "-m", "Initial commit"}},
		{seed, []string{"push", "--quiet", bare, "main"}},
	} {
		cmd := exec.Command("git", step.args...)
		cmd.Dir = step.dir
		cmd.Env = append(os.Environ(), o.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return Origin{}, fmt.Errorf("creating the benchmark origin: git %s: %w: %s", strings.Join(step.args, " "), err, out)
		}
	}
	return o, nil
}
