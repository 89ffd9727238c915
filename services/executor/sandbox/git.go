package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/textcut"
)

// gitWaitDelay bounds how long a cancelled git may keep its output pipes
// open through children (ssh, upload-pack) before Wait gives up on them.
const gitWaitDelay = 5 * time.Second

// maxErrorLen keeps git's stderr in an error message readable.
const maxErrorLen = 500

// DefaultGitTimeout is AWO_GIT_TIMEOUT's default.
const DefaultGitTimeout = 10 * time.Minute

// sshConnectTimeout is how long ssh may take to reach a host (seconds).
const sshConnectTimeout = "30"

// errGitTimeout is the cause of a network git cut short by GitTimeout.
var errGitTimeout = errors.New("AWO_GIT_TIMEOUT")

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
//
// It is the one place the executor runs git. Every git it starts ignores
// what the repository's configuration says about running programs (see
// hardening), and one that talks to origin (clone, fetch, push) has a
// deadline (GitTimeout), gives up on a stalled transfer, and fails with one
// of a few fixed messages (see classify) rather than with what the server
// or the network said.
func (m *Manager) gitRawEnv(ctx context.Context, dir string, extraEnv []string, args ...string) (string, error) {
	op := networkOp(args)
	if op != "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, m.gitTimeout(), errGitTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "git", append(m.hardening(ctx, dir, args, op != ""), packPrograms(args)...)...)
	cmd.Dir = dir
	cmd.Env = append(m.gitEnv(), extraEnv...)
	if repo := m.repoEnv(dir); repo != nil {
		// A sandbox of the agent user: its git runs as that user, so
		// nothing the agent planted there acts with root's rights.
		cmd.Env = append(append(m.agentGitEnv(), repo...), extraEnv...)
		m.runAsOwner(cmd)
	}
	cmd.WaitDelay = gitWaitDelay
	killProcessGroup(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if op != "" {
			// Everything git said, for the operator only: the step's
			// error message gets the classified form.
			m.logger().Debug("git failed", "args", maskArgs(args), "dir", dir,
				"stderr", maskURLs(stderr.String()), "err", err)
		}
		if errors.Is(context.Cause(ctx), errGitTimeout) {
			return "", &gitError{args: args, msg: fmt.Sprintf("git %s timed out: it did not finish within %s (AWO_GIT_TIMEOUT)", op, m.gitTimeout()), err: context.DeadlineExceeded}
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("git %s: %w", args[0], ctx.Err())
		}
		if op != "" {
			return stdout.String(), &gitError{args: args, msg: classify(op, stderr.String(), err), err: err}
		}
		return stdout.String(), &gitError{args: args, msg: summarize(stderr.String()), err: err}
	}
	return stdout.String(), nil
}

func (m *Manager) gitTimeout() time.Duration {
	if m.GitTimeout > 0 {
		return m.GitTimeout
	}
	return DefaultGitTimeout
}

// networkOp names the operation when args make git talk to origin, or
// returns "". A fetch from a bundle file is local.
func networkOp(args []string) string {
	switch args[0] {
	case "clone", "push":
		return args[0]
	case "fetch", "ls-remote":
		if slices.Contains(args, "origin") {
			return "fetch"
		}
	}
	return ""
}

// packPrograms names the programs git starts for the other end of a
// transfer on the command line. remote.origin.uploadpack and receivepack
// are first-wins, so a -c cannot beat the repository's; for a local origin
// they are programs run on this machine.
func packPrograms(args []string) []string {
	var opt string
	switch args[0] {
	case "clone", "fetch", "ls-remote":
		opt = "--upload-pack=git-upload-pack"
	case "push":
		opt = "--receive-pack=git-receive-pack"
	default:
		return args
	}
	return append([]string{args[0], opt}, args[1:]...)
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
// in batch mode with a connect timeout unless the operator configured ssh
// for git themselves. The ssh command is always set in the environment,
// which git prefers to core.sshCommand, so a repository's configuration
// cannot choose the program git runs for ssh.
func (m *Manager) gitEnv() []string {
	env := make([]string, 0, len(os.Environ())+len(m.Env)+6)
	var sshCommand, sshProgram string
	for _, kv := range append(os.Environ(), m.Env...) {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case repoLocatingVars[name]:
			continue
		case name == "GIT_SSH_COMMAND":
			sshCommand = value
			continue
		case name == "GIT_SSH":
			sshProgram = value
		}
		env = append(env, kv)
	}
	switch {
	case sshCommand != "":
	case sshProgram != "":
		// GIT_SSH loses to a repository's core.sshCommand; the same
		// program as GIT_SSH_COMMAND wins over it.
		sshCommand = shellQuote(sshProgram)
	case m.operator().sshCommand != "":
		sshCommand = m.operator().sshCommand
	default:
		sshCommand = "ssh -o BatchMode=yes -o ConnectTimeout=" + sshConnectTimeout
	}
	env = append(env, "GIT_SSH_COMMAND="+sshCommand,
		// Programs git could start for a human; none is ever wanted.
		"GIT_PAGER=cat", "GIT_EDITOR=:", "GIT_SEQUENCE_EDITOR=:")
	// Last, so that nothing in Env can turn prompting back on.
	return append(env, "GIT_TERMINAL_PROMPT=0")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// gitError carries what a failed git said, already cut to what the step's
// error message may show.
type gitError struct {
	args []string
	msg  string
	err  error
}

func (e *gitError) Error() string {
	if e.msg != "" {
		return e.msg
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
	return textcut.Bytes(s, maxErrorLen, "…")
}

// failureClasses map what git prints when a clone, fetch or push fails to
// the only things a step's error message says about it. Whatever the
// server or the network said stays out of it: a repository URL comes from
// the API, so the message of a failed clone must not tell a caller whether
// a port is open, closed or filtered, what a service answered, or which
// names resolve. Checked in order; the first match wins.
var failureClasses = []struct {
	pattern *regexp.Regexp
	message string
}{
	{regexp.MustCompile(`(?i)operation too slow|timed out after|transfer rate`),
		"timed out: the transfer stalled (less than 1000 bytes/s for 60s)"},
	{regexp.MustCompile(`(?i)authentication failed|could not read (username|password)|terminal prompts disabled|permission denied \(|access denied|invalid username or password|HTTP Basic|returned error: 401|returned error: 403|401 Unauthorized|403 Forbidden|host key verification failed`),
		"authentication failed: the host did not accept the executor's credentials, or there are none for it"},
	{regexp.MustCompile(`(?i)repository not found|not found|does not appear to be a git repository|returned error: 404|no such repository|couldn't find remote ref|does not exist`),
		"repository not found, or no access to it"},
	{regexp.MustCompile(`(?i)\[rejected\]|\[remote rejected\]|non-fast-forward|fetch first|stale info`),
		"rejected: origin's branch has commits this sandbox does not have, or the server does not allow the update (a branch rule or a server hook)"},
}

// classify turns a failed clone, fetch or push into one fixed message
// naming the operation.
func classify(op, stderr string, err error) string {
	for _, c := range failureClasses {
		if c.pattern.MatchString(stderr) {
			return "git " + op + " failed: " + c.message
		}
	}
	// Refused, unreachable, unresolvable, TLS errors, a service that is not
	// git, a dropped connection: all the same to the caller.
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return "git " + op + " failed: could not connect to the host or talk git with it (exit status " + fmt.Sprint(exit.ExitCode()) + "); the executor's debug log has git's own words"
	}
	return "git " + op + " failed: " + err.Error()
}

// urlInText finds URL-like words in git's output, to be masked before they
// reach a log line.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s'"]+|[^\s'"@/]+@[^\s'":]+:[^\s'"]*`)

func maskURLs(s string) string { return urlInText.ReplaceAllStringFunc(s, repourl.Mask) }

func maskArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = maskURLs(a)
	}
	return out
}
