package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// branched makes id a started work order whose create-branch completed.
func (h *harness) branched(id workorder.ID) {
	h.t.Helper()
	h.started(id)
	h.publish(id, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true,
		BranchName: "feat/x", BaseBranch: "main"})
}

func promptPath(id workorder.ID) string { return "/api/agent-work-orders/" + string(id) + "/prompt" }

func TestPrompt_CompletedWorkOrder_StartsTheNextRound(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.branched(id)
	h.publish(id, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"})

	r := h.post(promptPath(id), `{"prompt_text": "  also handle the empty case  "}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("prompt: %d %s", r.status, r.body)
	}
	var wo readmodel.WorkOrder
	r.json(t, &wo)
	if wo.AgentWorkOrderID != id || wo.Status != workorder.StatusRunning {
		t.Errorf("answer = %s, want the work order running again", r.body)
	}
	e, ok := h.last(id, events.TypeFollowUpRequested)
	if fu, _ := e.Data.(*events.FollowUpRequested); !ok || e.ID != string(id)+".follow_up_requested.2" || fu.Round != 2 || fu.PromptText != "also handle the empty case" {
		t.Fatalf("recorded %s %+v, want follow_up_requested round 2 with the trimmed prompt", e.ID, e.Data)
	}

	// While the round runs, another prompt is a conflict that says why.
	if r := h.post(promptPath(id), `{"prompt_text": "and this"}`); r.status != http.StatusConflict || !strings.Contains(r.detail(t), "is running") {
		t.Fatalf("prompt of a running work order: %d %s", r.status, r.body)
	}
	// A cancel inside the round is a new request, not a duplicate of one
	// from the first run.
	if r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/cancel", nil); r.status != http.StatusAccepted {
		t.Fatalf("cancel in round 2: %d %s", r.status, r.body)
	}
	if e, _ := h.last(id, events.TypeCancelRequested); e.ID != string(id)+".cancel_requested.f2" {
		t.Errorf("cancel in round 2 recorded as %s", e.ID)
	}

	// The round ends; the next prompt is round 3.
	h.publish(id, events.TypeFailed, &events.Failed{Step: workorder.StepFollowUp, ErrorMessage: "follow-up failed: boom"})
	if r := h.post(promptPath(id), `{"prompt_text": "try it another way"}`); r.status != http.StatusAccepted {
		t.Fatalf("prompt of the failed round: %d %s", r.status, r.body)
	}
	if e, _ := h.last(id, events.TypeFollowUpRequested); e.ID != string(id)+".follow_up_requested.3" || e.Data.(*events.FollowUpRequested).Round != 3 {
		t.Errorf("third round recorded as %s %+v", e.ID, e.Data)
	}
}

func TestPrompt_IsAConflictWhereNoRoundCanRun(t *testing.T) {
	h := newHarness(t)
	pending := h.create(nil)
	running := h.create(nil)
	h.branched(running)
	cancelled := h.create(nil)
	h.branched(cancelled)
	h.publish(cancelled, events.TypeCancelled, &events.Cancelled{Reason: "stop"})
	noBranch := h.create(nil)
	h.started(noBranch)
	h.publish(noBranch, events.TypeFailed, &events.Failed{Step: workorder.StepCreateBranch, ErrorMessage: "create-branch failed: boom"})
	before := h.eventCount()

	for id, want := range map[workorder.ID]string{
		pending:   "is pending; send the follow-up prompt once it has completed or failed",
		running:   "is running; send the follow-up prompt once it has completed or failed",
		cancelled: "was cancelled and its sandbox removed; retry it",
		noBranch:  "failed before its branch was created",
	} {
		r := h.post(promptPath(id), `{"prompt_text": "more"}`)
		if r.status != http.StatusConflict {
			t.Errorf("prompt of %s: %d %s, want 409", id, r.status, r.body)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, want) {
			t.Errorf("prompt of %s: detail %q, want it to say %q", id, d, want)
		}
	}
	if n := h.eventCount(); n != before {
		t.Errorf("refused prompts recorded %d events", n-before)
	}
}

func TestPrompt_UnknownWorkOrder_IsNotFound(t *testing.T) {
	h := newHarness(t)
	if r := h.post(promptPath("wo-00000000"), `{"prompt_text": "more"}`); r.status != http.StatusNotFound {
		t.Fatalf("prompt of an unknown work order: %d %s", r.status, r.body)
	}
}

func TestPrompt_BodyValidation(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	h.branched(id)
	h.publish(id, events.TypeCompleted, &events.Completed{})
	before := h.eventCount()
	for _, tc := range []struct {
		body   string
		status int
		detail string
	}{
		{`{}`, http.StatusUnprocessableEntity, "prompt_text: field required"},
		{`{"prompt_text": "   "}`, http.StatusUnprocessableEntity, "prompt_text: field required"},
		{`{"prompt_text": 5}`, http.StatusUnprocessableEntity, "prompt_text"},
		{`{"prompt_text": "x", "reason": "y"}`, http.StatusUnprocessableEntity, "unknown field \"reason\"; allowed fields: prompt_text"},
		{`{"prompt_text": "bell \u0007"}`, http.StatusUnprocessableEntity, "prompt_text"},
		{`{"prompt_text": "` + strings.Repeat("x", 70000) + `"}`, http.StatusUnprocessableEntity, "at most 65536 bytes"},
		{`{"prompt_text": `, http.StatusBadRequest, "malformed JSON"},
		{``, http.StatusBadRequest, "request body is empty"},
	} {
		r := h.post(promptPath(id), tc.body)
		if r.status != tc.status {
			t.Errorf("%.40s: %d %s, want %d", tc.body, r.status, r.body, tc.status)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, tc.detail) {
			t.Errorf("%.40s: detail %q, want it to mention %q", tc.body, d, tc.detail)
		}
	}
	if r := h.do(http.MethodPost, promptPath(id), strings.NewReader("more"), "Content-Type", "text/plain"); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("prompt with text/plain: %d", r.status)
	}
	if n := h.eventCount(); n != before {
		t.Errorf("refused prompts recorded %d events", n-before)
	}
}

// A follow-up round reopens the live log like a retry: the first run's end
// is not the end any more.
func TestLogsStream_FollowedUpWorkOrder_EndsAtTheRoundsEndOnly(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	write := h.logWriter()
	write(id, workorder.StepCommit, logentry.LevelInfo, "round 1")
	h.publish(id, events.TypeCompleted, &events.Completed{})
	h.publish(id, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "more", Round: 2})

	s := h.openStream(id, "")
	// The first run's end and the round's start are entries of the log.
	for _, want := range []string{"round 1", "work order completed", "follow-up round 2: more"} {
		if e, _ := s.nextEntry(); e.Message != want {
			t.Fatalf("backlog: %q, want %q", e.Message, want)
		}
	}
	write(id, workorder.StepFollowUp, logentry.LevelInfo, "round 2")
	if e, _ := s.nextEntry(); e.Message != "round 2" {
		t.Fatalf("live entry in the round: %q (the stream ended at the first run's end?)", e.Message)
	}
	h.publish(id, events.TypeFailed, &events.Failed{Step: workorder.StepFollowUp, ErrorMessage: "boom"})
	if e, _ := s.nextEntry(); e.Event != logentry.EventWorkflowFailed {
		t.Fatalf("%+v, want workflow_failed", e)
	}
	if f := s.next(); f.event != "end" || !strings.Contains(f.data, `"status":"failed"`) {
		t.Fatalf("end event: %+v", f)
	}
	s.closed()
}
