package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

// The work order's start and end are entries of its log, in time order
// among the executor's, every entry with the seconds since the start; the
// levels are spelled as Archon's UI spells them and ?level=warn is read as
// warning. The page and the stream tell the same story.
func TestLogs_ShowTheWorkOrdersLifecycleWithElapsedSeconds(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.publish(id, events.TypeStarted, &events.Started{Steps: []workorder.Step{workorder.StepPlanning, workorder.StepExecute}})
	time.Sleep(1100 * time.Millisecond) // so that the later entries are a second in
	write := h.logWriter()
	write(id, workorder.StepPlanning, logentry.LevelInfo, "planning")
	write(id, workorder.StepExecute, logentry.LevelWarn, "a tool failed")
	h.publish(id, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"})

	r := h.get("/api/agent-work-orders/" + string(id) + "/logs")
	var page logsPage
	r.json(t, &page)
	wantEvents := []string{"workflow_started", "assistant_text", "assistant_text", "workflow_completed"}
	if got := eventNames(page.Entries); strings.Join(got, ",") != strings.Join(wantEvents, ",") || page.Total != 4 {
		t.Fatalf("events %v (total %d), want %v", got, page.Total, wantEvents)
	}
	for i, e := range page.Entries {
		if e.ElapsedSeconds == nil || (i > 0 && *e.ElapsedSeconds < 1) || (i == 0 && *e.ElapsedSeconds != 0) {
			t.Errorf("entry %d (%s): elapsed_seconds %v, want 0 for the start and at least 1 after", i, e.Event, e.ElapsedSeconds)
		}
		if e.Level == logentry.LevelError {
			t.Errorf("an error entry in a work order that completed: %+v", e)
		}
	}
	if end := page.Entries[3]; end.ProgressPct == nil || *end.ProgressPct != 100 || !strings.Contains(end.Message, "/pull/7") {
		t.Errorf("workflow_completed = %+v, want 100%% and the pull request", end)
	}
	if !strings.Contains(string(r.body), `"level":"warning"`) {
		t.Errorf("no entry spelled warning: %s", r.body)
	}

	h.get("/api/agent-work-orders/"+string(id)+"/logs?level=warn").json(t, &page)
	if len(page.Entries) != 1 || page.Entries[0].Message != "a tool failed" {
		t.Errorf("?level=warn: %v, want the warning", messages(page.Entries))
	}

	s := h.openStream(id, "")
	for _, want := range wantEvents {
		if e, _ := s.nextEntry(); e.Event != want || e.ElapsedSeconds == nil {
			t.Fatalf("stream: %+v, want %s with elapsed_seconds", e, want)
		}
	}
	if f := s.next(); f.event != "end" {
		t.Fatalf("stream: %+v, want the end", f)
	}
	s.closed()
}

func eventNames(es []logentry.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Event)
	}
	return out
}

// slowEvents delays what a log stream follows on the event stream, so the
// executor's entries overtake the work order's start as they can when the
// two consumers race.
type slowEvents struct {
	api.LogReader
	delay time.Duration
}

func (s *slowEvents) Follow(ctx context.Context, stream string, subjects []string, after uint64) (<-chan bus.Message, error) {
	in, err := s.LogReader.Follow(ctx, stream, subjects, after)
	if err != nil || stream != bus.StreamEvents {
		return in, err
	}
	out := make(chan bus.Message)
	go func() {
		for m := range in {
			select {
			case <-time.After(s.delay):
			case <-ctx.Done():
				return
			}
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func TestLogsStream_StartComesFirstWhenAnEntryOvertakesIt(t *testing.T) {
	slow := &slowEvents{delay: time.Second}
	h := newHarness(t, func(o *api.Options) { o.LogStream = slow })
	slow.LogReader = h.bus
	id := h.create(nil)
	s := h.openStream(id, "")
	h.publish(id, events.TypeStarted, &events.Started{Steps: []workorder.Step{workorder.StepPlanning}})
	write := h.logWriter()
	write(id, workorder.StepPlanning, logentry.LevelInfo, "first line")

	if e, eid := s.nextEntry(); e.Event != logentry.EventWorkflowStarted || eid != "" || e.ElapsedSeconds == nil {
		t.Fatalf("first entry %+v (id %q), want workflow_started", e, eid)
	}
	if e, _ := s.nextEntry(); e.Message != "first line" || e.ElapsedSeconds == nil {
		t.Fatalf("second entry %+v, want the line with elapsed_seconds", e)
	}
	time.Sleep(1500 * time.Millisecond) // the start arrives late through the slow follow
	write(id, workorder.StepPlanning, logentry.LevelInfo, "second line")
	if e, _ := s.nextEntry(); e.Message != "second line" {
		t.Fatalf("%+v, want the second line (the start sent twice?)", e)
	}
}

// A github step finishing after the work order was cancelled (a cancel
// does not wait for create-pr) does not reopen it: the stream still ends,
// live and for a late viewer.
func TestLogsStream_AStepEventAfterTheEndDoesNotKeepItOpen(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	live := h.openStream(id, "")
	h.publish(id, events.TypeCancelled, &events.Cancelled{Reason: "wrong repository"})
	h.publish(id, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepCreatePR, Attempt: 1, Success: true})
	for name, s := range map[string]*sseStream{"live": live, "late": h.openStream(id, "")} {
		var seen []string
		for {
			f := s.next()
			if f.event == "end" {
				if !strings.Contains(f.data, `"status":"cancelled"`) {
					t.Errorf("%s: end %s", name, f.data)
				}
				break
			}
			e, err := logentry.Decode([]byte(f.data))
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, e.Event)
		}
		if !slices.Contains(seen, logentry.EventWorkflowCancelled) {
			t.Errorf("%s: %v without workflow_cancelled", name, seen)
		}
		s.closed()
	}
}
