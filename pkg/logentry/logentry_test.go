package logentry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    logentry.Level
		wantErr bool
	}{
		{"info", logentry.LevelInfo, false},
		{"WARN", logentry.LevelWarn, false},
		{"warning", logentry.LevelWarn, false},
		{" error ", logentry.LevelError, false},
		{"debug", logentry.LevelDebug, false},
		{"fatal", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := logentry.ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestTruncate_KeepsWholeCharacters(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdef", 3, "abc…"},
		{"héllo", 2, "h…"}, // é is two bytes: cutting inside it backs off
		{"日本語", 4, "日…"},
	}
	for _, tt := range tests {
		if got := logentry.Truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestSummarizeInput(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name, input, want string
	}{
		{"bash command wins over description", `{"command":"git status\n  --short","description":"Show status"}`, "git status --short"},
		{"file path", `{"file_path":"/tmp/a.go","content":"package a"}`, "/tmp/a.go"},
		{"no known key: compact json", `{ "todos" : [ 1, 2 ] }`, `{"todos":[1,2]}`},
		{"empty", ``, ""},
		{"not an object", `"just a string"`, `"just a string"`},
		{"long command is cut", `{"command":"` + long + `"}`, strings.Repeat("x", logentry.MaxSummaryBytes) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logentry.SummarizeInput(json.RawMessage(tt.input)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilter_Match(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := logentry.Entry{Timestamp: t0, Level: logentry.LevelWarn, Step: workorder.StepPlanning}
	tests := []struct {
		name string
		f    logentry.Filter
		want bool
	}{
		{"zero filter", logentry.Filter{}, true},
		{"same level", logentry.Filter{Level: logentry.LevelWarn}, true},
		{"other level", logentry.Filter{Level: logentry.LevelError}, false},
		{"same step", logentry.Filter{Step: workorder.StepPlanning}, true},
		{"other step", logentry.Filter{Step: workorder.StepExecute}, false},
		{"since before", logentry.Filter{Since: t0.Add(-time.Millisecond)}, true},
		{"since equal is excluded", logentry.Filter{Since: t0}, false},
		{"all match", logentry.Filter{Level: logentry.LevelWarn, Step: workorder.StepPlanning, Since: t0.Add(-time.Hour)}, true},
	}
	for _, tt := range tests {
		if got := tt.f.Match(e); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEntry_JSONRoundTrip(t *testing.T) {
	yes, cost := true, 0.25
	in := logentry.Entry{
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), Level: logentry.LevelInfo,
		Step: workorder.StepExecute, Event: logentry.EventToolResult, Message: "ok",
		WorkOrderID: "wo-1a2b3c4d", Attempt: 2, Tool: "Bash", IsError: &yes, CostUSD: &cost,
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"timestamp"`, `"level":"info"`, `"step":"execute"`, `"event":"tool_result"`, `"work_order_id":"wo-1a2b3c4d"`, `"is_error":true`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("%s lacks %s", b, key)
		}
	}
	out, err := logentry.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Timestamp.Equal(in.Timestamp) || out.Tool != "Bash" || *out.IsError != true || *out.CostUSD != cost || out.Attempt != 2 {
		t.Errorf("round trip: %+v", out)
	}
}
