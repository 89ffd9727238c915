package executor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/services/executor/agent"
)

// logBuilder turns one step's CLI output into live log entries. It
// remembers tool names by call id, because a tool's result names only the
// call it answers.
type logBuilder struct {
	base  logentry.Entry
	tools map[string]string
	red   *redact.Redactor
	// number and total place the step in the work order's plan (its
	// selected steps); number is 0 for a step outside it.
	number, total int
}

func newLogBuilder(cmd events.RunStep, red *redact.Redactor) *logBuilder {
	plan := cmd.Args.SelectedStep
	return &logBuilder{
		base:   logentry.Entry{WorkOrderID: cmd.WorkOrderID, Step: cmd.Step, Attempt: cmd.Attempt},
		tools:  map[string]string{},
		red:    red,
		number: slices.Index(plan, cmd.Step) + 1,
		total:  len(plan),
	}
}

// text is s redacted, then cut to n bytes: in that order, so that a cut
// cannot leave the head of a secret that its shape no longer matches. The
// publisher redacts every entry again; that second pass finds nothing.
func (b *logBuilder) text(s string, n int) string {
	return logentry.Truncate(b.red.String(s), n)
}

func (b *logBuilder) entry(now time.Time, level logentry.Level, event, message string) logentry.Entry {
	e := b.base
	e.Timestamp, e.Level, e.Event, e.Message = now.UTC(), level, event, message
	return e
}

// stepStarted says which step of the plan starts ("2/5").
func (b *logBuilder) stepStarted(now time.Time) logentry.Entry {
	msg := fmt.Sprintf("step %s started (attempt %d)", b.base.Step, b.base.Attempt)
	if b.number > 0 {
		msg = fmt.Sprintf("step %d/%d %s started (attempt %d)", b.number, b.total, b.base.Step, b.base.Attempt)
	}
	e := b.entry(now, logentry.LevelInfo, logentry.EventStepStarted, msg)
	e.SetProgress(b.number, b.total)
	return e
}

// stepFinished reports the step's outcome; err is a step interrupted by a
// shutdown, which is handed back and run again. A failed step is a
// warning: whether the work order fails is the orchestrator's decision,
// and its workflow_failed is the one error entry Archon's UI should see.
func (b *logBuilder) stepFinished(res events.StepResult, err error, now time.Time) logentry.Entry {
	if errors.Is(err, worker.ErrWorkOrderCancelled) {
		e := b.entry(now, logentry.LevelWarn, logentry.EventStepFinished,
			fmt.Sprintf("step %s stopped: %v", b.base.Step, err))
		e.Success = ptr(false)
		return e
	}
	if w, ok := errors.AsType[*worker.Waiting](err); ok {
		return b.entry(now, logentry.LevelWarn, eventStepWaiting, b.text(fmt.Sprintf("step %s waits until %s: %s",
			b.base.Step, w.WaitingUntil.UTC().Format(time.RFC3339), w.Message), logentry.MaxTextBytes))
	}
	if err != nil {
		e := b.entry(now, logentry.LevelWarn, logentry.EventStepFinished,
			fmt.Sprintf("step %s interrupted, to be run again: %v", b.base.Step, err))
		e.Success = ptr(false)
		return e
	}
	e := b.entry(now, logentry.LevelInfo, logentry.EventStepFinished,
		fmt.Sprintf("step %s completed in %.1fs", b.base.Step, res.DurationSeconds))
	if !res.Success {
		e.Level = logentry.LevelWarn
		e.Message = b.text(fmt.Sprintf("step %s failed: %s", b.base.Step, res.ErrorMessage), logentry.MaxTextBytes)
	}
	e.Success = ptr(res.Success)
	e.CostUSD = ptr(res.CostUSD)
	e.NumTurns, e.SessionID = res.NumTurns, res.SessionID
	e.DurationMS = int64(res.DurationSeconds * 1000)
	return e
}

// stepCompleted is the entry Archon's UI reads after a step that
// succeeded, with the plan done up to it; ok is false for any other end.
func (b *logBuilder) stepCompleted(res events.StepResult, err error, now time.Time) (e logentry.Entry, ok bool) {
	if err != nil || !res.Success {
		return logentry.Entry{}, false
	}
	e = b.entry(now, logentry.LevelInfo, logentry.EventStepCompleted,
		fmt.Sprintf("step %s completed in %.1fs", b.base.Step, res.DurationSeconds))
	e.SetProgress(b.number, b.total)
	if e.StepNumber > 0 {
		pct := b.number * 100 / b.total
		e.ProgressPct = &pct
	}
	e.Success, e.DurationMS = ptr(true), int64(res.DurationSeconds*1000)
	return e, true
}

// fromMessage is what a viewer should see of one stream-json line: one
// entry per text, thinking or tool block, one per tool result, and the
// run's final result with its cost. Lines without news for a person
// (hooks, rate-limit notices and types added later) become debug entries.
func (b *logBuilder) fromMessage(m agent.Message, now time.Time) []logentry.Entry {
	var out []logentry.Entry
	switch {
	case m.Init != nil:
		e := b.entry(now, logentry.LevelInfo, logentry.EventSessionInit,
			fmt.Sprintf("agent session started (model %s)", m.Init.Model))
		e.SessionID = m.SessionID
		out = append(out, e)
	case m.Type == agent.TypeAssistant:
		for _, blk := range m.Content {
			switch blk.Type {
			case "text":
				if strings.TrimSpace(blk.Text) == "" {
					continue
				}
				out = append(out, b.entry(now, logentry.LevelInfo, logentry.EventAssistantText, b.text(blk.Text, logentry.MaxTextBytes)))
			case "thinking":
				out = append(out, b.entry(now, logentry.LevelDebug, logentry.EventThinking, b.text(blk.Text, logentry.MaxTextBytes)))
			case "tool_use", "server_tool_use":
				b.tools[blk.ToolUseID] = blk.ToolName
				summary := logentry.SummarizeInput(b.red.JSON(blk.Input))
				e := b.entry(now, logentry.LevelInfo, logentry.EventToolCall, blk.ToolName+": "+summary)
				e.Tool, e.ToolUseID, e.InputSummary = blk.ToolName, blk.ToolUseID, summary
				out = append(out, e)
			}
		}
	case m.Type == agent.TypeUser:
		for _, tr := range m.ToolResults {
			level := logentry.LevelInfo
			if tr.IsError {
				level = logentry.LevelWarn
			}
			e := b.entry(now, level, logentry.EventToolResult, b.text(tr.Content, logentry.MaxSummaryBytes))
			e.Tool, e.ToolUseID, e.IsError = b.tools[tr.ToolUseID], tr.ToolUseID, ptr(tr.IsError)
			out = append(out, e)
		}
	case m.Result != nil:
		r := m.Result
		e := b.entry(now, logentry.LevelInfo, logentry.EventResult,
			fmt.Sprintf("agent finished after %d turns, $%.4f", r.NumTurns, r.TotalCostUSD))
		if r.IsError {
			// A warning: the step's failure, and the work order's if it
			// comes to that, follow.
			e.Level = logentry.LevelWarn
			detail := r.Result
			if detail == "" {
				detail = strings.Join(r.Errors, "; ")
			}
			e.Message = b.text(fmt.Sprintf("agent failed (%s): %s", r.TerminalReason, detail), logentry.MaxTextBytes)
		}
		e.IsError, e.CostUSD = ptr(r.IsError), ptr(r.TotalCostUSD)
		e.NumTurns, e.SessionID, e.DurationMS = r.NumTurns, m.SessionID, r.DurationMS
		out = append(out, e)
	default:
		msg := m.Type
		if m.Subtype != "" {
			msg += "/" + m.Subtype
		}
		out = append(out, b.entry(now, logentry.LevelDebug, "cli_"+m.Type, msg))
	}
	return out
}

func ptr[T any](v T) *T { return &v }
