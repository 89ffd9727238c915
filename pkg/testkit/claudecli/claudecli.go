// Package claudecli locates the pinned Claude Code CLI for tests and builds
// the environment that points it at a scripted model server instead of
// Anthropic. Tests that need the CLI fail when it is missing: a skipped
// integration test would look like a passing one.
package claudecli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// PinnedVersion is the CLI version the project is tested against.
const PinnedVersion = "2.1.328"

// EnvOverride names the variable that points tests at another CLI binary.
const EnvOverride = "AWO_TEST_CLAUDE"

const installHint = "run `make tools` (npm install --prefix .tools @anthropic-ai/claude-code@" + PinnedVersion + ")"

// Path returns the CLI binary tests should run: $AWO_TEST_CLAUDE when set,
// else the copy installed under <workspace root>/.tools. It fails the test
// when neither exists.
func Path(t testing.TB) string {
	t.Helper()
	p, err := find()
	if err != nil {
		t.Fatalf("claude CLI for tests: %v; %s", err, installHint)
	}
	return p
}

func find() (string, error) {
	if p := os.Getenv(EnvOverride); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvOverride, p, err)
		}
		return p, nil
	}
	root, err := WorkspaceRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".tools", "node_modules", ".bin", "claude")
	if err := checkExecutable(p); err != nil {
		return "", err
	}
	return p, nil
}

func checkExecutable(p string) error {
	st, err := os.Stat(p) // follows the npm .bin symlink to the real binary
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// WorkspaceRoot is the nearest directory at or above the working directory
// that holds go.work.
func WorkspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the workspace root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work found above the working directory")
		}
		dir = parent
	}
}

// Env returns the variables (to append to os.Environ()) that make the CLI
// talk to the model server at baseURL and nothing else:
//
//   - ANTHROPIC_BASE_URL and a dummy ANTHROPIC_API_KEY: with an API key in
//     the environment the CLI never asks to log in.
//   - DISABLE_TELEMETRY and CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: without
//     them 2.1.328 also sends HEAD /api/hello to the base URL and tries
//     telemetry hosts.
//   - IS_SANDBOX=1: tests run as root in CI, and the CLI refuses
//     --dangerously-skip-permissions for root unless IS_SANDBOX is exactly "1"
//     ("true" is refused too).
//   - CLAUDE_CONFIG_DIR: the CLI keeps .claude.json, session transcripts and
//     shell snapshots there instead of ~/.claude, so tests neither read a
//     developer's settings nor write into them. The directory is shared by
//     all tests and kept between runs (it lives in the git-ignored .tools
//     when the workspace root is found): transcripts in it help to debug a
//     failed test.
//   - HOME: an empty directory beside it. The CLI's Bash tool runs a login
//     shell, which would source the machine's profile: on a machine whose
//     ~/.bashrc runs `pyenv init`, every Bash call paid a pyenv rehash, and
//     an agent killed mid-call (timeouts, cancels, the fault tests) left
//     pyenv's lock behind, after which every later Bash call waited a
//     minute for it. git's identity comes from GIT_CONFIG_GLOBAL
//     (gitfixture) or the command line, not from HOME.
func Env(baseURL string) []string {
	return []string{
		"ANTHROPIC_BASE_URL=" + baseURL,
		"ANTHROPIC_API_KEY=sk-test",
		"DISABLE_TELEMETRY=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"IS_SANDBOX=1",
		"CLAUDE_CONFIG_DIR=" + configDir(),
		"HOME=" + homeDir(),
	}
}

// homeDir is an empty home for the CLI and the commands its tools run; it
// is created here because a login shell wants its HOME to exist.
func homeDir() string {
	dir := filepath.Join(filepath.Dir(configDir()), "claude-home")
	_ = os.MkdirAll(dir, 0o700) // unwritable: the shell just finds no profile
	return dir
}

// configDir needs no creation: the CLI makes the directory on first use.
func configDir() string {
	if root, err := WorkspaceRoot(); err == nil {
		return filepath.Join(root, ".tools", "claude-config")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("awo-claude-config-%d", os.Getuid()))
}
