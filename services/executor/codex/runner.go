// Package codex runs OpenAI's Codex CLI (`codex exec --json`) for a
// workflow step, as the executor's agent runner for work orders with
// "agent": "codex". The process handling is the Claude runner's
// (agent.Runner.Start): own process group, output read as it comes, the
// whole tree stopped on timeout, cancel or shutdown. Its JSONL events are
// turned into the agent.Message values the live log already shows, and its
// outcome into an agent.Result: codex reports tokens, not cost, so the
// cost comes from AWO_PRICES or is unknown.
package codex

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/agentuser"
)

// Runner starts the codex CLI; it implements the executor's AgentRunner.
type Runner struct {
	// CLIPath is the binary (CODEX_CLI_PATH; "codex" when empty).
	CLIPath string
	// Model is --model (CODEX_MODEL); a request's Model is Claude's and
	// is not used. Empty lets codex choose.
	Model string
	// APIKey is OPENAI_API_KEY for the runs; empty leaves codex to its own
	// login (CODEX_HOME/auth.json).
	APIKey string
	// Prices turn tokens into cost (AWO_PRICES); Model's price is used.
	Prices   config.Prices
	Logger   *slog.Logger
	Redactor *redact.Redactor
	// KillGrace: see agent.Runner.
	KillGrace time.Duration
	User      *agentuser.Identity
}

// sessionIDPattern: codex's thread ids are UUIDs (v7). Nothing else is
// passed to resume, so an id from an event cannot become a flag.
var sessionIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Run runs codex once. Like agent.Runner.Run, the error is non-nil only
// when ctx was cancelled by the caller; a failed run is a Result.
func (r *Runner) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	log := req.Logger
	if log == nil {
		log = r.Logger
	}
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	fail := func(msg string) (agent.Result, error) {
		log.Warn("codex CLI not run", "reason", msg)
		return agent.Result{ExitCode: -1, ErrorMessage: msg, Duration: time.Since(start)}, nil
	}
	if ctx.Err() != nil {
		return agent.Result{ExitCode: -1}, fmt.Errorf("not starting the codex CLI: %w", context.Cause(ctx))
	}
	if req.Resume != "" && !sessionIDPattern.MatchString(req.Resume) {
		res, err := fail(fmt.Sprintf("cannot resume codex session %q: not a session id", textcut.Bytes(req.Resume, 80, "…")))
		res.ResumeFailed = true
		return res, err
	}
	cliPath := r.CLIPath
	if cliPath == "" {
		cliPath = "codex"
	}
	bin, err := exec.LookPath(cliPath)
	if err != nil {
		return fail(fmt.Sprintf("codex CLI not found at %s: set CODEX_CLI_PATH", cliPath))
	}
	st := &runState{model: r.Model, prices: r.Prices, onMessage: req.OnMessage, log: log, now: time.Now, red: redact.Or(r.Redactor)}
	runner := &agent.Runner{KillGrace: r.KillGrace, User: r.User}
	p, err := runner.Start(bin, r.args(req), req, r.environ(req), st.line, log)
	if err != nil {
		return fail(strings.ReplaceAll(err.Error(), "claude CLI", "codex CLI"))
	}
	log.Debug("codex CLI started", "pid", p.Pid(), "dir", req.Dir, "model", r.Model, "resume", req.Resume)
	stopCause := p.Wait(ctx, req.Timeout)
	return r.result(req, p, st, start, stopCause, log)
}

// args: `codex exec --json` with the prompt on stdin ("-"), or `codex exec
// resume --json <id> -`. Approvals and codex's own sandbox are off when
// the step skips permissions (the work order's sandbox is the boundary, as
// for Claude); otherwise codex may write only in its working directory.
// --skip-git-repo-check: the follow-up and checks run outside a repository
// too.
func (r *Runner) args(req agent.Request) []string {
	args := []string{"exec"}
	if req.Resume != "" {
		args = append(args, "resume")
	}
	args = append(args, "--json", "--skip-git-repo-check")
	if req.SkipPermissions {
		args = append(args, "--dangerously-bypass-approvals-and-sandbox")
	} else {
		args = append(args, "-c", `approval_policy="never"`, "-c", `sandbox_mode="workspace-write"`)
	}
	if r.Model != "" {
		args = append(args, "--model", r.Model)
	}
	if req.Resume != "" {
		args = append(args, req.Resume)
	}
	return append(args, "-")
}

// environ is the agent's environment (agent.Environ's allowlist) without
// Claude's credentials and settings, with codex's own (CODEX_HOME and the
// like) and the API key.
func (r *Runner) environ(req agent.Request) []string {
	var env []string
	for _, kv := range agent.Environ(os.Environ(), req.PassEnv, req.GitHub) {
		if !strings.HasPrefix(kv, "ANTHROPIC_") && !strings.HasPrefix(kv, "CLAUDE_") {
			env = append(env, kv)
		}
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CODEX_") && !strings.HasPrefix(kv, "CODEX_CLI_PATH=") && !strings.HasPrefix(kv, "CODEX_MODEL=") {
			env = append(env, kv)
		}
	}
	if r.APIKey != "" {
		env = append(env, "OPENAI_API_KEY="+r.APIKey)
	}
	env = append(env, req.Env...)
	if r.User != nil {
		env = r.User.Environ(env)
	}
	return env
}

// result is what the finished run comes to.
func (r *Runner) result(req agent.Request, p *agent.Process, st *runState, start time.Time, stopCause error, log *slog.Logger) (agent.Result, error) {
	res := agent.Result{
		ExitCode: p.ExitCode(), SessionID: st.sessionID, Duration: time.Since(start), StderrTail: p.StderrTail(),
		ResultText: st.lastText, NumTurns: st.turns, Usage: st.usage.events(),
		CostUSD: st.cost, CostUnknown: st.completed && !st.costKnown,
		UsageLimited: st.usageLimited, ResetAt: st.resetAt,
	}
	red := redact.Or(r.Redactor)
	res.ResultText, res.StderrTail = red.String(res.ResultText), red.String(res.StderrTail)
	switch {
	case agent.IsTimeout(stopCause):
		res.TimedOut = true
		res.ErrorMessage = fmt.Sprintf("codex CLI timed out after %s and was stopped", req.Timeout)
		if req.TimeoutLimit != "" {
			res.ErrorMessage = fmt.Sprintf("codex CLI timed out after %s (%s) and was stopped", req.Timeout, req.TimeoutLimit)
		}
	case stopCause != nil:
		res.ErrorMessage = "codex CLI stopped: " + stopCause.Error()
		log.Info("codex CLI stopped by the caller", "pid", p.Pid(), "cause", stopCause)
		return res, fmt.Errorf("codex CLI run interrupted: %w", stopCause)
	default:
		res.ErrorMessage = st.failureMessage(res.ExitCode, p.ExitDesc(), res.StderrTail)
		res.Success = res.ErrorMessage == ""
		// A resume codex refuses ends before any turn starts.
		res.ResumeFailed = req.Resume != "" && !res.Success && !st.turnStarted
	}
	res.ErrorMessage = red.String(res.ErrorMessage)
	log.Info("codex CLI finished", "success", res.Success, "exit_code", res.ExitCode, "timed_out", res.TimedOut,
		"session_id", res.SessionID, "turns", res.NumTurns, "input_tokens", res.Usage.InputTokens,
		"output_tokens", res.Usage.OutputTokens, "cost_usd", res.CostUSD, "cost_unknown", res.CostUnknown,
		"usage_limited", res.UsageLimited, "duration_ms", res.Duration.Milliseconds(), "error", res.ErrorMessage)
	return res, nil
}

// runState is owned by the output reader until Wait returns.
type runState struct {
	model     string
	prices    config.Prices
	onMessage func(agent.Message)
	log       *slog.Logger
	now       func() time.Time
	// red takes secrets out of what the agent printed before it is logged.
	red *redact.Redactor

	sessionID    string
	lastText     string
	turns        int
	usage        usage
	turnStarted  bool
	completed    bool // turn.completed seen
	failed       string
	lastError    string
	cost         float64
	costKnown    bool
	usageLimited bool
	resetAt      time.Time
}

// line handles one line of `codex exec --json`.
func (s *runState) line(raw []byte) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil || ev.Type == "" {
		s.log.Debug("codex CLI printed a line that is not an event", "line", textcut.Bytes(s.red.String(string(raw)), 300, "…"))
		return
	}
	switch ev.Type {
	case evThreadStarted:
		s.sessionID = ev.ThreadID
	case evTurnStarted:
		s.turnStarted = true
	case evItemCompleted:
		s.itemDone(ev.Item)
	case evError:
		s.lastError = ev.Message
		s.noteLimit(ev.Message)
	case evTurnFailed:
		if ev.Error != nil {
			s.failed = orDefault(ev.Error.Message, "turn failed")
		}
		s.noteLimit(s.failed)
	case evTurnCompleted:
		s.completed = true
		if ev.Usage != nil {
			s.usage = *ev.Usage
			s.cost, s.costKnown = s.prices.Cost(s.model, s.usage.InputTokens, s.usage.CachedInputTokens, s.usage.OutputTokens)
		}
	}
	if s.onMessage == nil {
		return
	}
	s.onMessage(message(ev, raw, s.sessionID, s.model))
	if ev.Type == evTurnCompleted || ev.Type == evTurnFailed {
		s.onMessage(s.resultMessage(raw))
	}
}

func (s *runState) itemDone(it *item) {
	if it == nil {
		return
	}
	switch it.Type {
	case itemAgentMessage:
		s.lastText = it.Text
		s.turns++
	case itemCommand, itemFileChange, itemMCPToolCall, itemWebSearch:
		s.turns++
	case itemError:
		s.log.Debug("codex CLI reported an error item", "message", s.red.String(it.Message))
	}
}

// resultMessage is the run's end as the live log shows a Claude result line.
func (s *runState) resultMessage(raw []byte) agent.Message {
	rl := &agent.ResultLine{Subtype: "success", Result: s.lastText, NumTurns: s.turns, Usage: s.usage.events(),
		TotalCostUSD: s.cost, CostUnknown: !s.costKnown, TerminalReason: "completed"}
	if s.failed != "" {
		rl.Subtype, rl.IsError, rl.Result, rl.TerminalReason = "error", true, s.failed, "turn_failed"
	}
	return agent.Message{Type: agent.TypeResult, Subtype: rl.Subtype, SessionID: s.sessionID, Raw: raw, Result: rl}
}

// failureMessage says why a finished run failed, or "" when it succeeded:
// exit status 0 and a completed turn.
func (s *runState) failureMessage(exitCode int, exitDesc, stderrTail string) string {
	switch {
	case s.failed != "":
		return "codex CLI failed: " + s.failed
	case exitCode == 0 && s.completed:
		return ""
	case exitCode == 0:
		return "codex CLI exited without completing its turn" + agent.StderrSuffix(stderrTail)
	case s.lastError != "":
		return fmt.Sprintf("codex CLI exited with code %d: %s", exitCode, s.lastError)
	case exitCode > 0:
		return fmt.Sprintf("codex CLI exited with code %d%s", exitCode, agent.StderrSuffix(stderrTail))
	}
	return fmt.Sprintf("codex CLI ended abnormally (%s)%s", exitDesc, agent.StderrSuffix(stderrTail))
}
