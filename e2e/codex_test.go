package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	fr "github.com/agentworkorders/awo/pkg/testkit/fakeresponses"
)

// The codex conversations of the six steps, matched on the headings of the
// embedded step prompts as the Claude ones are; each tool call is a real
// shell command codex runs in the work order's sandbox.
func codexSteps(branch string) []fr.Rule {
	return []fr.Rule{
		{Name: "create-branch", Prompt: "# Create a working branch", Turns: []fr.Turn{
			fr.Shell("git checkout -b " + branch), fr.Text(branch)}},
		{Name: "planning", Prompt: "# Plan the change", Turns: []fr.Turn{
			fr.Shell(`mkdir -p PRPs/features && printf '# Plan\n\n1. Add greeting.txt saying hello.\n' > PRPs/features/add-greeting.md`),
			fr.Text("PRPs/features/add-greeting.md")}},
		{Name: "execute", Prompt: "# Implement the plan", Turns: []fr.Turn{
			fr.Shell(`printf 'hello, world\n' > greeting.txt`), fr.Text("Added greeting.txt as the plan asks.")}},
		{Name: "prp-review", Prompt: "# Review the implementation", Turns: []fr.Turn{
			fr.Text("Reviewed: greeting.txt matches the plan. No issues.")}},
		{Name: "commit", Prompt: "# Commit and push", Turns: []fr.Turn{
			fr.Shell("git add -A && git commit -m 'feat: add greeting' && git push -u origin " + branch),
			fr.Text("feat: add greeting")}},
	}
}

// codexStack is a stack whose executor runs codex, the real CLI from npm,
// against a scripted Responses API; the Claude model fake has no rules:
// a step Claude ran would fail.
func codexStack(t *testing.T, rules []fr.Rule, extra ...string) (*stack, *world, *fr.Server) {
	t.Helper()
	api := fr.New(t, rules...)
	w := newWorld(t)
	env := append([]string{
		"CODEX_CLI_PATH=" + fr.CodexPath(t), "CODEX_MODEL=" + fr.Model, "OPENAI_API_KEY=" + fr.APIKey,
		"CODEX_HOME=" + api.Home(t),
	}, extra...)
	s := newStack(t, w, env...)
	s.start()
	return s, w, api
}

// A work order with "agent": "codex" runs its six steps through the real
// Codex CLI: a branch, a plan, the change, a review, a commit pushed to
// origin and a PR, with codex's sessions, tokens, and a null cost (no
// price configured).
func TestCodex_AllSixSteps_BranchPushedAndPROpened(t *testing.T) {
	const branch = "feat/add-greeting"
	s, w, api := codexStack(t, codexSteps(branch))
	id := s.create(map[string]any{
		"repository_url": repoURL, "user_request": "Add a greeting file", "selected_commands": allSteps(), "agent": "codex",
	})
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if deref(wo.Branch) != branch || !strings.HasPrefix(deref(wo.PRURL), "https://github.com/acme/demo/pull/") ||
		wo.CommitCount != 1 || deref(wo.AgentSessionID) == "" {
		t.Errorf("branch %q, PR %q, commits %d, session %q", deref(wo.Branch), deref(wo.PRURL), wo.CommitCount, deref(wo.AgentSessionID))
	}
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}
	if prs := w.GH.PRs(t); len(prs) != 1 || prs[0].Head != branch || !strings.Contains(prs[0].Body, "feat: add greeting") {
		t.Errorf("PRs opened: %+v", prs)
	}
	steps := s.steps(id)
	if len(steps) != 6 {
		t.Fatalf("steps %+v", steps)
	}
	for i, st := range steps[:5] {
		if !st.Success || deref(st.SessionID) == "" {
			t.Errorf("step %d %s: success %t session %q", i, st.Step, st.Success, deref(st.SessionID))
		}
	}
	if got := deref(steps[1].Output); got != "PRPs/features/add-greeting.md" {
		t.Errorf("planning output %q", got)
	}
	// Codex, not Claude, answered every step, and the execute step got the
	// plan's path in its prompt.
	if n := len(w.Model.Requests()); n != 0 {
		t.Errorf("the Claude model fake got %d requests", n)
	}
	if conv := api.Conversation("execute"); len(conv) == 0 || !strings.Contains(conv[0].Prompt, "PRPs/features/add-greeting.md") {
		t.Errorf("execute prompt did not carry the plan path")
	}
	raw := s.getRaw(id)
	if raw["agent"] != "codex" || raw["cost_usd"] != nil || raw["input_tokens"].(float64) <= 0 || raw["output_tokens"].(float64) <= 0 {
		t.Errorf("work order agent %v, cost_usd %v, tokens %v/%v; want codex, null and tokens",
			raw["agent"], raw["cost_usd"], raw["input_tokens"], raw["output_tokens"])
	}
	s.stop()
}

// What codex does shows in the live log as Claude's does: its session
// start, each shell command as a tool call with its result, its text, and
// the run's end with tokens and an unknown cost; the step history shows
// tokens and cost_usd null. With a price (AWO_PRICES) the cost is known.
func TestCodex_LiveLogTokensAndCost(t *testing.T) {
	const branch = "feat/codex-logs"
	for _, tc := range []struct {
		name   string
		extra  []string
		priced bool
	}{
		{"no price", nil, false},
		{"priced", []string{"AWO_PRICES=" + fr.Model + "=2:10:1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := codexStack(t, codexSteps(branch)[:1], tc.extra...)
			id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Branch", "selected_commands": []any{"create-branch"}, "agent": "codex"})
			if wo := s.waitFinished(id, 2*time.Minute); wo.Status != "completed" {
				t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
			}
			code, body := s.do("GET", "/api/agent-work-orders/"+id+"/logs?step=create-branch&limit=1000", nil)
			var page struct {
				Entries []liveEntry `json:"log_entries"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &page) != nil {
				t.Fatalf("GET logs: %d %s", code, body)
			}
			var events []string
			var call, result liveEntry
			for _, e := range page.Entries {
				events = append(events, e.Event)
				switch e.Event {
				case "tool_call":
					call = e
				case "result":
					result = e
				}
			}
			for _, want := range []string{"session_started", "tool_call", "tool_result", "assistant_text", "result"} {
				if !strings.Contains(strings.Join(events, " "), want) {
					t.Errorf("no %s entry in %v", want, events)
				}
			}
			if call.Tool != "shell" || !strings.Contains(call.InputSummary, "git checkout -b "+branch) {
				t.Errorf("tool call entry %+v", call)
			}
			if tc.priced != (result.CostUSD != nil) || (!tc.priced && !strings.Contains(result.Message, "cost unknown")) {
				t.Errorf("result entry %+v (priced %t)", result, tc.priced)
			}
			code, body = s.do("GET", "/api/agent-work-orders/"+id+"/steps", nil)
			var hist struct {
				Steps []map[string]any `json:"steps"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &hist) != nil || len(hist.Steps) != 1 {
				t.Fatalf("steps: %d %s", code, body)
			}
			st := hist.Steps[0]
			// Two model calls: fakeresponses reports 100 in and 20 out each.
			if st["input_tokens"] != float64(2*fr.InputTokens) || st["output_tokens"] != float64(2*fr.OutputTokens) {
				t.Errorf("step tokens %v/%v", st["input_tokens"], st["output_tokens"])
			}
			wantCost := (2*(fr.InputTokens-fr.CachedInputTokens)*2.0 + 2*fr.CachedInputTokens*1.0 + 2*fr.OutputTokens*10.0) / 1e6
			if tc.priced && st["cost_usd"] != wantCost || !tc.priced && st["cost_usd"] != nil {
				t.Errorf("step cost_usd %v, want %v (priced %t)", st["cost_usd"], wantCost, tc.priced)
			}
			s.stop()
		})
	}
}

// A follow-up prompt on a codex work order resumes the Implementor's codex
// session (`codex exec resume <thread_id>`): the execute conversation goes
// on at turn 2 with the prompt, and the round's change is pushed and
// commented like Claude's.
func TestCodex_FollowUp_ResumesTheSession(t *testing.T) {
	rules := []fr.Rule{
		codexSteps(followUpBranch)[0],
		{Name: "execute", Prompt: "# Implement the plan", Turns: []fr.Turn{
			fr.Shell(`printf 'hello, world\n' > greeting.txt`), fr.Text("Added greeting.txt as the plan asks."),
			fr.Shell(`printf 'empty input prints nothing\n' > empty-case.txt`), fr.Text("Handled the empty case in empty-case.txt."),
		}},
		codexSteps(followUpBranch)[4],
	}
	s, w, api := codexStack(t, rules)
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file", "agent": "codex",
		"selected_commands": []string{"create-branch", "execute", "commit", "create-pr"}})
	if wo := s.waitFinished(id, 3*time.Minute); wo.Status != "completed" || !strings.Contains(deref(wo.PRURL), "/pull/") {
		t.Fatalf("first run: status %s, PR %q, error %q", wo.Status, deref(wo.PRURL), deref(wo.ErrorMessage))
	}
	commits := w.Origin.CommitCount(t, followUpBranch)
	if code, out := s.do("POST", "/api/agent-work-orders/"+id+"/prompt", map[string]any{"prompt_text": followUpPrompt}); code != http.StatusAccepted {
		t.Fatalf("prompt: %d %s", code, out)
	}
	if wo := s.waitFinished(id, 3*time.Minute); wo.Status != "completed" {
		t.Fatalf("round 2: status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	checkRound(t, s, w, id, commits)
	conv := api.Conversation("execute")
	if len(conv) != 4 || conv[2].Turn != 2 || !strings.Contains(conv[2].LatestPrompt, followUpPrompt) {
		t.Errorf("the execute session was not resumed with the prompt: %d requests", len(conv))
	}
	s.stop()
}

// A codex work order whose account hits its usage limit waits until the
// reset codex prints (the minute after "Try again at 4:28 AM"), then runs
// the step again in the session the limit interrupted and completes; no
// step failed on the way.
func TestCodex_UsageLimit_WaitsForTheResetThenCompletes(t *testing.T) {
	// Mostly waiting for a limit to lift: it runs beside the other waiting tests.
	t.Parallel()
	const branch = "feat/codex-limited"
	rules := codexSteps(branch)[:1]
	// Room for a loaded machine's CLI start before the first request.
	until := time.Now().Add(8 * time.Second)
	rules[0].Turns[0] = rules[0].Turns[0].LimitedUntil(until)
	s, _, api := codexStack(t, rules, limitEnv...)
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Branch", "agent": "codex",
		"selected_commands": []any{"create-branch"}})
	deadline := time.Now().Add(time.Minute)
	var v waitingView
	for ok := false; !ok && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		v, ok = s.waiting(id)
	}
	// Codex gave the reset's minute: the wait ends at the minute's end, not
	// at awo's 2-4 s backoff.
	if v.Status != "running" || !strings.Contains(v.Phase, "Codex") || v.Until.Before(until) || v.Until.After(until.Add(61*time.Second)) {
		t.Fatalf("wait %+v, want running, naming Codex, until within the minute after %s", v, until)
	}
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" || deref(wo.Branch) != branch {
		t.Fatalf("status %s, branch %q, error %q", wo.Status, deref(wo.Branch), deref(wo.ErrorMessage))
	}
	if got := summarize(s.attempts(id)); got != "create-branch#1:true" {
		t.Errorf("steps %s, want create-branch once, succeeded", got)
	}
	limitedN, resumed := 0, false
	for _, r := range api.Conversation("create-branch") {
		if strings.Contains(r.Answer, "usage_limit_reached") {
			limitedN++
		}
		resumed = resumed || strings.Contains(r.LatestPrompt, "Again, after a wait")
	}
	if limitedN == 0 || !resumed {
		t.Errorf("429 answers %d, resumed with the note %t", limitedN, resumed)
	}
	s.stop()
}
