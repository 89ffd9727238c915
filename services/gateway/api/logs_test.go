package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

// logWriter publishes entries as the executor does and waits until they
// are stored.
func (h *harness) logWriter() func(wo workorder.ID, step workorder.Step, level logentry.Level, msg string) {
	p := logentry.NewPublisher(h.env.JS, quiet, 0, nil)
	h.t.Cleanup(func() { _ = p.Close(context.Background()) })
	return func(wo workorder.ID, step workorder.Step, level logentry.Level, msg string) {
		h.t.Helper()
		p.Publish(logentry.Entry{Timestamp: time.Now().UTC(), Level: level, Step: step, Event: logentry.EventAssistantText, Message: msg, WorkOrderID: wo, Attempt: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Flush(ctx); err != nil {
			h.t.Fatal(err)
		}
	}
}

type logsPage struct {
	ID      workorder.ID     `json:"agent_work_order_id"`
	Entries []logentry.Entry `json:"log_entries"`
	Total   int              `json:"total"`
	Limit   int              `json:"limit"`
	Offset  int              `json:"offset"`
}

func messages(es []logentry.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Message)
	}
	return out
}

func TestLogs_FiltersAndPages(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	other := h.create(nil)
	write := h.logWriter()
	write(id, workorder.StepCreateBranch, logentry.LevelInfo, "a")
	write(other, workorder.StepCreateBranch, logentry.LevelInfo, "not mine")
	write(id, workorder.StepPlanning, logentry.LevelWarn, "b")
	time.Sleep(2 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	write(id, workorder.StepPlanning, logentry.LevelError, "c")
	write(id, workorder.StepExecute, logentry.LevelInfo, "d")

	base := "/api/agent-work-orders/" + string(id) + "/logs"
	tests := []struct {
		query     string
		want      []string
		wantTotal int
	}{
		{"", []string{"a", "b", "c", "d"}, 4},
		{"?level=warning", []string{"b"}, 1},
		{"?level=error", []string{"c"}, 1},
		{"?step=planning", []string{"b", "c"}, 2},
		{"?since=" + url.QueryEscape(mid.Format(time.RFC3339Nano)), []string{"c", "d"}, 2},
		{"?limit=2&offset=1", []string{"b", "c"}, 4},
		{"?offset=10", nil, 4},
	}
	for _, tt := range tests {
		r := h.get(base + tt.query)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.query, r.status, r.body)
		}
		var page logsPage
		r.json(t, &page)
		if got := messages(page.Entries); strings.Join(got, ",") != strings.Join(tt.want, ",") || page.Total != tt.wantTotal || page.ID != id {
			t.Errorf("%q: entries %v total %d, want %v total %d", tt.query, got, page.Total, tt.want, tt.wantTotal)
		}
	}
	var page logsPage
	h.get(base).json(t, &page)
	if page.Limit != 100 || page.Offset != 0 || page.Entries == nil {
		t.Errorf("defaults: %+v", page)
	}
	if r := h.get("/api/agent-work-orders/" + string(other) + "/logs?limit=1000"); r.status != http.StatusOK {
		t.Errorf("limit=1000: %d", r.status)
	}
	// An empty log is an empty list, not null.
	empty := h.create(nil)
	if r := h.get("/api/agent-work-orders/" + string(empty) + "/logs"); !strings.Contains(string(r.body), `"log_entries":[]`) {
		t.Errorf("empty log: %s", r.body)
	}
}

func TestLogs_BadParametersAndUnknownWorkOrder(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	for _, q := range []string{"?level=loud", "?step=dance", "?since=yesterday", "?limit=0", "?limit=1001", "?offset=-1"} {
		r := h.get("/api/agent-work-orders/" + string(id) + "/logs" + q)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", q, r.status, r.body)
			continue
		}
		if d := r.detail(t); d == "" {
			t.Errorf("%s: empty detail", q)
		}
	}
	r := h.do(http.MethodGet, "/api/agent-work-orders/"+string(id)+"/logs/stream", nil, "Last-Event-ID", "abc")
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad Last-Event-ID: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/logs", "/logs/stream", "/git-progress"} {
		r := h.get("/api/agent-work-orders/wo-0000ffff" + path)
		if r.status != http.StatusNotFound || r.detail(t) != "Work order not found" {
			t.Errorf("%s of unknown id: %d %s", path, r.status, r.body)
		}
	}
}

func TestLogs_WithoutALogStream_IsUnavailable(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	// Read through the harness's API, which waits for the projection, so
	// the store has the work order before the second API is asked.
	if r := h.get("/api/agent-work-orders/" + string(id)); r.status != http.StatusOK {
		t.Fatalf("GET: %d", r.status)
	}
	// A second API over the same store, built without the log stream.
	srv := api.New(api.Options{Publisher: h.bus, Store: h.store, Logger: quiet})
	for _, path := range []string{"/logs", "/logs/stream"} {
		req, _ := http.NewRequest(http.MethodGet, "/api/agent-work-orders/"+string(id)+path, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "log stream") {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

func TestGitProgress_FollowsTheSteps(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	path := "/api/agent-work-orders/" + string(id) + "/git-progress"
	var got map[string]any
	h.get(path).json(t, &got)
	want := map[string]any{"agent_work_order_id": string(id), "current_phase": "planning", "git_commit_count": 0.0,
		"git_files_changed": 0.0, "latest_commit_message": nil, "git_branch_name": nil}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("before any step:\n got  %v\n want %v", got, want)
	}

	h.publish(id, events.TypeStarted, &events.Started{})
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCommit, Attempt: 1})
	two, five := 2, 5
	h.publish(id, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepCommit, Attempt: 1, Success: true,
		BranchName: "feat/login", CommitCount: &two, FilesChanged: &five, LatestCommitMessage: "feat: log in"})
	h.get(path).json(t, &got)
	want = map[string]any{"agent_work_order_id": string(id), "current_phase": "commit", "git_commit_count": 2.0,
		"git_files_changed": 5.0, "latest_commit_message": "feat: log in", "git_branch_name": "feat/login"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after commit:\n got  %v\n want %v", got, want)
	}

	h.publish(id, events.TypeCompleted, &events.Completed{})
	h.get(path).json(t, &got)
	if got["current_phase"] != "completed" {
		t.Errorf("after the end: phase %v", got["current_phase"])
	}
}

// sseEvent is one Server-Sent Events frame; comment holds a ": ..." line.
type sseEvent struct {
	id, event, data, comment string
}

// sseStream reads frames from a live response.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	frames chan sseEvent
	cancel context.CancelFunc
}

func (h *harness) openStream(id workorder.ID, query string, header ...string) *sseStream {
	h.t.Helper()
	return h.openSSE("/api/agent-work-orders/"+string(id)+"/logs/stream"+query, header...)
}

// openSSE opens the event stream at path (with its query).
func (h *harness) openSSE(path string, header ...string) *sseStream {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		h.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{t: h.t, resp: resp, frames: make(chan sseEvent, 64), cancel: cancel}
	h.t.Cleanup(s.close)
	go func() {
		defer close(s.frames)
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				s.frames <- cur
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				cur.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next frame that is not a heartbeat.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				s.t.Fatal("stream closed while an event was expected")
			}
			if f.comment == "ping" && f.data == "" {
				continue
			}
			return f
		case <-deadline:
			s.t.Fatal("no event within 10s")
		}
	}
}

func (s *sseStream) nextEntry() (logentry.Entry, string) {
	s.t.Helper()
	f := s.next()
	if f.event != "" {
		s.t.Fatalf("got a %q event, want a log entry (data %s)", f.event, f.data)
	}
	e, err := logentry.Decode([]byte(f.data))
	if err != nil {
		s.t.Fatal(err)
	}
	return e, f.id
}

// closed waits for the server to end the stream.
func (s *sseStream) closed() {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return
			}
			if f.comment != "ping" {
				s.t.Fatalf("unexpected frame after the end: %+v", f)
			}
		case <-deadline:
			s.t.Fatal("the stream was not closed after its end event")
		}
	}
}

func TestLogsStream_BacklogThenLiveThenEnd(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	write := h.logWriter()
	write(id, workorder.StepCreateBranch, logentry.LevelInfo, "one")
	write(id, workorder.StepCreateBranch, logentry.LevelInfo, "two")

	s := h.openStream(id, "")
	first, firstID := s.nextEntry()
	second, secondID := s.nextEntry()
	if first.Message != "one" || second.Message != "two" || firstID == "" || firstID == secondID {
		t.Fatalf("backlog: %q (id %s), %q (id %s)", first.Message, firstID, second.Message, secondID)
	}
	write(id, workorder.StepPlanning, logentry.LevelInfo, "live")
	if e, _ := s.nextEntry(); e.Message != "live" || e.Step != workorder.StepPlanning {
		t.Fatalf("live entry: %+v", e)
	}

	h.publish(id, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "boom"})
	// The work order's end is an entry too (Archon's UI reads it), the
	// one error of the log, then the named end event.
	if e, eid := s.nextEntry(); e.Event != logentry.EventWorkflowFailed || e.Level != logentry.LevelError ||
		e.Message != "work order failed: boom" || e.Step != workorder.StepPlanning || eid != "" {
		t.Fatalf("last entry: %+v (id %q), want workflow_failed without an id", e, eid)
	}
	end := s.next()
	if end.event != "end" || !strings.Contains(end.data, `"status":"failed"`) || !strings.Contains(end.data, string(id)) {
		t.Fatalf("end event: %+v", end)
	}
	s.closed()

	// A stream opened after the end replays the log and ends at once.
	late := h.openStream(id, "")
	for _, want := range []string{"one", "two", "live", "work order failed: boom"} {
		if e, _ := late.nextEntry(); e.Message != want {
			t.Fatalf("late viewer: %q, want %q", e.Message, want)
		}
	}
	if f := late.next(); f.event != "end" {
		t.Fatalf("late viewer: %+v, want the end", f)
	}
	late.closed()
}

func TestLogsStream_LastEventID_ResumesRightAfterIt(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	write := h.logWriter()
	for _, m := range []string{"one", "two", "three"} {
		write(id, workorder.StepPlanning, logentry.LevelInfo, m)
	}
	s := h.openStream(id, "")
	_, firstID := s.nextEntry()
	s.close()

	resumed := h.openStream(id, "", "Last-Event-ID", firstID)
	if e, _ := resumed.nextEntry(); e.Message != "two" {
		t.Fatalf("after Last-Event-ID %s: %q, want two", firstID, e.Message)
	}
	byQuery := h.openStream(id, "?last_event_id="+firstID)
	if e, _ := byQuery.nextEntry(); e.Message != "two" {
		t.Fatalf("after last_event_id=%s: %q, want two", firstID, e.Message)
	}
}

func TestLogsStream_FiltersApplyToBacklogAndLive(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	write := h.logWriter()
	write(id, workorder.StepPlanning, logentry.LevelInfo, "quiet")
	write(id, workorder.StepPlanning, logentry.LevelError, "loud")
	s := h.openStream(id, "?level=error")
	if e, _ := s.nextEntry(); e.Message != "loud" {
		t.Fatalf("%q, want loud", e.Message)
	}
	write(id, workorder.StepExecute, logentry.LevelInfo, "quiet again")
	write(id, workorder.StepExecute, logentry.LevelError, "loud again")
	if e, _ := s.nextEntry(); e.Message != "loud again" {
		t.Fatalf("%q, want loud again", e.Message)
	}
}

func TestLogsStream_SendsHeartbeats(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.SSEHeartbeat = 100 * time.Millisecond })
	id := h.create(nil)
	s := h.openStream(id, "")
	deadline := time.After(5 * time.Second)
	for pings := 0; pings < 2; {
		select {
		case f := <-s.frames:
			if f.comment != "ping" {
				t.Fatalf("unexpected frame %+v", f)
			}
			pings++
		case <-deadline:
			t.Fatalf("%d pings in 5s at a 100ms interval", pings)
		}
	}
}

func TestLogsStream_TwoViewersEachGetEveryEntry(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	a, b := h.openStream(id, ""), h.openStream(id, "")
	write := h.logWriter()
	write(id, workorder.StepExecute, logentry.LevelInfo, "for both")
	for name, s := range map[string]*sseStream{"a": a, "b": b} {
		if e, _ := s.nextEntry(); e.Message != "for both" {
			t.Errorf("viewer %s: %q", name, e.Message)
		}
	}
	// One viewer leaving does not disturb the other.
	a.close()
	write(id, workorder.StepExecute, logentry.LevelInfo, "for b")
	if e, _ := b.nextEntry(); e.Message != "for b" {
		t.Errorf("viewer b after a left: %q", e.Message)
	}
	h.publish(id, events.TypeCompleted, &events.Completed{})
	if e, _ := b.nextEntry(); e.Event != logentry.EventWorkflowCompleted {
		t.Errorf("viewer b: %+v, want workflow_completed", e)
	}
	if f := b.next(); f.event != "end" || !strings.Contains(f.data, `"status":"completed"`) {
		t.Errorf("viewer b end: %+v", f)
	}
}

// HEAD answers with the stream's headers and returns, even while the work
// order runs: the connection is free for the next request at once instead of
// being held by a stream nobody reads until the work order ends.
func TestLogsStream_Head_AnswersHeadersWithoutHoldingTheConnection(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	roundTrip := func(method, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, h.srv.URL+path, nil)
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s %s on a kept-alive connection: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := roundTrip(http.MethodHead, "/api/agent-work-orders/"+string(id)+"/logs/stream")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp := roundTrip(http.MethodGet, "/api/agent-work-orders/"+string(id)); resp.StatusCode != http.StatusOK {
		t.Fatalf("the next request on the connection: %d", resp.StatusCode)
	}
	if resp := roundTrip(http.MethodHead, "/api/agent-work-orders/wo-00000000/logs/stream"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD on an unknown work order: %d", resp.StatusCode)
	}
}

func TestLogsStream_RetriedWorkOrder_EndsAtTheNewEndOnly(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	write := h.logWriter()
	write(id, workorder.StepExecute, logentry.LevelInfo, "attempt 1")
	h.publish(id, events.TypeFailed, &events.Failed{Step: workorder.StepExecute, ErrorMessage: "boom"})
	h.publish(id, events.TypeRetryRequested, &events.RetryRequested{Round: 1})

	// The old failure is not the end any more: the stream stays open for
	// the second round.
	s := h.openStream(id, "")
	for _, want := range []string{"attempt 1", "work order failed: boom", "work order retried (round 1)"} {
		if e, _ := s.nextEntry(); e.Message != want {
			t.Fatalf("backlog: %q, want %q", e.Message, want)
		}
	}
	write(id, workorder.StepExecute, logentry.LevelInfo, "attempt 2")
	if e, _ := s.nextEntry(); e.Message != "attempt 2" {
		t.Fatalf("live entry after the retry: %q (the stream ended at the old failure?)", e.Message)
	}
	h.publish(id, events.TypeCompleted, &events.Completed{})
	if e, _ := s.nextEntry(); e.Event != logentry.EventWorkflowCompleted {
		t.Fatalf("%+v, want workflow_completed", e)
	}
	if f := s.next(); f.event != "end" || !strings.Contains(f.data, `"status":"completed"`) {
		t.Fatalf("end event: %+v", f)
	}
	s.closed()
}
