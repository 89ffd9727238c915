// Package logentry is the live log of a work order: the structured entries
// the executor publishes to workorders.logs.<id> while an agent runs, the
// filters clients read them with, and a publisher that never makes a step
// wait for the log.
package logentry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Level is an entry's severity.
type Level string

// Levels, lowest first, spelled as the Python service and Archon's UI
// spell them. LevelError is for a real failure only: that UI takes any
// error entry for the work order failing.
const (
	LevelDebug Level = "debug"
	LevelInfo  Level = "info"
	LevelWarn  Level = "warning"
	LevelError Level = "error"
)

// levelWarnShort is how entries stored before the levels took the Python
// service's spelling write LevelWarn; filters accept it too.
const levelWarnShort Level = "warn"

// ParseLevel accepts the four levels, and "warn" for "warning".
func ParseLevel(s string) (Level, error) {
	switch l := Level(strings.ToLower(strings.TrimSpace(s))); l {
	case LevelDebug, LevelInfo, LevelWarn, LevelError:
		return l, nil
	case levelWarnShort:
		return LevelWarn, nil
	}
	return "", fmt.Errorf("level must be one of debug, info, warning (or warn), error; got %q", s)
}

// Event names: what happened.
const (
	EventStepStarted   = "step_started"
	EventSessionInit   = "session_started"
	EventAssistantText = "assistant_text"
	EventThinking      = "thinking"
	EventToolCall      = "tool_call"
	EventToolResult    = "tool_result"
	EventResult        = "result"
	EventStepFinished  = "step_finished"
	EventError         = "error"
	// EventStepCompleted follows step_finished when the step succeeded.
	EventStepCompleted = "step_completed"
	// EventCheckpointLeftOut warns that the step's checkpoint left out
	// untracked output over AWO_CHECKPOINT_MAX_BYTES.
	EventCheckpointLeftOut = "checkpoint_left_out"
	// The work order's own lifecycle, rendered from its events by
	// Lifecycle rather than published (see lifecycle.go).
	EventWorkflowStarted   = "workflow_started"
	EventWorkflowCompleted = "workflow_completed"
	EventWorkflowFailed    = "workflow_failed"
	EventWorkflowCancelled = "workflow_cancelled"
)

// Size bounds: an entry is for a human watching, not a transcript, and a
// small entry keeps the log stream cheap.
const (
	MaxTextBytes    = 2 << 10
	MaxSummaryBytes = 500
)

// Entry is one line of a work order's live log. The first fields are the
// Python service's log entry; the rest are set by the events that have them.
type Entry struct {
	Timestamp   time.Time      `json:"timestamp"`
	Level       Level          `json:"level"`
	Step        workorder.Step `json:"step,omitempty"`
	Event       string         `json:"event"`
	Message     string         `json:"message"`
	WorkOrderID workorder.ID   `json:"work_order_id"`
	Attempt     int            `json:"attempt,omitempty"`

	Tool         string   `json:"tool,omitempty"`
	ToolUseID    string   `json:"tool_use_id,omitempty"`
	InputSummary string   `json:"input_summary,omitempty"`
	IsError      *bool    `json:"is_error,omitempty"`
	CostUSD      *float64 `json:"cost_usd,omitempty"`
	NumTurns     int      `json:"num_turns,omitempty"`
	SessionID    string   `json:"session_id,omitempty"`
	DurationMS   int64    `json:"duration_ms,omitempty"`
	Success      *bool    `json:"success,omitempty"`

	// Where the work order is, as Archon's UI reads it: on step_started,
	// the step's place in the plan ("2/5") and the share of the plan done
	// before it; on every entry served, the seconds since the work order
	// started (set by the gateway, which knows the start).
	StepNumber     int    `json:"step_number,omitempty"`
	TotalSteps     int    `json:"total_steps,omitempty"`
	Progress       string `json:"progress,omitempty"`
	ProgressPct    *int   `json:"progress_pct,omitempty"`
	ElapsedSeconds *int   `json:"elapsed_seconds,omitempty"`

	// Seq is the entry's sequence in the log stream, set when read back; it
	// is the SSE id a client resumes from.
	Seq uint64 `json:"-"`
}

// Subject is where a work order's entries are published.
func Subject(wo workorder.ID) string { return bus.LogSubject(wo) }

// Stream holds every work order's entries.
const Stream = bus.StreamLogs

// Decode reads an entry published by Publisher.
func Decode(data []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, fmt.Errorf("decoding log entry: %w", err)
	}
	if e.Level == levelWarnShort {
		e.Level = LevelWarn
	}
	return e, nil
}

// SetProgress places e's step at number of total in the plan; a step
// outside the plan (number < 1) gets none.
func (e *Entry) SetProgress(number, total int) {
	if number < 1 || number > total {
		return
	}
	e.StepNumber, e.TotalSteps = number, total
	e.Progress = fmt.Sprintf("%d/%d", number, total)
	pct := (number - 1) * 100 / total
	e.ProgressPct = &pct
}

// Truncate shortens s to at most n bytes without splitting a UTF-8
// character, marking the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// summaryKeys are the input fields that say what a tool call does, in the
// order they are preferred: Bash's command, Read/Write/Edit's file, Grep's
// pattern, WebFetch's url, Task's description.
var summaryKeys = []string{"command", "file_path", "path", "pattern", "url", "query", "description", "prompt"}

// SummarizeInput is a one-line account of a tool's JSON input: the field
// that says what the call does when there is one, else the compact JSON;
// at most MaxSummaryBytes.
func SummarizeInput(input json.RawMessage) string {
	if len(input) == 0 {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(input, &fields) == nil {
		for _, k := range summaryKeys {
			var s string
			if raw, ok := fields[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
				return Truncate(oneLine(s), MaxSummaryBytes)
			}
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, input); err != nil {
		return Truncate(oneLine(string(input)), MaxSummaryBytes)
	}
	return Truncate(compact.String(), MaxSummaryBytes)
}

// oneLine folds newlines so a summary reads as one line in a terminal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
