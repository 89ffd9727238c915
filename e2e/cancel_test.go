package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// attemptStep is a step history row with its attempt number.
type attemptStep struct {
	Step         string  `json:"step"`
	Attempt      int     `json:"attempt"`
	Success      bool    `json:"success"`
	ErrorMessage *string `json:"error_message"`
	Round        int     `json:"round"`
	SessionID    *string `json:"session_id"`
}

func (s *stack) attempts(id string) []attemptStep {
	s.t.Helper()
	code, out := s.do("GET", "/api/agent-work-orders/"+id+"/steps", nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET steps %s: %d %s", id, code, out)
	}
	var h struct {
		Steps []attemptStep `json:"steps"`
	}
	if err := json.Unmarshal(out, &h); err != nil {
		s.t.Fatal(err)
	}
	return h.Steps
}

func summarize(steps []attemptStep) string {
	var parts []string
	for _, st := range steps {
		parts = append(parts, fmt.Sprintf("%s#%d:%t", st.Step, st.Attempt, st.Success))
	}
	return strings.Join(parts, ",")
}

// waitNoAgent waits until no process but awo itself carries the fake
// model's address in its environment: the CLI and whatever it started.
func (s *stack) waitNoAgent(within time.Duration) {
	s.t.Helper()
	self := strconv.Itoa(s.cmd.Process.Pid)
	deadline := time.Now().Add(within)
	for {
		var others []string
		for _, pid := range processesWithEnv("ANTHROPIC_BASE_URL=" + s.w.Model.URL) {
			if pid != self {
				others = append(others, pid)
			}
		}
		if len(others) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("agent processes still running: %v", others)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sandboxDirs lists the work order's sandboxes under the stack's
// AGENT_WORK_ORDER_TEMP_DIR.
func (s *stack) sandboxDirs(id string) []string {
	s.t.Helper()
	var root string
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "AGENT_WORK_ORDER_TEMP_DIR="); ok {
			root = v
		}
	}
	trees, _ := filepath.Glob(filepath.Join(root, "repos", "*", "trees", "sandbox-"+id))
	branches, _ := filepath.Glob(filepath.Join(root, "branches", "sandbox-"+id))
	return append(trees, branches...)
}

// Cancelling while the execute step's agent is working stops the agent,
// ends the work order as cancelled with the reason, runs nothing after it,
// and removes the sandbox.
func TestCancel_WhileTheAgentRuns_StopsItAndEndsCancelled(t *testing.T) {
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), execute(writeGreeting.After(2*time.Minute)), commit(branch))
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit"}})
	s.waitFor(id, 2*time.Minute, "the execute step's agent waiting for the model", func(wo workOrder) bool {
		return deref(wo.CurrentPhase) == "execute" && len(w.Model.Conversation("execute")) > 0
	})
	if dirs := s.sandboxDirs(id); len(dirs) != 1 {
		t.Fatalf("sandbox before the cancel: %v, want one worktree", dirs)
	}

	start := time.Now()
	code, out := s.do("POST", "/api/agent-work-orders/"+id+"/cancel", map[string]any{"reason": "wrong repository"})
	if code != http.StatusAccepted || !strings.Contains(string(out), id) {
		t.Fatalf("cancel: %d %s", code, out)
	}
	wo := s.waitFinished(id, time.Minute)
	if wo.Status != "cancelled" || deref(wo.ErrorMessage) != "wrong repository" {
		t.Fatalf("status %s, error %q; want cancelled with the reason", wo.Status, deref(wo.ErrorMessage))
	}
	// The CLI and everything it started are gone, long before the model
	// would have answered.
	s.waitNoAgent(15 * time.Second)
	if took := time.Since(start); took > 45*time.Second {
		t.Errorf("cancelling took %s", took)
	}

	// The executor removes the sandbox once the step has stopped.
	deadline := time.Now().Add(15 * time.Second)
	for len(s.sandboxDirs(id)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if dirs := s.sandboxDirs(id); len(dirs) != 0 {
		t.Errorf("sandbox still there after the cancel: %v", dirs)
	}

	steps := s.attempts(id)
	if got := summarize(steps); got != "create-branch#1:true,execute#1:false" {
		t.Fatalf("steps %s, want create-branch done and execute stopped", got)
	}
	if msg := deref(steps[1].ErrorMessage); !strings.Contains(msg, "cancelled") || !strings.Contains(msg, "wrong repository") {
		t.Errorf("execute's row says %q, want the cancellation and its reason", msg)
	}
	if n := len(w.Model.Conversation("commit")); n != 0 {
		t.Errorf("commit ran after the cancel (%d model calls)", n)
	}
	if w.Origin.HasBranch(t, branch) {
		t.Errorf("branch %s reached origin although the work order was cancelled before commit", branch)
	}

	// A second cancel of the ended work order is refused with its status.
	code, out = s.do("POST", "/api/agent-work-orders/"+id+"/cancel", nil)
	if code != http.StatusConflict || !strings.Contains(string(out), "is cancelled") {
		t.Errorf("cancel of a cancelled work order: %d %s", code, out)
	}
	s.stop()
}

// A step that fails is run again by a retry as attempt 2, after the steps
// that had completed, and the work order completes; the history keeps both
// attempts.
func TestRetry_AfterAFailedStep_RunsItAgainAndCompletes(t *testing.T) {
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), execute(writeGreeting), commit(branch))
	// Origin refuses every push for now: the commit step fails.
	hook := filepath.Join(w.Origin.Dir, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'origin is read-only for maintenance' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit", "create-pr"}})
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "failed" || !strings.Contains(deref(wo.ErrorMessage), "commit") {
		t.Fatalf("first round: status %s, error %q; want commit failed", wo.Status, deref(wo.ErrorMessage))
	}
	if got := summarize(s.attempts(id)); got != "create-branch#1:true,execute#1:true,commit#1:false" {
		t.Fatalf("first round steps %s", got)
	}
	executeCalls := len(w.Model.Conversation("execute"))

	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	code, out := s.do("POST", "/api/agent-work-orders/"+id+"/retry", nil)
	if code != http.StatusAccepted || !strings.Contains(string(out), `"status":"running"`) {
		t.Fatalf("retry: %d %s", code, out)
	}
	wo = s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" || wo.ErrorMessage != nil {
		t.Fatalf("after the retry: status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if got, want := summarize(s.attempts(id)), "create-branch#1:true,execute#1:true,commit#1:false,commit#2:true,create-pr#1:true"; got != want {
		t.Errorf("steps %s, want %s", got, want)
	}
	if n := len(w.Model.Conversation("execute")); n != executeCalls {
		t.Errorf("execute ran again on retry (%d model calls, was %d); completed steps must not", n, executeCalls)
	}
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}
	if prs := w.GH.PRs(t); len(prs) != 1 || prs[0].Head != branch {
		t.Errorf("PRs opened: %+v", prs)
	}

	// Nothing to retry on a completed work order, nothing to cancel either.
	for _, op := range []string{"retry", "cancel"} {
		code, out := s.do("POST", "/api/agent-work-orders/"+id+"/"+op, nil)
		if code != http.StatusConflict || !strings.Contains(string(out), "is completed") {
			t.Errorf("%s of a completed work order: %d %s", op, code, out)
		}
	}
	s.stop()
}
