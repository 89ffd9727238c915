// Package agent runs the Claude Code CLI once for a workflow step: prompt on
// stdin, stream-json read line by line as it arrives, the whole process tree
// stopped on timeout or shutdown, and the outcome turned into a Result whose
// ErrorMessage a user can act on.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/services/executor/agentuser"
)

// Request is one CLI run.
type Request struct {
	Dir      string // working directory: the work order's sandbox
	Prompt   string // sent on stdin
	Model    string // --model; empty lets the CLI choose
	MaxTurns int    // --max-turns when > 0
	// MaxBudgetUSD, when > 0, is --max-budget-usd: the CLI stops once the
	// run has cost more.
	MaxBudgetUSD    float64
	SkipPermissions bool // --dangerously-skip-permissions
	// Resume, when set, continues that earlier session (--resume): the
	// prompt is the next user message of a conversation the agent
	// remembers. The CLI finds the session under its config directory,
	// by working directory, so only on the machine that ran it.
	Resume  string
	Timeout time.Duration
	// TimeoutLimit names the setting Timeout comes from, for the message
	// of a run that timed out, e.g. "AWO_STEP_TIMEOUTS planning=10m0s".
	TimeoutLimit string
	// Env is added to the agent's environment (see Environ); later
	// entries win.
	Env []string
	// PassEnv names further variables of the service's environment the
	// agent gets (AWO_AGENT_ENV).
	PassEnv []string
	// GitHub gives the agent the GitHub credentials of the service's
	// environment (GH_TOKEN, GITHUB_TOKEN, SSH_AUTH_SOCK, ...): only for
	// the steps that push or call GitHub.
	GitHub bool
	// OnMessage is called for every stream-json line as it arrives, in
	// order, from one goroutine, and never after Run returns. It should not
	// block: the CLI stalls while its output is not read.
	OnMessage func(Message)
	// Logger, when set, is used instead of Runner.Logger, so the caller can
	// attach work_order_id and step to every line about this run.
	Logger *slog.Logger
}

// Result is the outcome of a run. A failed step is a Result with Success
// false and ErrorMessage set, never an error.
type Result struct {
	Success bool
	// ExitCode is the CLI's exit status; -1 when it did not start or was
	// killed by a signal.
	ExitCode     int
	TimedOut     bool
	SessionID    string
	ResultText   string
	ErrorMessage string
	// CostUSD is the CLI's total_cost_usd: for a resumed session, the
	// session's cost over all its runs so far (2.1.328), not this run's
	// alone; Usage and NumTurns are this run's.
	CostUSD    float64
	Usage      events.Usage
	NumTurns   int
	Duration   time.Duration
	StderrTail string
	// ResumeFailed is set when Request.Resume named a session the CLI
	// could not continue (not on this machine, not for this directory):
	// it stopped before starting a session, and the agent did nothing.
	ResumeFailed bool
	// UsageLimited is set when the run ended because the agent's account
	// hit a usage or rate limit (or the API was overloaded), not because
	// the step failed: the step can wait and run again. ResetAt is when
	// the limit resets, zero when the agent did not say (Claude Code
	// 2.1.328 never does).
	UsageLimited bool
	ResetAt      time.Time
	// LimitReason is the API's answer that ended a UsageLimited run, for
	// messages: "429 rate_limit_error", "529 overloaded_error".
	LimitReason string
}

// Runner starts the CLI.
type Runner struct {
	// CLIPath is the binary: a path, or a name looked up in PATH
	// (CLAUDE_CLI_PATH; "claude" when empty).
	CLIPath string
	Logger  *slog.Logger
	// Redactor takes secrets out of what the run reports (result text,
	// error message, stderr tail); nil is redact.Default().
	Redactor *redact.Redactor
	// KillGrace is how long the CLI gets to exit after SIGTERM before its
	// process tree is killed; 5s when zero. The CLI stops its own tool
	// processes on SIGTERM, which it cannot do after SIGKILL.
	KillGrace time.Duration
	// User, when set, is the Unix user the CLI runs as (AWO_AGENT_USER):
	// its uid, groups and HOME. The executor must be root to switch; its
	// process group and the kernel's parent-death signal still reach the
	// CLI, since root may signal any process.
	User *agentuser.Identity
}

const (
	defaultKillGrace = 5 * time.Second
	// maxLineBytes bounds one stream-json line kept in memory; a tool result
	// holding a whole file can be megabytes. Longer lines are skipped, never
	// left unread.
	maxLineBytes    = 32 << 20
	stderrTailBytes = 8 << 10
	// drainTimeout is how long output is still read after the CLI exited;
	// a process it left behind may hold the pipe open forever.
	drainTimeout = 2 * time.Second
)

var errStepTimeout = errors.New("step timeout")

// sessionIDPattern is the CLI's session id, a UUID: nothing else is
// passed to --resume (an id from an event must not become a flag).
var sessionIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Run runs the CLI once and reports how it went. The error is non-nil only
// when ctx was cancelled by the caller (a shutdown): the CLI's process tree
// has then been stopped and the step can be handed back to be run again.
func (r *Runner) Run(ctx context.Context, req Request) (Result, error) {
	log := req.Logger
	if log == nil {
		log = r.Logger
	}
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	fail := func(msg string) (Result, error) {
		log.Warn("claude CLI not run", "reason", msg)
		return Result{ExitCode: -1, ErrorMessage: msg, Duration: time.Since(start)}, nil
	}
	if ctx.Err() != nil {
		return Result{ExitCode: -1}, fmt.Errorf("not starting the claude CLI: %w", context.Cause(ctx))
	}
	if req.Resume != "" && !sessionIDPattern.MatchString(req.Resume) {
		res, err := fail(fmt.Sprintf("cannot resume session %q: not a session id", textcut.Bytes(req.Resume, 80, "…")))
		res.ResumeFailed = true
		return res, err
	}
	bin, env, problem := r.command(req)
	if problem != "" {
		return fail(problem)
	}
	p, err := startCLI(bin, req, env, r.User, &streamState{start: start, onMessage: req.OnMessage, log: log})
	if err != nil {
		return fail(err.Error())
	}
	log.Debug("claude CLI started", "pid", p.pid(), "dir", req.Dir, "model", req.Model, "max_turns", req.MaxTurns)
	stopCause := r.wait(ctx, p, req.Timeout, log)
	return r.result(req, p, start, stopCause, log)
}

// command is the CLI binary to run and its environment, or the problem
// that keeps it from running.
func (r *Runner) command(req Request) (bin string, env []string, problem string) {
	cliPath := r.CLIPath
	if cliPath == "" {
		cliPath = "claude"
	}
	bin, err := exec.LookPath(cliPath)
	if err != nil {
		return "", nil, fmt.Sprintf("claude CLI not found at %s: set CLAUDE_CLI_PATH", cliPath)
	}
	env = append(Environ(os.Environ(), req.PassEnv, req.GitHub), req.Env...)
	// The CLI's own root check looks at the uid it runs as.
	cliUID := os.Geteuid()
	if r.User != nil {
		env = r.User.Environ(env)
		cliUID = int(r.User.UID)
	}
	if msg := rootSandboxProblem(req.SkipPermissions, cliUID, env); msg != "" {
		return "", nil, msg
	}
	return bin, env, ""
}

// wait waits for the CLI to exit, stopping it when ctx ends or timeout
// (when set) passes; it returns why it was stopped, nil when it exited by
// itself.
func (r *Runner) wait(ctx context.Context, p *cliProcess, timeout time.Duration, log *slog.Logger) (stopCause error) {
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		runCtx, cancel = context.WithTimeoutCause(ctx, timeout, errStepTimeout)
	}
	defer cancel()
	select {
	case <-p.waited:
	case <-runCtx.Done():
		stopCause = context.Cause(runCtx)
		r.stop(p, stopCause, log)
	}
	p.finish(log)
	return stopCause
}

// result is what the finished CLI run comes to. A run stopped by the
// caller (not by its timeout) is an error: it did not finish.
func (r *Runner) result(req Request, p *cliProcess, start time.Time, stopCause error, log *slog.Logger) (Result, error) {
	res := Result{
		ExitCode:   p.cmd.ProcessState.ExitCode(),
		SessionID:  p.stream.sessionID,
		Duration:   time.Since(start),
		StderrTail: p.stderrTail.String(),
	}
	if rl := p.stream.result; rl != nil {
		res.ResultText, res.CostUSD, res.Usage, res.NumTurns = rl.Result, rl.TotalCostUSD, rl.Usage, rl.NumTurns
	}
	// What the agent printed goes into the step's output and error: a
	// Bash `env` or a `cat` of a key file must not take a secret with it.
	red := redact.Or(r.Redactor)
	res.ResultText, res.StderrTail = red.String(res.ResultText), red.String(res.StderrTail)
	switch {
	case stopCause == errStepTimeout:
		res.TimedOut = true
		res.ErrorMessage = fmt.Sprintf("claude CLI timed out after %s and was stopped", req.Timeout)
		if req.TimeoutLimit != "" {
			res.ErrorMessage = fmt.Sprintf("claude CLI timed out after %s (%s) and was stopped", req.Timeout, req.TimeoutLimit)
		}
	case stopCause != nil:
		res.ErrorMessage = "claude CLI stopped: " + stopCause.Error()
		log.Info("claude CLI stopped by the caller", "pid", p.pid(), "cause", stopCause, "duration_ms", res.Duration.Milliseconds())
		return res, fmt.Errorf("claude CLI run interrupted: %w", stopCause)
	default:
		res.ErrorMessage = failureMessage(res.ExitCode, p.cmd.ProcessState.String(), p.stream.result, res.StderrTail)
		res.Success = res.ErrorMessage == ""
		// A session that starts says so first (system/init); a resume the
		// CLI refuses ends with only a result line ("No conversation found
		// with session ID").
		res.ResumeFailed = req.Resume != "" && !res.Success && !p.stream.readyOnce
		if !res.Success && usageLimited(p.stream.result, p.stream.apiError) {
			res.UsageLimited, res.LimitReason = true, limitReason(p.stream.result, p.stream.apiError)
			res.ResetAt, _ = ResetTime(res.ResultText+"\n"+res.ErrorMessage, time.Now())
		}
	}
	res.ErrorMessage = red.String(res.ErrorMessage)
	log.Info("claude CLI finished",
		"success", res.Success, "exit_code", res.ExitCode, "timed_out", res.TimedOut,
		"session_id", res.SessionID, "resumed", req.Resume != "" && !res.ResumeFailed, "turns", res.NumTurns, "cost_usd", res.CostUSD,
		"duration_ms", res.Duration.Milliseconds(), "usage_limited", res.UsageLimited, "error", res.ErrorMessage)
	return res, nil
}

// cliProcess is a started CLI and the goroutines reading its output.
type cliProcess struct {
	cmd                    *exec.Cmd
	stdout, stderr         *os.File // read ends
	stream                 *streamState
	stderrTail             *tailBuffer
	stdoutDone, stderrDone chan struct{}
	waited                 chan struct{} // closed when Wait has returned
}

func (p *cliProcess) pid() int { return p.cmd.Process.Pid }

// startCLI starts the CLI in its own process group with the prompt on
// stdin. Its output goes through pipes that are *os.File, not io.Writers:
// exec then starts no copying goroutines, so Wait returns when the CLI
// exits even if a process it left behind still holds the pipes.
func startCLI(bin string, req Request, env []string, user *agentuser.Identity, stream *streamState) (*cliProcess, error) {
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the claude CLI's output pipe: %w", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, fmt.Errorf("creating the claude CLI's error pipe: %w", err)
	}
	cmd := exec.Command(bin, cliArgs(req)...)
	cmd.Dir = req.Dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(req.Prompt)
	// Stdin is copied by a goroutine Wait waits for; should a process the
	// CLI left behind hold stdin open, this bounds the wait.
	cmd.WaitDelay = drainTimeout
	cmd.Stdout = stdoutW
	cmd.Stderr = stderrW
	inOwnProcessGroup(cmd)
	runAs(cmd, user)
	err = cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdoutR.Close()
		stderrR.Close()
		return nil, fmt.Errorf("starting the claude CLI (%s) in %s: %w", bin, req.Dir, err)
	}

	p := &cliProcess{
		cmd: cmd, stdout: stdoutR, stderr: stderrR, stream: stream,
		stderrTail: &tailBuffer{max: stderrTailBytes},
		stdoutDone: make(chan struct{}), stderrDone: make(chan struct{}), waited: make(chan struct{}),
	}
	go func() {
		defer close(p.stdoutDone)
		stream.read(stdoutR)
	}()
	go func() {
		defer close(p.stderrDone)
		io.Copy(p.stderrTail, stderrR)
	}()
	go func() {
		// The exit status is read from cmd.ProcessState.
		cmd.Wait()
		close(p.waited)
	}()
	return p, nil
}

// finish runs once the CLI has exited: it kills what is left of its process
// group and collects the rest of its output.
func (p *cliProcess) finish(log *slog.Logger) {
	killGroup(p.pid(), syscall.SIGKILL)
	if !drain([]*os.File{p.stdout, p.stderr}, p.stdoutDone, p.stderrDone) {
		log.Warn("a process started by the claude CLI still holds its output open; stopped reading it")
	}
	p.stdout.Close()
	p.stderr.Close()
}

// stop ends the CLI: SIGTERM to its process group, so it can stop the tool
// processes it runs in sessions of their own; after the grace period SIGKILL
// to the group and to every descendant. Returns once the CLI has exited.
func (r *Runner) stop(p *cliProcess, cause error, log *slog.Logger) {
	grace := r.KillGrace
	if grace <= 0 {
		grace = defaultKillGrace
	}
	pid := p.pid()
	tree := descendants(pid)
	log.Warn("stopping the claude CLI", "pid", pid, "cause", cause, "descendants", len(tree))
	killGroup(pid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.waited:
		// The CLI kills its tools before exiting; anything still running
		// from before the SIGTERM was left behind.
		killAll(tree, syscall.SIGKILL)
		return
	case <-timer.C:
	}
	log.Warn("claude CLI ignored SIGTERM; killing its process tree", "pid", pid, "grace", grace)
	tree = append(tree, descendants(pid)...)
	killGroup(pid, syscall.SIGKILL)
	killAll(tree, syscall.SIGKILL)
	<-p.waited
}

func cliArgs(req Request) []string {
	args := []string{"--print", "--output-format", "stream-json", "--verbose"}
	if req.Model != "" {
		args = append(args, "--model", req.Model)
	}
	if req.MaxTurns > 0 {
		args = append(args, "--max-turns", strconv.Itoa(req.MaxTurns))
	}
	if req.MaxBudgetUSD > 0 {
		args = append(args, "--max-budget-usd", strconv.FormatFloat(req.MaxBudgetUSD, 'f', -1, 64))
	}
	if req.SkipPermissions {
		args = append(args, "--dangerously-skip-permissions")
	}
	if req.Resume != "" {
		args = append(args, "--resume", req.Resume)
	}
	return args
}

// rootSandboxProblem checks the environment the CLI will get.
func rootSandboxProblem(skipPermissions bool, euid int, env []string) string {
	return config.RootSandboxProblem(skipPermissions, euid, lookupEnv(env, "IS_SANDBOX"))
}

// lookupEnv reads env the way exec does: the last entry for a key wins.
func lookupEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// failureMessage says why a finished run failed, or "" when it succeeded:
// exit status 0, a result line, and is_error false. The result line is the
// best witness: a 4xx from the API still says "subtype":"success" there,
// with is_error true and the API's message in result. exitCode is -1 when
// a signal ended the CLI; exitDesc then names it.
func failureMessage(exitCode int, exitDesc string, rl *ResultLine, stderrTail string) string {
	if rl != nil && rl.IsError {
		switch {
		case rl.Result != "":
			return "claude CLI failed: " + rl.Result
		case len(rl.Errors) > 0:
			return "claude CLI failed: " + strings.Join(rl.Errors, "; ")
		}
		return fmt.Sprintf("claude CLI failed (%s, %s) without saying why", rl.Subtype, rl.TerminalReason)
	}
	if exitCode == 0 {
		if rl == nil {
			return "claude CLI exited without reporting a result" + stderrSuffix(stderrTail)
		}
		return ""
	}
	if exitCode > 0 {
		return fmt.Sprintf("claude CLI exited with code %d%s", exitCode, stderrSuffix(stderrTail))
	}
	return fmt.Sprintf("claude CLI ended abnormally (%s)%s", exitDesc, stderrSuffix(stderrTail))
}

func stderrSuffix(tail string) string {
	tail = strings.TrimSpace(tail)
	if tail == "" {
		return " and printed nothing on stderr"
	}
	return ": " + textcut.LastBytes(tail, 500, "…")
}
