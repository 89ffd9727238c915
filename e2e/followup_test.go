package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// rounds is the step history as step#attempt@round:success.
func rounds(steps []attemptStep) []string {
	var got []string
	for _, st := range steps {
		got = append(got, fmt.Sprintf("%s#%d@%d:%t", st.Step, st.Attempt, st.Round, st.Success))
	}
	return got
}

// A work order completes with a pull request; a follow-up prompt then
// resumes the last agent session (the commit step's: its conversation goes
// on at turn 2 with the prompt), the agent changes the branch, the round's
// commit pushes a second commit to the same branch, and comment-pr comments
// on the same pull request. gh pr create runs once in all.
//
// Needs the executor's follow-up step and the github service's comment-pr
// (the other half of issue 12).
func TestFollowUp_ResumesTheSessionAndUpdatesTheSamePR(t *testing.T) {
	const branch = "feat/add-greeting"
	const prompt = "Also handle the empty case"
	// The commit rule answers its own conversation (turns 0-1) and, when
	// that session is resumed with the follow-up prompt, goes on (turns 2-3).
	commitThenFollowUp := fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("git add -A && git commit -m 'feat: add greeting' && git push -u origin "+branch, "commit and push"),
		fm.Text("feat: add greeting"),
		fm.Bash("printf 'empty input prints nothing\\n' > empty-case.txt", "handle the empty case"),
		fm.Text("Handled the empty case in empty-case.txt."),
	}}
	w := newWorld(t, createBranch(branch), execute(writeGreeting), commitThenFollowUp)
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit", "create-pr"}})
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" || !strings.Contains(deref(wo.PRURL), "/pull/") {
		t.Fatalf("first run: status %s, PR %q, error %q", wo.Status, deref(wo.PRURL), deref(wo.ErrorMessage))
	}
	firstSession := deref(wo.AgentSessionID)
	commitsBefore := w.Origin.CommitCount(t, branch)

	code, out := s.do("POST", "/api/agent-work-orders/"+id+"/prompt", map[string]any{"prompt_text": prompt})
	if code != http.StatusAccepted || !strings.Contains(string(out), `"status":"running"`) {
		t.Fatalf("prompt: %d %s", code, out)
	}
	wo = s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" || wo.ErrorMessage != nil {
		t.Fatalf("after the follow-up: status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}

	want := []string{"create-branch#1@1:true", "execute#1@1:true", "commit#1@1:true", "create-pr#1@1:true",
		"follow-up#1@2:true", "commit#2@2:true", "comment-pr#1@2:true"}
	if got := rounds(s.attempts(id)); !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	// The commit session went on with the prompt: only --resume of the
	// session the first run recorded sends its history back.
	resumed := false
	for _, r := range w.Model.Conversation("commit") {
		resumed = resumed || r.Turn >= 2
	}
	if !resumed || firstSession == "" {
		t.Errorf("the follow-up did not resume the first run's session %q (commit conversation: %+v)", firstSession, w.Model.Conversation("commit"))
	}
	if content, ok := w.Origin.File(t, branch, "empty-case.txt"); !ok || content != "empty input prints nothing\n" {
		t.Errorf("origin %s:empty-case.txt = %q, %v", branch, content, ok)
	}
	if n := w.Origin.CommitCount(t, branch); n != commitsBefore+1 {
		t.Errorf("%s has %d commits, want %d: one more on the same branch", branch, n, commitsBefore+1)
	}
	if prs := w.GH.PRs(t); len(prs) != 1 || prs[0].Head != branch {
		t.Errorf("PRs opened: %+v, want the first one only", prs)
	}
	comments := 0
	for _, c := range w.GH.Calls(t) {
		if len(c.Args) >= 2 && c.Args[0] == "pr" && c.Args[1] == "comment" {
			comments++
		}
	}
	if comments != 1 {
		t.Errorf("gh pr comment ran %d times, want once", comments)
	}
	s.stop()
}
