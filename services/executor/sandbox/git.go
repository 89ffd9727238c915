package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// gitWaitDelay bounds how long a cancelled git may keep its output pipes
// open through children (ssh, upload-pack) before Wait gives up on them.
const gitWaitDelay = 5 * time.Second

// maxErrorLen keeps git's stderr in an error message readable.
const maxErrorLen = 500

// git runs git with an argument list, never through a shell, and returns
// its standard output with surrounding space trimmed.
func (m *Manager) git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := m.gitRaw(ctx, dir, args...)
	return strings.TrimSpace(out), err
}

func (m *Manager) gitRaw(ctx context.Context, dir string, args ...string) (string, error) {
	return m.gitRawEnv(ctx, dir, nil, args...)
}

// gitRawEnv is gitRaw with extra variables set last, so they may name a
// repository-locating variable such as GIT_INDEX_FILE on purpose.
func (m *Manager) gitRawEnv(ctx context.Context, dir string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(m.gitEnv(), extraEnv...)
	if repo := m.repoEnv(dir); repo != nil {
		// A sandbox of the agent user: its git runs as that user, so
		// nothing the agent planted there acts with root's rights.
		cmd.Env = append(append(m.agentGitEnv(), repo...), extraEnv...)
		m.runAsOwner(cmd)
	}
	cmd.WaitDelay = gitWaitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("git %s: %w", args[0], ctx.Err())
		}
		return stdout.String(), &gitError{args: args, stderr: summarize(stderr.String()), err: err}
	}
	return stdout.String(), nil
}

// repoLocatingVars would make git operate on another repository than the
// directory it runs in (they are set, for example, while git runs a hook).
var repoLocatingVars = map[string]bool{
	"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true, "GIT_COMMON_DIR": true,
	"GIT_OBJECT_DIRECTORY": true, "GIT_ALTERNATE_OBJECT_DIRECTORIES": true,
	"GIT_NAMESPACE": true, "GIT_PREFIX": true,
}

// gitEnv is the environment every git command runs with. Nothing may ever
// wait for a human: GIT_TERMINAL_PROMPT=0 stops https prompts and ssh runs
// in batch mode unless the operator configured ssh for git themselves.
func (m *Manager) gitEnv() []string {
	env := make([]string, 0, len(os.Environ())+len(m.Env)+2)
	sshConfigured := false
	for _, kv := range append(os.Environ(), m.Env...) {
		name, _, _ := strings.Cut(kv, "=")
		if repoLocatingVars[name] {
			continue
		}
		if name == "GIT_SSH_COMMAND" || name == "GIT_SSH" {
			sshConfigured = true
		}
		env = append(env, kv)
	}
	if !sshConfigured {
		env = append(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	// Last, so that nothing in Env can turn prompting back on.
	return append(env, "GIT_TERMINAL_PROMPT=0")
}

// gitError carries git's own explanation of a failure.
type gitError struct {
	args   []string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	if e.stderr != "" {
		return e.stderr
	}
	return "git " + e.args[0] + ": " + e.err.Error()
}

func (e *gitError) Unwrap() error { return e.err }

// summarize turns git's stderr into one line: the fatal, error, remote and
// rejected-ref lines when there are any (the advice around them only repeats them), without
// their prefixes.
func summarize(stderr string) string {
	var all, key []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" || strings.HasPrefix(line, "hint:") {
			continue
		}
		all = append(all, line)
		// "! [rejected] ..." is push's per-ref reason.
		for _, prefix := range []string{"fatal:", "error:", "remote:", "! "} {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				if rest = strings.TrimSpace(rest); rest != "" {
					key = append(key, rest)
				}
				break
			}
		}
	}
	if len(key) == 0 {
		key = all
	}
	s := strings.Join(key, "; ")
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "") + "…"
	}
	return s
}
