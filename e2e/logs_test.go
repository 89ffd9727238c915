package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// liveEntry is the part of a live log entry this test reads.
type liveEntry struct {
	Level        string   `json:"level"`
	Step         string   `json:"step"`
	Event        string   `json:"event"`
	Message      string   `json:"message"`
	WorkOrderID  string   `json:"work_order_id"`
	Tool         string   `json:"tool"`
	InputSummary string   `json:"input_summary"`
	CostUSD      *float64 `json:"cost_usd"`
}

// sseFrame is one Server-Sent Events frame.
type sseFrame struct {
	id, event, data string
}

// openLogStream follows GET /{id}/logs/stream; frames arrive on the
// channel, which closes when the server ends the stream.
func (s *stack) openLogStream(id string) <-chan sseFrame {
	s.t.Helper()
	return s.openSSE("/api/agent-work-orders/" + id + "/logs/stream")
}

// openSSE follows the event stream at path.
func (s *stack) openSSE(path string) <-chan sseFrame {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("%s: %d", path, resp.StatusCode)
	}
	frames := make(chan sseFrame, 256)
	go func() {
		defer close(frames)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f.data != "" {
					frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, "id: "):
				f.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				f.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				f.data = line[6:]
			}
		}
	}()
	return frames
}

// nextFrame waits for the next frame; ok is false when the stream ended.
func nextFrame(t *testing.T, frames <-chan sseFrame, within time.Duration) (sseFrame, bool) {
	t.Helper()
	select {
	case f, ok := <-frames:
		return f, ok
	case <-time.After(within):
		t.Fatalf("no log stream frame within %v", within)
	}
	return sseFrame{}, false
}

func TestWorkOrder_LiveLogs_SSEWhileTheAgentRuns(t *testing.T) {
	const branch = "feat/live-logs"
	// The model answers the tool's result only after 3 s, so the step is
	// still running when its tool call reaches the viewer.
	w := newWorld(t, fm.Rule{Name: "create-branch", Prompt: "# Create a working branch", Turns: []fm.Turn{
		fm.Bash("git checkout -b "+branch, "create the branch"),
		fm.Text(branch).After(3 * time.Second),
	}})
	s := newStack(t, w)
	s.start()
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Show me what you do", "selected_commands": []any{"create-branch"},
	})
	frames := s.openLogStream(id)
	feed := s.openSSE("/api/agent-work-orders/events?id=" + id)

	var seen []string
	var call liveEntry
	for call.Event != "tool_call" {
		f, ok := nextFrame(t, frames, 2*time.Minute)
		if !ok || f.event != "" {
			t.Fatalf("stream ended (%+v) before a tool call; saw %v", f, seen)
		}
		var e liveEntry
		if err := json.Unmarshal([]byte(f.data), &e); err != nil {
			t.Fatalf("entry %s: %v", f.data, err)
		}
		// The work order's own start has no stream sequence, so no id.
		if e.WorkOrderID != id || (f.id == "") != strings.HasPrefix(e.Event, "workflow_") {
			t.Fatalf("entry %+v (id %q) is not about %s", e, f.id, id)
		}
		seen = append(seen, e.Event)
		if e.Event == "tool_call" {
			call = e
		}
	}
	if call.Tool != "Bash" || call.InputSummary != "git checkout -b "+branch || call.Step != "create-branch" {
		t.Errorf("tool call entry %+v", call)
	}
	// Live means while the agent is still at it.
	if wo := s.get(id); wo.Status != "running" {
		t.Errorf("status %s when the tool call arrived; want running (the model waits 3s)", wo.Status)
	}
	// The event feed has the step's start by now, as a CloudEvent.
	var feedSeq uint64
	feedUntil := func(typ string) {
		t.Helper()
		for {
			f, ok := nextFrame(t, feed, 2*time.Minute)
			if !ok {
				t.Fatalf("event feed closed before %s", typ)
			}
			var ce struct {
				SpecVersion string `json:"specversion"`
				Type        string `json:"type"`
				Subject     string `json:"subject"`
			}
			seq, err := strconv.ParseUint(f.id, 10, 64)
			if err := json.Unmarshal([]byte(f.data), &ce); err != nil || ce.SpecVersion != "1.0" || ce.Subject != id {
				t.Fatalf("feed frame %+v is not a CloudEvent about %s (%v)", f, id, err)
			}
			if err != nil || seq <= feedSeq {
				t.Fatalf("feed frame id %q after %d, want a growing stream sequence", f.id, feedSeq)
			}
			feedSeq = seq
			if ce.Type == typ {
				return
			}
		}
	}
	feedUntil("io.archon.workorders.step.started.v1")
	if wo := s.get(id); wo.Status != "running" {
		t.Errorf("status %s when the step's start came on the feed; want running", wo.Status)
	}

	var end sseFrame
	var result liveEntry
	for end.event == "" {
		f, ok := nextFrame(t, frames, 2*time.Minute)
		if !ok {
			t.Fatalf("stream closed without an end event; saw %v", seen)
		}
		if f.event != "" {
			end = f
			break
		}
		var e liveEntry
		if err := json.Unmarshal([]byte(f.data), &e); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, e.Event)
		if e.Event == "result" {
			result = e
		}
	}
	if end.event != "end" || !strings.Contains(end.data, `"status":"completed"`) {
		t.Fatalf("end frame %+v; saw %v", end, seen)
	}
	if f, ok := nextFrame(t, frames, 10*time.Second); ok {
		t.Errorf("frame after the end: %+v", f)
	}
	feedUntil("io.archon.workorders.workorder.completed.v1")
	for _, want := range []string{"step_started", "tool_call", "tool_result", "assistant_text", "result", "step_finished"} {
		if !strings.Contains(" "+strings.Join(seen, " ")+" ", " "+want+" ") {
			t.Errorf("no %s entry in %v", want, seen)
		}
	}
	if last := seen[len(seen)-3:]; strings.Join(last, " ") != "step_finished step_completed workflow_completed" {
		t.Errorf("last entries before the end are %v, want step_finished step_completed workflow_completed (%v)", last, seen)
	}
	if result.CostUSD == nil {
		t.Errorf("result entry without cost: %+v", result)
	}

	// The same entries are there to read afterwards, filterable.
	code, body := s.do("GET", "/api/agent-work-orders/"+id+"/logs?step=create-branch&limit=1000", nil)
	var page struct {
		Entries []liveEntry `json:"log_entries"`
		Total   int         `json:"total"`
	}
	// All but the work order's start and end, which belong to no step.
	if want := len(seen) - 2; code != http.StatusOK || json.Unmarshal(body, &page) != nil || page.Total != want || len(page.Entries) != want {
		t.Errorf("GET logs: %d, %d entries (total %d), want %d: %s", code, len(page.Entries), page.Total, want, tail(string(body), 3))
	}
	code, body = s.do("GET", "/api/agent-work-orders/"+id+"/git-progress", nil)
	var progress struct {
		Branch string `json:"git_branch_name"`
		Phase  string `json:"current_phase"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &progress) != nil || progress.Branch != branch || progress.Phase != "completed" {
		t.Errorf("git-progress: %d %s", code, body)
	}
}
