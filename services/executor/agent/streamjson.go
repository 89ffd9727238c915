package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
)

// Line types of the CLI's --output-format stream-json.
const (
	TypeSystem    = "system"
	TypeAssistant = "assistant"
	TypeUser      = "user"
	TypeResult    = "result"
)

// Message is one line of the CLI's stream-json output. Type says which of
// the typed fields are set; lines of other types (the CLI adds new ones,
// e.g. system/api_retry) keep only Type, Subtype, SessionID and Raw. Raw is
// always the whole line.
type Message struct {
	Type      string
	Subtype   string
	SessionID string
	Raw       json.RawMessage
	// Error is the error an assistant line stands for: the CLI writes a
	// synthetic assistant message for a failed API call, e.g. "rate_limit"
	// for a 429 (2.1.328).
	Error string

	Init        *Init        // system/init
	Content     []Block      // assistant
	ToolResults []ToolResult // user
	Result      *ResultLine  // result
}

// Init is the system/init line: what the session starts with.
type Init struct {
	Model string   `json:"model"`
	CWD   string   `json:"cwd"`
	Tools []string `json:"tools"`
	// Version is claude_code_version.
	Version        string `json:"claude_code_version"`
	PermissionMode string `json:"permissionMode"`
}

// Block is one content block of an assistant message.
type Block struct {
	Type string // text, tool_use, thinking, ...
	Text string // text and thinking blocks
	// Tool calls.
	ToolUseID string
	ToolName  string
	Input     json.RawMessage
}

// ToolResult is a tool's output handed back to the model.
type ToolResult struct {
	ToolUseID string
	Content   string
	IsError   bool
}

// ResultLine is the last line of a run.
type ResultLine struct {
	// Subtype is "success" even when the API failed: IsError decides.
	Subtype        string
	IsError        bool
	Result         string
	Errors         []string // set for error subtypes, e.g. error_max_turns
	NumTurns       int
	DurationMS     int64
	DurationAPIMS  int64
	TotalCostUSD   float64
	Usage          events.Usage
	StopReason     string
	TerminalReason string // completed, api_error, max_turns, ...
	APIErrorStatus int    // HTTP status of a failed API call; 0 when none
	APIErrorType   string // its error type, e.g. rate_limit_error
}

// envelope is what every line has.
type envelope struct {
	Type      string          `json:"type"`
	Subtype   string          `json:"subtype"`
	SessionID string          `json:"session_id"`
	Message   json.RawMessage `json:"message"`
	Error     string          `json:"error"`
}

type wireResult struct {
	Subtype        string       `json:"subtype"`
	IsError        bool         `json:"is_error"`
	Result         string       `json:"result"`
	Errors         []string     `json:"errors"`
	NumTurns       int          `json:"num_turns"`
	DurationMS     int64        `json:"duration_ms"`
	DurationAPIMS  int64        `json:"duration_api_ms"`
	TotalCostUSD   float64      `json:"total_cost_usd"`
	Usage          events.Usage `json:"usage"`
	StopReason     string       `json:"stop_reason"`
	TerminalReason string       `json:"terminal_reason"`
	APIErrorStatus int          `json:"api_error_status"`
	APIErrorType   string       `json:"api_error_type"`
}

type wireContent []wireBlock

type wireBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   wireContent     `json:"content"`
	IsError   bool            `json:"is_error"`
}

// UnmarshalJSON accepts both forms the API allows for content: a string or
// a list of blocks.
func (c *wireContent) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*c = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = wireContent{{Type: "text", Text: s}}
		return nil
	}
	var blocks []wireBlock
	err := json.Unmarshal(b, &blocks)
	*c = blocks
	return err
}

func (c wireContent) text() string {
	var parts []string
	for _, b := range c {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// ParseLine decodes one stream-json line. It fails only when the line is
// not JSON at all. A field of an unexpected type (the CLI's format moves
// between versions) is skipped and reported in the error while everything
// else is decoded, so the caller can log the error and still use the
// message: losing a result line over one odd field would fail a good run.
func ParseLine(line []byte) (Message, error) {
	raw := json.RawMessage(append([]byte(nil), line...))
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil && !isTypeError(err) {
		return Message{Raw: raw}, fmt.Errorf("decoding stream-json line: %w", err)
	}
	m := Message{Type: env.Type, Subtype: env.Subtype, SessionID: env.SessionID, Raw: raw}
	if env.Type == TypeAssistant {
		m.Error = env.Error
	}
	var err error
	switch {
	case env.Type == TypeSystem && env.Subtype == "init":
		m.Init = &Init{}
		err = json.Unmarshal(raw, m.Init)
	case env.Type == TypeAssistant:
		m.Content, err = parseAssistant(env.Message)
	case env.Type == TypeUser:
		m.ToolResults, err = parseUser(env.Message)
	case env.Type == TypeResult:
		m.Result, err = parseResult(raw)
	}
	if err != nil {
		return m, fmt.Errorf("decoding %s line: %w", env.Type, err)
	}
	return m, nil
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

func parseAssistant(msg json.RawMessage) ([]Block, error) {
	var body struct {
		Content wireContent `json:"content"`
	}
	err := json.Unmarshal(msg, &body)
	blocks := make([]Block, 0, len(body.Content))
	for _, b := range body.Content {
		out := Block{Type: b.Type, Text: b.Text}
		switch b.Type {
		case "thinking":
			out.Text = b.Thinking
		case "tool_use", "server_tool_use":
			out.ToolUseID, out.ToolName, out.Input = b.ID, b.Name, b.Input
		}
		blocks = append(blocks, out)
	}
	return blocks, err
}

func parseUser(msg json.RawMessage) ([]ToolResult, error) {
	var body struct {
		Content wireContent `json:"content"`
	}
	err := json.Unmarshal(msg, &body)
	var out []ToolResult
	for _, b := range body.Content {
		if b.Type == "tool_result" {
			out = append(out, ToolResult{ToolUseID: b.ToolUseID, Content: b.Content.text(), IsError: b.IsError})
		}
	}
	return out, err
}

func parseResult(raw json.RawMessage) (*ResultLine, error) {
	var w wireResult
	err := json.Unmarshal(raw, &w)
	r := ResultLine(w)
	return &r, err
}

// Text is the concatenated text of an assistant message's text blocks.
func (m Message) Text() string {
	var parts []string
	for _, b := range m.Content {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}
