package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
)

// The files in testdata are stdout of the real CLI 2.1.328 run against a
// scripted model (see fakemodel).
func readRecorded(t *testing.T, name string) []Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []Message
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m, err := ParseLine(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, m)
	}
	return out
}

func types(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Type)
	}
	return out
}

func TestParseLine_RecordedBashToolRun(t *testing.T) {
	ms := readRecorded(t, "bash-tool-success.jsonl")
	if got, want := types(ms), []string{"system", "assistant", "user", "assistant", "result"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("types = %v, want %v", got, want)
	}
	const session = "d48b44f0-213a-4622-b116-4f9467ed3712"
	for i, m := range ms {
		if m.SessionID != session {
			t.Errorf("line %d: session %q, want %q", i, m.SessionID, session)
		}
		if !json.Valid(m.Raw) {
			t.Errorf("line %d: Raw is not the JSON line", i)
		}
	}

	init := ms[0].Init
	if init == nil || init.Model != "claude-sonnet-5-5" || init.CWD != "/tmp/explore/wd" || init.Version != "2.1.328" || init.PermissionMode != "bypassPermissions" {
		t.Errorf("init = %+v", init)
	}
	if init != nil && !slices.Contains(init.Tools, "Bash") {
		t.Errorf("init tools %v lack Bash", init.Tools)
	}

	call := ms[1].Content
	if len(call) != 1 || call[0].Type != "tool_use" || call[0].ToolName != "Bash" || call[0].ToolUseID != "toolu_01" {
		t.Fatalf("tool call = %+v", call)
	}
	var input struct{ Command, Description string }
	if err := json.Unmarshal(call[0].Input, &input); err != nil || input.Command != "echo made > made.txt && ls" {
		t.Errorf("tool input = %s (%v)", call[0].Input, err)
	}

	if got, want := ms[2].ToolResults, []ToolResult{{ToolUseID: "toolu_01", Content: "made.txt"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("tool results = %+v, want %+v", got, want)
	}
	if got := ms[3].Text(); got != "hello world" {
		t.Errorf("final text = %q", got)
	}

	r := ms[4].Result
	want := &ResultLine{
		Subtype: "success", Result: "hello world", NumTurns: 2, DurationMS: r.DurationMS, DurationAPIMS: 98,
		TotalCostUSD: 0.00014000000000000001, Usage: events.Usage{InputTokens: 20, OutputTokens: 10},
		StopReason: "end_turn", TerminalReason: "completed",
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("result = %+v\nwant     %+v", r, want)
	}
}

// A 4xx from the API: the CLI says subtype "success" but is_error true.
func TestParseLine_RecordedAPIError(t *testing.T) {
	ms := readRecorded(t, "api-error-400.jsonl")
	if got, want := types(ms), []string{"system", "assistant", "result"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("types = %v, want %v", got, want)
	}
	if got := ms[1].Text(); got != "API Error: 400 scripted failure: the model rejected the request" {
		t.Errorf("synthetic assistant text = %q", got)
	}
	r := ms[2].Result
	if r.Subtype != "success" || !r.IsError || r.APIErrorStatus != 400 || r.TerminalReason != "api_error" ||
		r.Result != "API Error: 400 scripted failure: the model rejected the request" {
		t.Errorf("result = %+v", r)
	}
}

func TestParseLine_RecordedMaxTurns(t *testing.T) {
	ms := readRecorded(t, "max-turns.jsonl")
	r := ms[len(ms)-1].Result
	if r == nil {
		t.Fatal("no result line")
	}
	if r.Subtype != "error_max_turns" || !r.IsError || r.Result != "" || r.TerminalReason != "max_turns" ||
		!reflect.DeepEqual(r.Errors, []string{"Reached maximum number of turns (1)"}) {
		t.Errorf("result = %+v", r)
	}
}

func TestParseLine_ToleratesWhatItDoesNotKnow(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr bool
		check   func(t *testing.T, m Message)
	}{
		{
			name: "system line other than init is kept raw",
			line: `{"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,"retry_delay_ms":1150,"error_status":null,"error":"unknown","session_id":"e710acde","uuid":"12d9"}`,
			check: func(t *testing.T, m Message) {
				if m.Type != "system" || m.Subtype != "api_retry" || m.SessionID != "e710acde" || m.Init != nil || len(m.Raw) == 0 {
					t.Errorf("got %+v", m)
				}
			},
		},
		{
			name: "unknown type",
			line: `{"type":"stream_event","event":{"type":"content_block_delta"}}`,
			check: func(t *testing.T, m Message) {
				if m.Type != "stream_event" || m.Content != nil || m.Result != nil {
					t.Errorf("got %+v", m)
				}
			},
		},
		{
			name:    "not JSON",
			line:    `Warning: something went sideways`,
			wantErr: true,
			check: func(t *testing.T, m Message) {
				if m.Type != "" || string(m.Raw) != "Warning: something went sideways" {
					t.Errorf("got %+v", m)
				}
			},
		},
		{
			name:    "a field of an unexpected type does not lose the result",
			line:    `{"type":"result","subtype":"error_during_execution","is_error":true,"errors":[{"message":"boom"}],"num_turns":3,"total_cost_usd":0.5,"session_id":"s1"}`,
			wantErr: true,
			check: func(t *testing.T, m Message) {
				if m.Result == nil || !m.Result.IsError || m.Result.NumTurns != 3 || m.Result.TotalCostUSD != 0.5 || m.SessionID != "s1" {
					t.Errorf("got %+v / %+v", m, m.Result)
				}
			},
		},
		{
			name: "tool result content as blocks",
			line: `{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","is_error":true,"content":[{"type":"text","text":"line 1"},{"type":"image"},{"type":"text","text":"line 2"}]}]}}`,
			check: func(t *testing.T, m Message) {
				want := []ToolResult{{ToolUseID: "t1", Content: "line 1\nline 2", IsError: true}}
				if !reflect.DeepEqual(m.ToolResults, want) {
					t.Errorf("got %+v", m.ToolResults)
				}
			},
		},
		{
			name: "assistant text, thinking and tool use",
			line: `{"type":"assistant","message":{"content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"a"},{"type":"tool_use","id":"t2","name":"Write","input":{"file_path":"x"}},{"type":"text","text":"b"}]}}`,
			check: func(t *testing.T, m Message) {
				if len(m.Content) != 4 || m.Content[0].Text != "hmm" || m.Content[2].ToolName != "Write" || string(m.Content[2].Input) != `{"file_path":"x"}` {
					t.Errorf("got %+v", m.Content)
				}
				if m.Text() != "a\nb" {
					t.Errorf("Text() = %q", m.Text())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseLine([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tt.wantErr)
			}
			tt.check(t, m)
		})
	}
}
