package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// costStep is a step record with its reported cost.
type costStep struct {
	Step    string  `json:"step"`
	Attempt int     `json:"attempt"`
	Success bool    `json:"success"`
	CostUSD float64 `json:"cost_usd"`
	Error   *string `json:"error_message"`
}

func (s *stack) costSteps(id string) []costStep {
	s.t.Helper()
	code, out := s.do("GET", "/api/agent-work-orders/"+id+"/steps", nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET steps %s: %d %s", id, code, out)
	}
	var h struct {
		Steps []costStep `json:"steps"`
	}
	if err := json.Unmarshal(out, &h); err != nil {
		s.t.Fatal(err)
	}
	return h.Steps
}

var budgetMessage = regexp.MustCompile(`budget exceeded: \$(\d+\.\d{4}) max_cost_usd, \$(\d+\.\d{4}) spent after step ([a-z-]+)`)

// budgetFailure checks that the work order failed on its budget at step and
// returns the spend its message gives, which must be the sum of the steps'
// reported costs and over the cap.
func budgetFailure(t *testing.T, s *stack, id, step string, capUSD float64) float64 {
	t.Helper()
	wo := s.waitFinished(id, 3*time.Minute)
	m := budgetMessage.FindStringSubmatch(deref(wo.ErrorMessage))
	if wo.Status != "failed" || m == nil || m[3] != step || m[1] != fmt.Sprintf("%.4f", capUSD) {
		t.Fatalf("status %s, error %q; want failed with the budget (%.4f) and step %s", wo.Status, deref(wo.ErrorMessage), capUSD, step)
	}
	spent, _ := strconv.ParseFloat(m[2], 64)
	var sum float64
	for _, st := range s.costSteps(id) {
		sum += st.CostUSD
	}
	if fmt.Sprintf("%.4f", sum) != m[2] || spent <= capUSD {
		t.Errorf("message says $%s spent; the steps report $%.6f in all; the cap is $%.4f", m[2], sum, capUSD)
	}
	return sum
}

// The Claude Code CLI gets the rest of the budget as --max-budget-usd and
// stops once over it; the step that crossed it fails the work order with
// the budget, the spend and the step, and the steps after it do not run. A
// retry with a higher max_cost_usd goes on.
func TestBudget_StepThatCrossesTheCapFailsTheWorkOrder_RetryWithMoreCompletes(t *testing.T) {
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning(), execute(writeGreeting), commit(branch))
	s := newStack(t, w)
	s.start()

	// Far below one model answer: the first step crosses it.
	const tiny = 0.0001
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []any{"create-branch", "planning", "execute", "commit"},
		"max_cost_usd":      tiny,
	})
	if wo := s.getRaw(id); wo["max_cost_usd"] != tiny {
		t.Errorf("work order shows max_cost_usd %v, want %v", wo["max_cost_usd"], tiny)
	}
	answer := budgetFailure(t, s, id, "create-branch", tiny) // one answer's cost
	if got := summarize(s.attempts(id)); got != "create-branch#1:false" {
		t.Errorf("steps %s, want only create-branch#1 failed", got)
	}
	if n := len(w.Model.Conversation("planning")); n != 0 {
		t.Errorf("planning asked the model %d times after the budget was used up", n)
	}

	// Room for create-branch's two answers but not for planning's.
	second := answer + 2.5*answer
	retry(t, s, id, second)
	budgetFailure(t, s, id, "planning", second)
	if got := summarize(s.attempts(id)); got != "create-branch#1:false,create-branch#2:true,planning#1:false" {
		t.Errorf("steps %s", got)
	}
	if n := len(w.Model.Conversation("execute")); n != 0 {
		t.Errorf("execute asked the model %d times after the budget was used up", n)
	}

	retry(t, s, id, 5)
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("after the retry with $5: status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if got := s.getRaw(id)["max_cost_usd"]; got != 5.0 {
		t.Errorf("work order shows max_cost_usd %v after the retry, want 5", got)
	}
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}
}

func retry(t *testing.T, s *stack, id string, maxCostUSD float64) {
	t.Helper()
	code, out := s.do("POST", "/api/agent-work-orders/"+id+"/retry", map[string]any{"max_cost_usd": maxCostUSD})
	if code != http.StatusAccepted {
		t.Fatalf("retry with max_cost_usd %v: %d %s", maxCostUSD, code, out)
	}
}

func (s *stack) getRaw(id string) map[string]any {
	s.t.Helper()
	code, out := s.do("GET", "/api/agent-work-orders/"+id, nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", id, code, out)
	}
	var wo map[string]any
	if err := json.Unmarshal(out, &wo); err != nil {
		s.t.Fatal(err)
	}
	return wo
}
