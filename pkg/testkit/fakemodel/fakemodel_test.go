package fakemodel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sseEvent is one server-sent event of a streamed answer.
type sseEvent struct {
	Name string
	Data map[string]any
}

type conversation struct {
	system   string
	tools    bool
	stream   bool
	messages []map[string]any
}

func userText(blocks ...string) map[string]any {
	var content []map[string]any
	for _, b := range blocks {
		content = append(content, map[string]any{"type": "text", "text": b})
	}
	return map[string]any{"role": "user", "content": content}
}

func assistantToolUse(id string) map[string]any {
	return map[string]any{"role": "assistant", "content": []map[string]any{
		{"type": "tool_use", "id": id, "name": "Bash", "input": map[string]string{"command": "ls"}},
	}}
}

func toolResult(id, output string) map[string]any {
	return map[string]any{"role": "user", "content": []map[string]any{
		{"type": "tool_result", "tool_use_id": id, "content": output, "is_error": false},
	}}
}

func (c conversation) body() []byte {
	req := map[string]any{
		"model":    "claude-sonnet-5-5",
		"stream":   c.stream,
		"system":   []map[string]any{{"type": "text", "text": c.system}},
		"messages": c.messages,
	}
	if c.tools {
		req["tools"] = []map[string]any{{"name": "Bash", "input_schema": map[string]any{}}}
	}
	b, _ := json.Marshal(req)
	return b
}

func post(t *testing.T, url string, body []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(url+"/v1/messages?beta=true", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var name string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var data map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &data); err != nil {
				t.Fatalf("event %s: %v", name, err)
			}
			if data["type"] != name {
				t.Errorf("event %q carries type %q", name, data["type"])
			}
			out = append(out, sseEvent{name, data})
		}
	}
	return out
}

func names(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name)
	}
	return out
}

var streamShape = []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}

// field digs into decoded JSON: field(m, "delta", "stop_reason").
func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func TestServer_StreamsScriptedTurnsByAssistantCount(t *testing.T) {
	srv := New(t, Rule{Name: "fix", Prompt: "fix the bug", Turns: []Turn{
		Bash("go test ./...", "Run the tests"),
		Text("All green."),
	}})
	first := conversation{tools: true, stream: true, messages: []map[string]any{
		userText("<system-reminder>\ngitStatus: clean\n</system-reminder>", "Please fix the bug in auth."),
	}}

	evs := readSSE(t, post(t, srv.URL, first.body()).Body)
	if !reflect.DeepEqual(names(evs), streamShape) {
		t.Fatalf("events = %v", names(evs))
	}
	if got := field(evs[1].Data, "content_block", "type"); got != "tool_use" {
		t.Errorf("block type = %v", got)
	}
	if got := field(evs[1].Data, "content_block", "name"); got != "Bash" {
		t.Errorf("tool = %v", got)
	}
	var input map[string]string
	if err := json.Unmarshal([]byte(field(evs[2].Data, "delta", "partial_json").(string)), &input); err != nil ||
		!reflect.DeepEqual(input, map[string]string{"command": "go test ./...", "description": "Run the tests"}) {
		t.Errorf("tool input = %v (%v)", input, err)
	}
	if got := field(evs[4].Data, "delta", "stop_reason"); got != "tool_use" {
		t.Errorf("stop_reason = %v", got)
	}
	if got := field(evs[0].Data, "message", "model"); got != "claude-sonnet-5-5" {
		t.Errorf("model = %v, want the requested one echoed", got)
	}

	second := first
	second.messages = append(second.messages, assistantToolUse("toolu_a"), toolResult("toolu_a", "ok  \tauth 0.1s"))
	evs = readSSE(t, post(t, srv.URL, second.body()).Body)
	if got := field(evs[2].Data, "delta", "text"); got != "All green." {
		t.Errorf("text = %v", got)
	}
	if got := field(evs[4].Data, "delta", "stop_reason"); got != "end_turn" {
		t.Errorf("stop_reason = %v", got)
	}
	if got := field(evs[4].Data, "usage", "output_tokens"); got != float64(OutputTokens) {
		t.Errorf("output_tokens = %v", got)
	}

	reqs := srv.Conversation("fix")
	if len(reqs) != 2 {
		t.Fatalf("conversation = %+v", reqs)
	}
	if reqs[0].Prompt != "Please fix the bug in auth." || reqs[0].Turn != 0 || !reqs[0].HasTools || !reqs[0].Stream || reqs[0].Model != "claude-sonnet-5-5" {
		t.Errorf("first request = %+v", reqs[0])
	}
	if want := []ToolResult{{ToolUseID: "toolu_a", Content: "ok  \tauth 0.1s"}}; reqs[1].Turn != 1 || !reflect.DeepEqual(reqs[1].ToolResults, want) {
		t.Errorf("second request = %+v", reqs[1])
	}
}

func TestServer_SideCallsDoNotDisturbTheScript(t *testing.T) {
	srv := New(t, Rule{Name: "main", Prompt: "fix the bug", Turns: []Turn{Text("scripted")}})

	// A helper call without tools, even about the same prompt.
	evs := readSSE(t, post(t, srv.URL, conversation{stream: true, messages: []map[string]any{userText("Title for: fix the bug")}}.body()).Body)
	if got := field(evs[2].Data, "delta", "text"); got != "ok" {
		t.Errorf("side call text = %v", got)
	}
	resp, err := http.Post(srv.URL+"/v1/messages/count_tokens?beta=true", "application/json", strings.NewReader(`{"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	var count struct {
		InputTokens int `json:"input_tokens"`
	}
	json.NewDecoder(resp.Body).Decode(&count)
	resp.Body.Close()
	if resp.StatusCode != 200 || count.InputTokens != InputTokens {
		t.Errorf("count_tokens: %d %+v", resp.StatusCode, count)
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/api/hello", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD /api/hello: %v %v", resp, err)
	}

	evs = readSSE(t, post(t, srv.URL, conversation{tools: true, stream: true, messages: []map[string]any{userText("fix the bug")}}.body()).Body)
	if got := field(evs[2].Data, "delta", "text"); got != "scripted" {
		t.Errorf("scripted turn 0 = %v; side calls moved the script", got)
	}
	var rules []string
	for _, r := range srv.Requests() {
		rules = append(rules, r.Path+"|"+r.Rule)
	}
	if want := []string{"/v1/messages|", "/v1/messages/count_tokens|", "/api/hello|", "/v1/messages|main"}; !reflect.DeepEqual(rules, want) {
		t.Errorf("requests = %q, want %q", rules, want)
	}
}

func TestServer_RuleMatching(t *testing.T) {
	srv := New(t,
		Rule{Name: "planner", System: "You plan", Turns: []Turn{Text("plan")}},
		Rule{Name: "branch", Prompt: "feat/login", Turns: []Turn{Text("branch")}},
		Rule{Name: "catch-all", Turns: []Turn{Text("anything")}},
	)
	tests := []struct {
		name, system string
		user         []string
		wantRule     string
	}{
		{"system prompt", "You plan the work", []string{"create feat/login"}, "planner"},
		{"prompt substring", "You are an agent", []string{"create feat/login"}, "branch"},
		{"reminders are not the prompt", "You are an agent",
			[]string{"<system-reminder>\nCurrent branch: feat/login\n</system-reminder>", "do it"}, "catch-all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Requests())
			c := conversation{system: tt.system, tools: true, stream: true, messages: []map[string]any{userText(tt.user...)}}
			readSSE(t, post(t, srv.URL, c.body()).Body)
			got := srv.Requests()[before]
			if got.Rule != tt.wantRule {
				t.Errorf("rule = %q, want %q", got.Rule, tt.wantRule)
			}
		})
	}
}

func TestServer_UnmatchedConversationGetsHarmlessText(t *testing.T) {
	srv := New(t, Rule{Prompt: "something else", Turns: []Turn{Error(400, "must not be used")}})
	evs := readSSE(t, post(t, srv.URL, conversation{tools: true, stream: true, messages: []map[string]any{userText("hello")}}.body()).Body)
	if got := field(evs[2].Data, "delta", "text"); got != "ok" {
		t.Errorf("text = %v", got)
	}
	if r := srv.Requests()[0]; r.Rule != "" || !strings.Contains(r.Answer, "no rule") {
		t.Errorf("recorded %+v", r)
	}
}

func TestServer_Errors(t *testing.T) {
	tests := []struct {
		name       string
		turn       Turn
		turnIndex  int
		wantStatus int
		wantType   string
		wantMsg    string
		wantHeader string
	}{
		{"client error", Error(400, "bad request here"), 0, 400, "invalid_request_error", "bad request here", ""},
		{"overloaded, retry allowed", Error(529, "busy"), 0, 529, "overloaded_error", "busy", ""},
		{"server error without retry", Error(500, "down").WithoutRetry(), 0, 500, "api_error", "down", "false"},
		{"script exhausted", Text("only turn"), 1, 400, "invalid_request_error", `rule "0" has 1 turns; the conversation asked for turn 1`, "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := New(t, Rule{Turns: []Turn{tt.turn}})
			msgs := []map[string]any{userText("go")}
			for i := 0; i < tt.turnIndex; i++ {
				msgs = append(msgs, assistantToolUse("t"), toolResult("t", "x"))
			}
			resp := post(t, srv.URL, conversation{tools: true, stream: true, messages: msgs}.body())
			var body struct {
				Type  string
				Error struct{ Type, Message string }
			}
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.wantStatus || body.Type != "error" || body.Error.Type != tt.wantType || !strings.Contains(body.Error.Message, tt.wantMsg) {
				t.Errorf("got %d %+v", resp.StatusCode, body)
			}
			if got := resp.Header.Get("x-should-retry"); got != tt.wantHeader {
				t.Errorf("x-should-retry = %q, want %q", got, tt.wantHeader)
			}
		})
	}
}

func TestServer_DelayedTurn(t *testing.T) {
	srv := New(t, Rule{Turns: []Turn{Text("slow").After(300 * time.Millisecond)}})
	c := conversation{tools: true, stream: true, messages: []map[string]any{userText("go")}}

	start := time.Now()
	evs := readSSE(t, post(t, srv.URL, c.body()).Body)
	if took := time.Since(start); took < 300*time.Millisecond || len(evs) != len(streamShape) {
		t.Errorf("answered after %s with %d events", took, len(evs))
	}

	// A client that gives up releases the handler.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/messages", bytes.NewReader(c.body()))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("want the client's deadline to cut the slow answer")
	}
}

func TestServer_NonStreamingAnswer(t *testing.T) {
	srv := New(t, Rule{Turns: []Turn{Write("notes.md", "# notes\n")}})
	resp := post(t, srv.URL, conversation{tools: true, messages: []map[string]any{userText("go")}}.body())
	var msg struct {
		StopReason string `json:"stop_reason"`
		Content    []struct {
			Type, Name string
			Input      map[string]string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != "tool_use" || len(msg.Content) != 1 || msg.Content[0].Name != "Write" ||
		msg.Content[0].Input["file_path"] != "notes.md" || msg.Content[0].Input["content"] != "# notes\n" {
		t.Errorf("message = %+v", msg)
	}
}
