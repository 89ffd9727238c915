package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Process is an agent CLI other than Claude Code started by Start: the
// same process handling (own process group, parent-death signal, output
// read as it comes, the whole tree stopped on timeout or cancel) for a CLI
// whose output the caller reads line by line.
type Process struct {
	p   *cliProcess
	r   *Runner
	log *slog.Logger
}

// Start starts bin with args in req.Dir, req.Prompt on stdin and env as
// the environment, as r.User when set. onLine gets every non-empty stdout
// line, trimmed, in order, from one goroutine, never after Wait returns.
func (r *Runner) Start(bin string, args []string, req Request, env []string, onLine func([]byte), log *slog.Logger) (*Process, error) {
	p, err := startCLI(bin, args, req, env, r.User, &streamState{start: time.Now(), onLine: onLine, log: log})
	if err != nil {
		return nil, err
	}
	return &Process{p: p, r: r, log: log}, nil
}

// Wait waits for the CLI to exit, stopping its process tree when ctx ends
// or timeout (when > 0) passes, and reads the rest of its output. It
// returns why the CLI was stopped: nil when it exited by itself,
// the timeout (IsTimeout), or ctx's cause.
func (p *Process) Wait(ctx context.Context, timeout time.Duration) error {
	return p.r.wait(ctx, p.p, timeout, p.log)
}

// Pid is the CLI's process id.
func (p *Process) Pid() int { return p.p.pid() }

// ExitCode is the CLI's exit status after Wait; -1 when a signal ended it.
func (p *Process) ExitCode() int { return p.p.cmd.ProcessState.ExitCode() }

// ExitDesc describes how the CLI ended ("exit status 1", "signal: killed").
func (p *Process) ExitDesc() string { return p.p.cmd.ProcessState.String() }

// StderrTail is the end of what the CLI printed on stderr.
func (p *Process) StderrTail() string { return p.p.stderrTail.String() }

// IsTimeout reports whether a stop cause from Wait is the run's timeout.
func IsTimeout(cause error) bool { return errors.Is(cause, errStepTimeout) }

// StderrSuffix is ": <the end of stderr>" or " and printed nothing on
// stderr", for messages about a failed run.
func StderrSuffix(tail string) string { return stderrSuffix(tail) }
