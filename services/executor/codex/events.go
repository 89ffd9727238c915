package codex

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/services/executor/agent"
)

// Event types of `codex exec --json` (0.171.0): one JSON object a line.
const (
	evThreadStarted = "thread.started" // {"thread_id"}: the session id
	evTurnStarted   = "turn.started"
	evItemStarted   = "item.started"   // {"item":{...,"status":"in_progress"}}
	evItemUpdated   = "item.updated"   // todo lists
	evItemCompleted = "item.completed" // {"item":{...}}
	evTurnCompleted = "turn.completed" // {"usage":{...}}
	evTurnFailed    = "turn.failed"    // {"error":{"message"}}
	evError         = "error"          // {"message"}: retries, fatal errors
)

// Item types codex reports.
const (
	itemAgentMessage = "agent_message"
	itemReasoning    = "reasoning"
	itemCommand      = "command_execution"
	itemFileChange   = "file_change"
	itemMCPToolCall  = "mcp_tool_call"
	itemWebSearch    = "web_search"
	itemTodoList     = "todo_list"
	itemError        = "error"
)

type event struct {
	Type     string `json:"type"`
	ThreadID string `json:"thread_id"`
	Item     *item  `json:"item"`
	Usage    *usage `json:"usage"`
	Message  string `json:"message"`
	Error    *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type item struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	Text             string          `json:"text"`
	Message          string          `json:"message"`
	Command          string          `json:"command"`
	AggregatedOutput string          `json:"aggregated_output"`
	ExitCode         *int            `json:"exit_code"`
	Status           string          `json:"status"`
	Changes          json.RawMessage `json:"changes"`
	Server           string          `json:"server"`
	Tool             string          `json:"tool"`
	Query            string          `json:"query"`
}

// usage is turn.completed's: the session's tokens so far (a resumed
// session's include its earlier runs).
type usage struct {
	InputTokens           int64 `json:"input_tokens"`
	CachedInputTokens     int64 `json:"cached_input_tokens"`
	CacheWriteInputTokens int64 `json:"cache_write_input_tokens"`
	OutputTokens          int64 `json:"output_tokens"`
	ReasoningOutputTokens int64 `json:"reasoning_output_tokens"`
}

func (u usage) events() events.Usage {
	return events.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheReadInputTokens: u.CachedInputTokens, CacheCreationInputTokens: u.CacheWriteInputTokens}
}

// message is what the executor's live log makes of an event: the same
// agent.Message shapes Claude Code's stream-json gives, so one log builder
// serves both. Events without news for a person keep only their type.
func message(ev event, raw []byte, sessionID, model string) agent.Message {
	m := agent.Message{Type: "codex_" + ev.Type, SessionID: sessionID, Raw: raw}
	switch ev.Type {
	case evThreadStarted:
		m.Type, m.Subtype, m.SessionID = agent.TypeSystem, "init", ev.ThreadID
		m.Init = &agent.Init{Model: orDefault(model, "codex's default")}
	case evItemStarted:
		if ev.Item != nil {
			if blk, ok := toolCall(*ev.Item); ok && ev.Item.Type == itemCommand {
				m.Type, m.Content = agent.TypeAssistant, []agent.Block{blk}
			}
		}
	case evItemCompleted:
		if ev.Item != nil {
			completedItem(&m, *ev.Item)
		}
	}
	return m
}

// completedItem fills m from a finished item: text, reasoning, or a tool
// call and its result (a command was shown as a call when it started).
func completedItem(m *agent.Message, it item) {
	switch it.Type {
	case itemAgentMessage:
		m.Type, m.Content = agent.TypeAssistant, []agent.Block{{Type: "text", Text: it.Text}}
	case itemReasoning:
		m.Type, m.Content = agent.TypeAssistant, []agent.Block{{Type: "thinking", Text: it.Text}}
	case itemCommand:
		failed := it.Status == "failed" || (it.ExitCode != nil && *it.ExitCode != 0)
		m.Type, m.ToolResults = agent.TypeUser, []agent.ToolResult{{ToolUseID: it.ID, Content: it.AggregatedOutput, IsError: failed}}
	case itemFileChange, itemMCPToolCall, itemWebSearch:
		// Reported once, when done: the call and its outcome together.
		blk, _ := toolCall(it)
		m.Type, m.Content = agent.TypeAssistant, []agent.Block{blk}
	case itemError:
		m.Subtype = "item_error"
	}
}

// toolCall is an item as a tool_use block.
func toolCall(it item) (agent.Block, bool) {
	blk := agent.Block{Type: "tool_use", ToolUseID: it.ID}
	var input any
	switch it.Type {
	case itemCommand:
		blk.ToolName, input = "shell", map[string]string{"command": it.Command}
	case itemFileChange:
		blk.ToolName, input = "apply_patch", map[string]json.RawMessage{"changes": orNull(it.Changes)}
	case itemMCPToolCall:
		blk.ToolName, input = fmt.Sprintf("mcp__%s__%s", it.Server, it.Tool), map[string]string{"status": it.Status}
	case itemWebSearch:
		blk.ToolName, input = "web_search", map[string]string{"query": it.Query}
	default:
		return blk, false
	}
	blk.Input, _ = json.Marshal(input)
	return blk, true
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
