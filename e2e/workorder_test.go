package e2e

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
)

const repoURL = "https://github.com/acme/demo"

// The rules match the headings of the embedded step prompts.
func createBranch(branch string) fm.Rule {
	return fm.Rule{Name: "create-branch", Prompt: "# Create a working branch", Turns: []fm.Turn{
		fm.Bash("git checkout -b "+branch, "create the branch"),
		fm.Text(branch),
	}}
}

func planning() fm.Rule {
	return fm.Rule{Name: "planning", Prompt: "# Plan the change", Turns: []fm.Turn{
		fm.Bash(`mkdir -p PRPs/features && printf '# Plan\n\n1. Add greeting.txt saying hello.\n' > PRPs/features/add-greeting.md`, "write the plan"),
		fm.Text("PRPs/features/add-greeting.md"),
	}}
}

func execute(first fm.Turn) fm.Rule {
	return fm.Rule{Name: "execute", Prompt: "# Implement the plan", Turns: []fm.Turn{
		first,
		fm.Text("Added greeting.txt as the plan asks."),
	}}
}

func review() fm.Rule {
	return fm.Rule{Name: "prp-review", Prompt: "# Review the implementation", Turns: []fm.Turn{
		fm.Text("Reviewed: greeting.txt matches the plan. No issues."),
	}}
}

func commit(branch string) fm.Rule {
	return fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("git add -A && git commit -m 'feat: add greeting' && git push -u origin "+branch, "commit and push"),
		fm.Text("feat: add greeting"),
	}}
}

var writeGreeting = fm.Bash("printf 'hello, world\\n' > greeting.txt", "implement the plan")

func allSteps() []any {
	return []any{"create-branch", "planning", "execute", "prp-review", "commit", "create-pr"}
}

// The happy path runs with each read store; with Postgres the rows must be
// in the Python service's tables too.
func TestWorkOrder_AllSixSteps_BranchPushedAndPROpened(t *testing.T) {
	t.Run("memory", func(t *testing.T) { allSixSteps(t, "") })
	t.Run("postgres", func(t *testing.T) { allSixSteps(t, pgtest.New(t).URL) })
}

func allSixSteps(t *testing.T, databaseURL string) {
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning(), execute(writeGreeting), review(), commit(branch))
	var extra []string
	if databaseURL != "" {
		extra = []string{"STATE_STORAGE_TYPE=postgres", "DATABASE_URL=" + databaseURL}
	}
	s := newStack(t, w, extra...)
	s.start()

	id := s.create(map[string]any{
		"repository_url": repoURL, "sandbox_type": "git_worktree",
		"user_request": "Add a greeting file", "selected_commands": allSteps(),
	})
	// Read-your-writes: the work order is there right after the POST.
	if wo := s.get(id); wo.ID != id {
		t.Fatalf("GET right after POST: %+v", wo)
	}
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if deref(wo.Branch) != branch || !strings.HasPrefix(deref(wo.PRURL), "https://github.com/acme/demo/pull/") {
		t.Errorf("branch %q, PR %q", deref(wo.Branch), deref(wo.PRURL))
	}
	if wo.CommitCount != 1 || wo.FilesChanged != 2 || deref(wo.AgentSessionID) == "" {
		t.Errorf("commits %d, files %d, session %q", wo.CommitCount, wo.FilesChanged, deref(wo.AgentSessionID))
	}

	steps := s.steps(id)
	wantSteps := []string{"create-branch", "planning", "execute", "prp-review", "commit", "create-pr"}
	wantAgents := []string{"BranchCreator", "Planner", "Implementor", "Reviewer", "Committer", "PrCreator"}
	if len(steps) != len(wantSteps) {
		t.Fatalf("steps %+v", steps)
	}
	for i, st := range steps {
		if st.Step != wantSteps[i] || st.AgentName != wantAgents[i] || !st.Success {
			t.Errorf("step %d = %+v, want successful %s by %s", i, st, wantSteps[i], wantAgents[i])
		}
		if i < 5 && deref(st.SessionID) == "" {
			t.Errorf("step %s has no session id", st.Step)
		}
	}
	if got := deref(steps[1].Output); got != "PRPs/features/add-greeting.md" {
		t.Errorf("planning output %q", got)
	}

	// The branch really is in origin with the agent's work.
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}
	prs := w.GH.PRs(t)
	if len(prs) != 1 || prs[0].Head != branch || prs[0].Base != "main" || prs[0].Repo != "acme/demo" ||
		!strings.HasPrefix(prs[0].Title, "feat: ") || !strings.Contains(prs[0].Body, "feat: add greeting") {
		t.Errorf("PRs opened: %+v", prs)
	}
	// The execute step got the plan file the planner wrote.
	if conv := w.Model.Conversation("execute"); len(conv) == 0 || !strings.Contains(conv[0].Prompt, "PRPs/features/add-greeting.md") {
		t.Errorf("execute prompt did not carry the plan path")
	}
	if databaseURL != "" {
		want := seedRow{Status: "completed", Branch: branch, Steps: []string{"create-branch:true", "planning:true",
			"execute:true", "prp-review:true", "commit:true", "create-pr:true"}}
		if got := readSeedTables(t, databaseURL, id); !reflect.DeepEqual(got, want) {
			t.Errorf("seed tables: %+v, want %+v", got, want)
		}
	}
	s.stop()
}

// An issue mentioned in the request is read with gh and given to the
// planner; the git_branch sandbox (a full clone) works like the worktree.
func TestWorkOrder_IssueMention_IssueGoesToPlanning_InABranchSandbox(t *testing.T) {
	const branch = "fix/login-email-case"
	issue := events.Issue{Number: 42, Title: "Login fails with an upper-case email", Body: "Steps: sign in as Bob@Example.com."}
	w := newWorldWithGH(t, fakegh.Options{Issues: []events.Issue{issue}}, createBranch(branch), planning())
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "sandbox_type": "branch",
		"user_request": "Fix the login bug from issue #42", "selected_commands": []string{"create-branch", "planning"}})
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" || deref(wo.IssueNumber) != "42" || deref(wo.Branch) != branch {
		t.Fatalf("work order %+v, error %q", wo, deref(wo.ErrorMessage))
	}
	plan := w.Model.Conversation("planning")
	if len(plan) == 0 || !strings.Contains(plan[0].Prompt, issue.Title) || !strings.Contains(plan[0].Prompt, issue.Body) {
		t.Fatalf("the planner did not get the issue: %+v", plan)
	}
	viewed := false
	for _, c := range w.GH.Calls(t) {
		if len(c.Args) >= 3 && c.Args[0] == "issue" && c.Args[1] == "view" && c.Args[2] == "42" {
			viewed = true
		}
	}
	if !viewed {
		t.Errorf("gh issue view 42 never ran: %+v", w.GH.Calls(t))
	}
	// The internal issue lookup is not a step of the history.
	if steps := s.steps(id); len(steps) != 2 || steps[0].Step != "create-branch" || steps[1].Step != "planning" {
		t.Errorf("steps %+v", steps)
	}
}

func TestWorkOrder_StepFails_PipelineStopsThere(t *testing.T) {
	w := newWorld(t, createBranch("feat/x"),
		fm.Rule{Name: "planning", Prompt: "# Plan the change", Turns: []fm.Turn{fm.Error(400, "prompt rejected by policy")}},
		execute(writeGreeting))
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Do something",
		"selected_commands": []string{"create-branch", "planning", "execute", "commit"}})
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "failed" || !strings.Contains(deref(wo.ErrorMessage), "planning") ||
		!strings.Contains(deref(wo.ErrorMessage), "prompt rejected by policy") {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	steps := s.steps(id)
	if len(steps) != 2 || !steps[0].Success || steps[1].Step != "planning" || steps[1].Success ||
		!strings.Contains(deref(steps[1].ErrorMessage), "prompt rejected by policy") {
		t.Fatalf("steps %+v", steps)
	}
	if n := len(w.Model.Conversation("execute")); n != 0 {
		t.Errorf("execute ran after planning failed (%d model calls)", n)
	}
	if w.GH.PRCreates(t) != 0 {
		t.Error("a PR was opened for a failed work order")
	}
}

func TestWorkOrder_StepTimesOut_FailsWithTheReason(t *testing.T) {
	w := newWorld(t, fm.Rule{Name: "create-branch", Prompt: "# Create a working branch",
		Turns: []fm.Turn{fm.Text("feat/slow").After(5 * time.Minute)}})
	s := newStack(t, w, "AGENT_WORK_ORDER_TIMEOUT=3")
	s.start()

	start := time.Now()
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Slow one",
		"selected_commands": []string{"create-branch", "planning"}})
	wo := s.waitFinished(id, 90*time.Second)
	if wo.Status != "failed" || !strings.Contains(deref(wo.ErrorMessage), "timed out") {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("a 3s timeout took %s to fail the work order", took)
	}
	steps := s.steps(id)
	if len(steps) != 1 || steps[0].Step != "create-branch" || steps[0].Success {
		t.Fatalf("steps %+v", steps)
	}
}

func TestWorkOrder_BadInput_ClearErrorsAndNothingCreated(t *testing.T) {
	w := newWorld(t)
	s := newStack(t, w)
	s.start()

	cases := []struct {
		name string
		body any
		code int
		says string
	}{
		{"malformed JSON", `{"repository_url":`, http.StatusBadRequest, ""},
		{"empty body", `{}`, http.StatusUnprocessableEntity, "repository_url"},
		{"unknown field", map[string]any{"repository_url": repoURL, "user_request": "x", "colour": "red"}, http.StatusUnprocessableEntity, "colour"},
		{"unknown command", map[string]any{"repository_url": repoURL, "user_request": "x", "selected_commands": []string{"deploy"}}, http.StatusUnprocessableEntity, "deploy"},
		{"bad sandbox", map[string]any{"repository_url": repoURL, "user_request": "x", "sandbox_type": "e2b"}, http.StatusUnprocessableEntity, "sandbox_type"},
		{"ext transport", map[string]any{"repository_url": "ext::sh -c touch% /tmp/pwned", "user_request": "x"}, http.StatusUnprocessableEntity, "repository_url"},
		{"option injection", map[string]any{"repository_url": "--upload-pack=touch /tmp/pwned", "user_request": "x"}, http.StatusUnprocessableEntity, "repository_url"},
		{"local path not allowed", map[string]any{"repository_url": "/srv/repo", "user_request": "x"}, http.StatusUnprocessableEntity, "repository_url"},
		{"too large", `{"repository_url":"` + repoURL + `","user_request":"` + strings.Repeat("a", 2<<20) + `"}`, http.StatusRequestEntityTooLarge, ""},
	}
	for _, c := range cases {
		code, out := s.do("POST", "/api/agent-work-orders/", c.body)
		if code != c.code || !strings.Contains(string(out), `"detail"`) || !strings.Contains(string(out), c.says) {
			t.Errorf("%s: %d %s; want %d naming %q", c.name, code, truncate(string(out), 300), c.code, c.says)
		}
	}
	if code, out := s.do("GET", "/api/agent-work-orders/wo-deadbeef", nil); code != http.StatusNotFound || !strings.Contains(string(out), "detail") {
		t.Errorf("unknown id: %d %s", code, out)
	}
	if code, out := s.do("GET", "/api/agent-work-orders/", nil); code != http.StatusOK || strings.TrimSpace(string(out)) != "[]" {
		t.Errorf("list after only bad input: %d %s", code, out)
	}
	if n := len(w.Model.Requests()); n != 0 {
		t.Errorf("bad input reached the model %d times", n)
	}
}

// A crash in the middle of a step loses nothing: after a restart on the same
// data the work order is listed and runs to an end.
func TestWorkOrder_KilledMidStep_ResumesAfterRestart(t *testing.T) {
	// Mostly waiting for a killed process's step to be redelivered: it runs
	// beside the other waiting tests.
	t.Parallel()
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning(), execute(writeGreeting.After(8*time.Second)), commit(branch))
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "planning", "execute", "commit"}})
	s.waitFor(id, 2*time.Minute, "the execute step running", func(wo workOrder) bool {
		return deref(wo.CurrentPhase) == "execute" && len(w.Model.Conversation("execute")) > 0
	})
	s.kill9()
	// The agent dies with its executor instead of editing the worktree
	// behind the back of the step's next run.
	waitNoProcessWithEnv(t, "ANTHROPIC_BASE_URL="+w.Model.URL, 6*time.Second)

	s.start()
	wo := s.get(id) // still there: the read model is rebuilt from the stream
	if wo.Status != "running" {
		t.Fatalf("after restart: %+v", wo)
	}
	wo = s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}
	code, out := s.do("GET", "/api/agent-work-orders/", nil)
	if code != http.StatusOK || !strings.Contains(string(out), id) {
		t.Errorf("list after restart: %d %s", code, out)
	}
	var done []string
	for _, st := range s.steps(id) {
		if st.Success {
			done = append(done, st.Step)
		}
	}
	if strings.Join(done, ",") != "create-branch,planning,execute,commit" {
		t.Errorf("successful steps %v", done)
	}
	s.stop()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
