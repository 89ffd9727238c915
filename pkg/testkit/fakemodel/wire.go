package fakemodel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// messagesRequest is the part of a Messages API request the server reads.
type messagesRequest struct {
	Model    string            `json:"model"`
	Stream   bool              `json:"stream"`
	System   json.RawMessage   `json:"system"`
	Tools    []json.RawMessage `json:"tools"`
	Messages []message         `json:"messages"`
}

type message struct {
	Role    string  `json:"role"`
	Content content `json:"content"`
}

// content is a message's content, which the API accepts either as a plain
// string or as a list of blocks.
type content []block

type block struct {
	Type      string  `json:"type"`
	Text      string  `json:"text"`
	ToolUseID string  `json:"tool_use_id"`
	Content   content `json:"content"`
	IsError   bool    `json:"is_error"`
}

func (c *content) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = content{{Type: "text", Text: s}}
		return nil
	}
	var blocks []block
	if err := json.Unmarshal(b, &blocks); err != nil {
		return err
	}
	*c = blocks
	return nil
}

func (c content) text() string {
	var parts []string
	for _, b := range c {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

const reminderPrefix = "<system-reminder>"

// prompt is the user's own text: the first user message without the
// <system-reminder> blocks the CLI puts in front of it (git status, commit
// attribution). Should every block be a reminder, all of them are used.
func (r messagesRequest) prompt() string {
	for _, m := range r.Messages {
		if m.Role == "user" {
			return m.ownText()
		}
	}
	return ""
}

// latestPrompt is the user's own text of the last user message that has
// any: in a resumed session (claude --resume), the new prompt, while
// prompt stays the first one.
func (r messagesRequest) latestPrompt() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if m := r.Messages[i]; m.Role == "user" {
			if t := m.ownText(); t != "" {
				return t
			}
		}
	}
	return ""
}

// ownText is a user message's text without the <system-reminder> blocks
// the CLI puts in front of it (git status, commit attribution). Should
// every block be a reminder, all of them are used.
func (m message) ownText() string {
	var own content
	for _, b := range m.Content {
		if b.Type == "text" && !strings.HasPrefix(strings.TrimSpace(b.Text), reminderPrefix) {
			own = append(own, b)
		}
	}
	if len(own) == 0 {
		return m.Content.text()
	}
	return own.text()
}

func (r messagesRequest) assistantTurns() int {
	n := 0
	for _, m := range r.Messages {
		if m.Role == "assistant" {
			n++
		}
	}
	return n
}

func (r messagesRequest) lastToolResults() []ToolResult {
	if len(r.Messages) == 0 {
		return nil
	}
	last := r.Messages[len(r.Messages)-1]
	if last.Role != "user" {
		return nil
	}
	var out []ToolResult
	for _, b := range last.Content {
		if b.Type == "tool_result" {
			out = append(out, ToolResult{ToolUseID: b.ToolUseID, Content: b.Content.text(), IsError: b.IsError})
		}
	}
	return out
}

// systemText flattens the system prompt, a string or a list of text blocks.
func (r messagesRequest) systemText() string {
	if len(r.System) == 0 {
		return ""
	}
	var c content
	if err := json.Unmarshal(r.System, &c); err != nil {
		return string(r.System)
	}
	return c.text()
}

func errorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

func writeError(w http.ResponseWriter, status int, msg string, noRetry bool) {
	if noRetry {
		w.Header().Set("x-should-retry", "false")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{
		"type":  "error",
		"error": map[string]string{"type": errorType(status), "message": msg},
	})
	w.Write(b)
}

// writeMessage answers with turn t as one assistant message holding one
// content block: streamed as server-sent events when the request asked for
// a stream, else as a plain JSON message.
func writeMessage(w http.ResponseWriter, stream bool, model string, turn int, t Turn) {
	id := fmt.Sprintf("msg_fake_%d", turn)
	toolUseID := fmt.Sprintf("toolu_fake_%d", turn)
	stop := "end_turn"
	if t.kind == kindTool {
		stop = "tool_use"
	}
	if !stream {
		blk := map[string]any{"type": "text", "text": t.text}
		if t.kind == kindTool {
			blk = map[string]any{"type": "tool_use", "id": toolUseID, "name": t.tool, "input": t.input}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": model,
			"content": []any{blk}, "stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]int{"input_tokens": InputTokens, "output_tokens": OutputTokens},
		})
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	event := func(name string, data map[string]any) {
		data["type"] = name
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	event("message_start", map[string]any{"message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": InputTokens, "output_tokens": 1},
	}})
	if t.kind == kindTool {
		event("content_block_start", map[string]any{"index": 0, "content_block": map[string]any{
			"type": "tool_use", "id": toolUseID, "name": t.tool, "input": map[string]any{},
		}})
		event("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{
			"type": "input_json_delta", "partial_json": string(t.input),
		}})
	} else {
		event("content_block_start", map[string]any{"index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		event("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{"type": "text_delta", "text": t.text}})
	}
	event("content_block_stop", map[string]any{"index": 0})
	event("message_delta", map[string]any{
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": OutputTokens},
	})
	event("message_stop", map[string]any{})
}
