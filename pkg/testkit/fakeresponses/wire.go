package fakeresponses

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// responsesRequest is the part of a Responses API request the server
// reads. Codex 0.171.0 sends the whole conversation in input every time
// (store false): its instructions and context as developer and user
// messages, then the model's earlier function calls, their outputs and
// its messages.
type responsesRequest struct {
	Model  string            `json:"model"`
	Stream bool              `json:"stream"`
	Tools  []json.RawMessage `json:"tools"`
	Input  []item            `json:"input"`
}

type item struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content []contentPart   `json:"content"`
	CallID  string          `json:"call_id"`
	Name    string          `json:"name"`
	Output  json.RawMessage `json:"output"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (it item) text() string {
	var parts []string
	for _, c := range it.Content {
		if c.Type == "input_text" || c.Type == "output_text" {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// ownText is a user message's text unless it is one of the blocks codex
// adds itself: <environment_context>, AGENTS.md instructions and the like.
func (it item) ownText() string {
	if it.Type != "message" || it.Role != "user" {
		return ""
	}
	t := it.text()
	if strings.HasPrefix(strings.TrimSpace(t), "<") || strings.HasPrefix(t, "# AGENTS.md") {
		return ""
	}
	return t
}

func (r responsesRequest) prompt() string {
	for _, it := range r.Input {
		if t := it.ownText(); t != "" {
			return t
		}
	}
	return ""
}

func (r responsesRequest) latestPrompt() string {
	for i := len(r.Input) - 1; i >= 0; i-- {
		if t := r.Input[i].ownText(); t != "" {
			return t
		}
	}
	return ""
}

// hasTools: codex offers its tools in tools, or, for the models that use
// code mode, in an additional_tools input item.
func (r responsesRequest) hasTools() bool {
	if len(r.Tools) > 0 {
		return true
	}
	for _, it := range r.Input {
		if it.Type == "additional_tools" {
			return true
		}
	}
	return false
}

// modelTurns counts the items the model produced so far.
func (r responsesRequest) modelTurns() int {
	n := 0
	for _, it := range r.Input {
		if it.Type == "function_call" || it.Type == "custom_tool_call" || (it.Type == "message" && it.Role == "assistant") {
			n++
		}
	}
	return n
}

// lastOutputs are the function call outputs after the model's last call.
func (r responsesRequest) lastOutputs() []ToolOutput {
	var out []ToolOutput
	for i := len(r.Input) - 1; i >= 0; i-- {
		it := r.Input[i]
		if it.Type != "function_call_output" && it.Type != "custom_tool_call_output" {
			break
		}
		out = append([]ToolOutput{{CallID: it.CallID, Output: outputText(it.Output)}}, out...)
	}
	return out
}

// outputText reads a function call's output: a string, a list of content
// parts, or an object holding content.
func outputText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []contentPart
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	var obj struct {
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil && len(obj.Content) > 0 {
		return outputText(obj.Content)
	}
	return string(raw)
}

// writeResponse streams one answer as the Responses API does: created, the
// output item, completed with usage.
func writeResponse(w http.ResponseWriter, seq int64, turn Turn) {
	id := fmt.Sprintf("resp_fake_%d", seq)
	var out map[string]any
	switch turn.kind {
	case kindCall:
		out = map[string]any{"type": "function_call", "id": fmt.Sprintf("fc_fake_%d", seq),
			"call_id": fmt.Sprintf("call_fake_%d", seq), "name": turn.tool, "arguments": string(turn.args), "status": "completed"}
	default:
		out = map[string]any{"type": "message", "id": fmt.Sprintf("msg_fake_%d", seq), "role": "assistant", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": turn.text, "annotations": []any{}}}}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	event(w, "response.created", map[string]any{"response": map[string]any{"id": id, "status": "in_progress"}})
	event(w, "response.output_item.added", map[string]any{"output_index": 0, "item": out})
	event(w, "response.output_item.done", map[string]any{"output_index": 0, "item": out})
	event(w, "response.completed", map[string]any{"response": map[string]any{"id": id, "status": "completed",
		"usage": map[string]any{
			"input_tokens": InputTokens, "input_tokens_details": map[string]any{"cached_tokens": CachedInputTokens},
			"output_tokens": OutputTokens, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
			"total_tokens": InputTokens + OutputTokens,
		}}})
}

func event(w http.ResponseWriter, typ string, payload map[string]any) {
	payload["type"] = typ
	b, _ := json.Marshal(payload)
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// writeError answers with the API's error object; a usage limit also
// carries when it resets.
func writeError(w http.ResponseWriter, t Turn, now time.Time) {
	e := map[string]any{"type": t.code, "code": t.code, "message": t.text}
	if t.resetIn > 0 {
		e["resets_in_seconds"] = int64(t.resetIn.Seconds())
		e["resets_at"] = now.Add(t.resetIn).Unix()
	}
	w.Header().Set("Content-Type", "application/json")
	if t.status == http.StatusTooManyRequests && t.resetIn > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int64(t.resetIn.Seconds())))
	}
	w.WriteHeader(t.status)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}
