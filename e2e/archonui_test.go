package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// uiEntry is a live log entry as Archon's React UI reads it
// (archon-ui-main/src/features/agent-work-orders: types LogEntry,
// RealTimeStats): the field names are its.
type uiEntry map[string]any

func (e uiEntry) str(k string) string { s, _ := e[k].(string); return s }

// num is a number field; ok is false when it is missing or not a number.
func (e uiEntry) num(k string) (int, bool) {
	f, ok := e[k].(float64)
	return int(f), ok
}

// Archon's UI works unchanged against a real run: its progress panel finds
// step_started entries with step_number/total_steps/progress/progress_pct
// and elapsed_seconds, step_completed after each step, the work order's
// workflow_started and, last, workflow_completed; levels it knows; no error
// entry in a run that succeeded (it would show the run as failed); and
// every entry an unnamed SSE data event, which EventSource.onmessage sees.
func TestArchonUI_LiveLogCarriesWhatItsProgressPanelReads(t *testing.T) {
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning(), execute(writeGreeting), commit(branch))
	s := newStack(t, w)
	s.start()
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []any{"create-branch", "planning", "execute", "commit", "create-pr"},
	})
	frames := s.openLogStream(id)
	var streamed []uiEntry
	for {
		f, ok := nextFrame(t, frames, 3*time.Minute)
		if !ok {
			t.Fatalf("the stream closed without its end event after %d entries", len(streamed))
		}
		if f.event == "end" {
			break
		}
		if f.event != "" {
			t.Fatalf("a named %q event: EventSource.onmessage would not see it (%s)", f.event, f.data)
		}
		var e uiEntry
		if err := json.Unmarshal([]byte(f.data), &e); err != nil {
			t.Fatalf("entry %s: %v", f.data, err)
		}
		streamed = append(streamed, e)
	}
	if wo := s.waitFinished(id, time.Minute); wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	checkUIEntries(t, "stream", streamed)

	code, body := s.do("GET", "/api/agent-work-orders/"+id+"/logs?limit=1000", nil)
	var page struct {
		Entries []uiEntry `json:"log_entries"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &page) != nil {
		t.Fatalf("GET logs: %d %s", code, tail(string(body), 3))
	}
	checkUIEntries(t, "/logs", page.Entries)
	if len(page.Entries) != len(streamed) {
		t.Errorf("/logs has %d entries, the stream sent %d", len(page.Entries), len(streamed))
	}
}

// checkUIEntries asserts what the UI reads of a whole run's entries.
func checkUIEntries(t *testing.T, where string, entries []uiEntry) {
	t.Helper()
	if len(entries) < 2 || entries[0].str("event") != "workflow_started" || entries[len(entries)-1].str("event") != "workflow_completed" {
		t.Fatalf("%s: %d entries, want workflow_started first and workflow_completed last: %v", where, len(entries), eventsOf(entries))
	}
	if pct, _ := entries[len(entries)-1].num("progress_pct"); pct != 100 {
		t.Errorf("%s: workflow_completed progress_pct %d, want 100", where, pct)
	}
	// Every step of the plan of five: the executor's, and create-pr (the
	// github service's, rendered from its step events).
	agentSteps := []string{"create-branch", "planning", "execute", "commit", "create-pr"}
	var started, completed []string
	lastElapsed := 0
	for _, e := range entries {
		if lvl := e.str("level"); !slices.Contains([]string{"debug", "info", "warning", "error"}, lvl) || lvl == "error" {
			t.Errorf("%s: %s entry with level %q: want debug, info or warning in a run that succeeded", where, e.str("event"), lvl)
		}
		if e.str("work_order_id") == "" || e.str("timestamp") == "" {
			t.Errorf("%s: entry without work_order_id or timestamp: %v", where, e)
		}
		elapsed, ok := e.num("elapsed_seconds")
		if !ok || elapsed < lastElapsed {
			t.Errorf("%s: %s elapsed_seconds %v after %d", where, e.str("event"), e["elapsed_seconds"], lastElapsed)
		}
		lastElapsed = elapsed
		switch e.str("event") {
		case "step_started", "step_completed":
			n := slices.Index(agentSteps, e.str("step")) + 1
			number, _ := e.num("step_number")
			total, _ := e.num("total_steps")
			pct, hasPct := e.num("progress_pct")
			wantPct := (n - 1) * 20
			if e.str("event") == "step_completed" {
				wantPct = n * 20
			}
			if number != n || total != 5 || e.str("progress") != fmt.Sprintf("%d/5", n) || !hasPct || pct != wantPct {
				t.Errorf("%s: %s of %s: step_number %v total_steps %v progress %q progress_pct %v; want %d, 5, %d/5, %d",
					where, e.str("event"), e.str("step"), e["step_number"], e["total_steps"], e.str("progress"), e["progress_pct"], n, n, wantPct)
			}
			if e.str("event") == "step_started" {
				started = append(started, e.str("step"))
			} else {
				completed = append(completed, e.str("step"))
			}
		}
	}
	if !slices.Equal(started, agentSteps) || !slices.Equal(completed, agentSteps) {
		t.Errorf("%s: step_started for %v, step_completed for %v; want both %v", where, started, completed, agentSteps)
	}
}

func eventsOf(entries []uiEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.str("event")
	}
	return out
}
