package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// Usage limits (docs/usage-limits.md): the real all-in-one and the real
// Claude Code CLI against a scripted model that answers 429
// rate_limit_error, with the real API's headers, until a few seconds
// ahead. awo's backoff is seconds here (AWO_USAGE_LIMIT_RETRY).

// limitEnv is a backoff short enough for a test: 2s, doubled to 4s.
var limitEnv = []string{"AWO_USAGE_LIMIT_RETRY=2s", "AWO_USAGE_LIMIT_RETRY_MAX=4s"}

const waitPhase = "waiting for Claude Code's usage limit to reset: "

// numberedBranch scripts create-branch for the work order whose request
// names n: each work order of a test gets a branch of its own (worktrees
// of one clone cannot share one).
func numberedBranch(n int) fm.Rule {
	branch := fmt.Sprintf("feat/greeting-%d", n)
	return fm.Rule{Name: fmt.Sprintf("create-branch-%d", n), Prompt: fmt.Sprintf("greeting number %d.", n), Turns: []fm.Turn{
		fm.Bash("git checkout -b "+branch, "create the branch"),
		fm.Text(branch),
	}}
}

// waitingView is what the API shows of a work order while it waits.
type waitingView struct {
	Status, Phase string
	Until         time.Time
}

// waiting reads the work order's wait fields; ok is false when it does
// not wait.
func (s *stack) waiting(id string) (waitingView, bool) {
	s.t.Helper()
	wo := s.getRaw(id)
	until, _ := wo["waiting_until"].(string)
	if until == "" {
		return waitingView{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, until)
	if err != nil {
		s.t.Fatalf("waiting_until %q: %v", until, err)
	}
	phase, _ := wo["current_phase"].(string)
	status, _ := wo["status"].(string)
	return waitingView{Status: status, Phase: phase, Until: at}, true
}

// waitWaiting polls until the work order waits, and checks what it shows.
func (s *stack) waitWaiting(id string, within time.Duration) waitingView {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if v, ok := s.waiting(id); ok {
			if v.Status != "running" || !strings.HasPrefix(v.Phase, waitPhase) || !strings.Contains(v.Phase, "429 rate_limit_error") {
				s.t.Errorf("waiting work order shows status %q, current_phase %q", v.Status, v.Phase)
			}
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("work order %s did not wait within %s; it shows %v", id, within, s.getRaw(id))
	return waitingView{}
}

// limited counts the model's 429 answers.
func limited(w *world) int {
	n := 0
	for _, r := range w.Model.Requests() {
		if strings.Contains(r.Answer, "429 rate_limit_error") {
			n++
		}
	}
	return n
}

// A work order whose agent hits the usage limit waits (status running,
// waiting_until, current_phase saying why) and completes on its own once
// the limit resets; no step failed on the way.
func TestUsageLimit_WorkOrderWaitsThenCompletesOnItsOwn(t *testing.T) {
	// Mostly waiting for a limit to lift: it runs beside the other waiting tests.
	t.Parallel()
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning())
	s := newStack(t, w, limitEnv...)
	s.start()

	// Room for a loaded machine's CLI start before the first request.
	w.Model.RateLimitUntil(time.Now().Add(6 * time.Second))
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []any{"create-branch", "planning"},
	})
	v := s.waitWaiting(id, time.Minute)
	if ahead := time.Until(v.Until); ahead > 5*time.Second {
		t.Errorf("waits until %s, %s ahead; want the 2-4s backoff", v.Until, ahead)
	}
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if got := summarize(s.attempts(id)); got != "create-branch#1:true,planning#1:true" {
		t.Errorf("steps %s, want each step once, succeeded (a wait records no result)", got)
	}
	if v, ok := s.waiting(id); ok {
		t.Errorf("the finished work order still shows a wait: %+v", v)
	}
	if n := limited(w); n == 0 {
		t.Error("the model never answered 429")
	}
	// The step ran again in the session the limit interrupted, told why.
	resumed := false
	for _, r := range w.Model.Conversation("create-branch") {
		resumed = resumed || strings.Contains(r.LatestPrompt, "Again, after a wait")
	}
	if !resumed {
		t.Error("create-branch did not resume its interrupted session after the wait")
	}
}

// Several work orders queued while the account is limited all wait, none
// fails, and all complete once the limit resets.
func TestUsageLimit_QueuedWorkOrdersAllWaitThenComplete(t *testing.T) {
	// Mostly waiting for a limit to lift: it runs beside the other waiting tests.
	t.Parallel()
	const n = 3
	var rules []fm.Rule
	for i := 1; i <= n; i++ {
		rules = append(rules, numberedBranch(i))
	}
	w := newWorld(t, rules...)
	s := newStack(t, w, limitEnv...)
	s.start()

	w.Model.RateLimitUntil(time.Now().Add(8 * time.Second))
	var ids []string
	for i := 1; i <= n; i++ {
		ids = append(ids, s.create(map[string]any{
			"repository_url": repoURL, "user_request": fmt.Sprintf("Add greeting number %d.", i),
			"selected_commands": []any{"create-branch"},
		}))
	}
	waited := map[string]bool{}
	deadline := time.Now().Add(2 * time.Minute)
	for finished := 0; finished < n; {
		if time.Now().After(deadline) {
			t.Fatalf("not all finished within 2m: waited %v", waited)
		}
		finished = 0
		for _, id := range ids {
			if v, ok := s.waiting(id); ok {
				waited[id] = true
				if v.Status != "running" || !strings.HasPrefix(v.Phase, waitPhase) {
					t.Errorf("%s waits with status %q, phase %q", id, v.Status, v.Phase)
				}
			}
			if st := s.get(id).Status; st == "completed" || st == "failed" || st == "cancelled" {
				finished++
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range ids {
		wo := s.get(id)
		if wo.Status != "completed" {
			t.Errorf("%s: status %s, error %q", id, wo.Status, deref(wo.ErrorMessage))
		}
		if got := summarize(s.attempts(id)); got != "create-branch#1:true" {
			t.Errorf("%s: steps %s", id, got)
		}
		if !waited[id] {
			t.Errorf("%s was never seen waiting", id)
		}
	}
	// How the queue waited: runs that met the 429 themselves, and steps
	// parked by the shared flag without running.
	log, _ := os.ReadFile(s.logPath)
	parked := strings.Count(string(log), "step not run: the agent's account is limited")
	t.Logf("%d answers were 429, %d steps were parked by the account's flag without a run", limited(w), parked)
}

var retryAfter = regexp.MustCompile(`no reset time was given; retry after \d{2}:\d{2}:\d{2} UTC \(backoff 2s\)`)

// With AWO_RESUME_AFTER_USAGE_LIMIT=false the work order fails, and the
// message names the limit and when trying again makes sense.
func TestUsageLimit_ResumeOffFailsNamingTheReset(t *testing.T) {
	// Mostly waiting for a limit to lift: it runs beside the other waiting tests.
	t.Parallel()
	w := newWorld(t, createBranch("feat/add-greeting"))
	s := newStack(t, w, append(limitEnv, "AWO_RESUME_AFTER_USAGE_LIMIT=false")...)
	s.start()

	w.Model.RateLimitUntil(time.Now().Add(time.Hour))
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file", "selected_commands": []any{"create-branch"},
	})
	wo := s.waitFinished(id, time.Minute)
	msg := deref(wo.ErrorMessage)
	if wo.Status != "failed" || !strings.Contains(msg, "Claude Code's usage limit was reached (429 rate_limit_error)") ||
		!strings.Contains(msg, "AWO_RESUME_AFTER_USAGE_LIMIT=false") || !retryAfter.MatchString(msg) {
		t.Fatalf("status %s, error %q; want failed naming the limit and when to retry", wo.Status, msg)
	}
}

// A restart of the all-in-one while a work order waits: the wait is kept
// (a durable timer) and the work order still completes on its own.
func TestUsageLimit_RestartWhileWaitingStillCompletes(t *testing.T) {
	// Mostly waiting for a limit to lift: it runs beside the other waiting tests.
	t.Parallel()
	w := newWorld(t, createBranch("feat/add-greeting"))
	s := newStack(t, w, "AWO_USAGE_LIMIT_RETRY=8s", "AWO_USAGE_LIMIT_RETRY_MAX=8s")
	s.start()

	w.Model.RateLimitUntil(time.Now().Add(6 * time.Second))
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file", "selected_commands": []any{"create-branch"},
	})
	v := s.waitWaiting(id, time.Minute)
	s.stop()
	s.start()
	if after, ok := s.waiting(id); !ok || !after.Until.Equal(v.Until) {
		t.Errorf("after the restart the work order shows wait %+v (%t), want until %s", after, ok, v.Until)
	}
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if got := summarize(s.attempts(id)); got != "create-branch#1:true" {
		t.Errorf("steps %s", got)
	}
}

// A retry asked for while the step waits runs it at once, past the
// account's flag (which still stands for a minute): the work order
// completes long before the wait would have ended.
func TestUsageLimit_RetryWhileWaitingRunsNow(t *testing.T) {
	// Mostly waiting for a limit to lift: it runs beside the other waiting tests.
	t.Parallel()
	w := newWorld(t, createBranch("feat/add-greeting"))
	s := newStack(t, w, "AWO_USAGE_LIMIT_RETRY=1m", "AWO_USAGE_LIMIT_RETRY_MAX=1m")
	s.start()

	w.Model.RateLimitUntil(time.Now().Add(time.Hour))
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file", "selected_commands": []any{"create-branch"},
	})
	v := s.waitWaiting(id, time.Minute)
	if ahead := time.Until(v.Until); ahead < 30*time.Second {
		t.Fatalf("waits only %s; want the 1m backoff", ahead)
	}
	w.Model.RateLimitUntil(time.Time{}) // the limit lifts early; awo cannot know
	code, out := s.do("POST", "/api/agent-work-orders/"+id+"/retry", map[string]any{"reason": "the limit is lifted"})
	if code != 202 {
		t.Fatalf("retry while waiting: %d %s", code, out)
	}
	wo := s.waitFinished(id, 30*time.Second)
	if wo.Status != "completed" || time.Now().After(v.Until) {
		t.Fatalf("status %s, error %q (the wait was until %s)", wo.Status, deref(wo.ErrorMessage), v.Until)
	}
	if got := summarize(s.attempts(id)); got != "create-branch#1:true" {
		t.Errorf("steps %s", got)
	}
}
