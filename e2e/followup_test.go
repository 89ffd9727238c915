package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/natsembed"
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

const (
	followUpBranch = "feat/add-greeting"
	followUpPrompt = "Also handle the empty case"
)

// executeThenFollowUp answers the execute step's conversation (turns 0-1)
// and, when that session (the Implementor's, which a follow-up round
// resumes) is resumed with the follow-up prompt, goes on: the change (turn
// 2, held back resumedDelay), the change again (turn 3: a session resumed
// after its executor died mid-turn holds one more assistant message, the
// CLI's stand-in for the interrupted turn, so its next request is turn 3;
// writing the file twice is harmless), then the summary.
func executeThenFollowUp(resumedDelay time.Duration) fm.Rule {
	return fm.Rule{Name: "execute", Prompt: "# Implement the plan", Turns: []fm.Turn{
		writeGreeting,
		fm.Text("Added greeting.txt as the plan asks."),
		handleEmptyCase.After(resumedDelay),
		handleEmptyCase,
		fm.Text("Handled the empty case in empty-case.txt."),
	}}
}

// commitAndPush answers every commit step: the first run's, and the
// round's in a session of its own.
func commitAndPush() fm.Rule {
	return fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("git add -A && git commit -m 'feat: add greeting' && git push -u origin "+followUpBranch, "commit and push"),
		fm.Text("feat: add greeting"),
	}}
}

var handleEmptyCase = fm.Bash("printf 'empty input prints nothing\\n' > empty-case.txt", "handle the empty case")

// checkRound checks what a follow-up round left: both rounds in /steps,
// the change pushed as one more commit on the same branch, one pull
// request, one comment on it.
func checkRound(t *testing.T, s *stack, w *world, id string, commitsBefore int) {
	t.Helper()
	want := []string{"create-branch#1@1:true", "execute#1@1:true", "commit#1@1:true", "create-pr#1@1:true",
		"follow-up#1@2:true", "commit#2@2:true", "comment-pr#1@2:true"}
	if got := rounds(s.attempts(id)); !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	if content, ok := w.Origin.File(t, followUpBranch, "empty-case.txt"); !ok || content != "empty input prints nothing\n" {
		t.Errorf("origin %s:empty-case.txt = %q, %v", followUpBranch, content, ok)
	}
	if n := w.Origin.CommitCount(t, followUpBranch); n != commitsBefore+1 {
		t.Errorf("%s has %d commits, want %d: one more on the same branch", followUpBranch, n, commitsBefore+1)
	}
	if prs := w.GH.PRs(t); len(prs) != 1 || prs[0].Head != followUpBranch {
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
}

// firstRunThenPrompt runs the work order to its pull request and sends the
// follow-up prompt; it returns the work order and the branch's commits
// before the round.
func firstRunThenPrompt(t *testing.T, s *stack, w *world) (workOrder, int) {
	t.Helper()
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit", "create-pr"}})
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" || !strings.Contains(deref(wo.PRURL), "/pull/") {
		t.Fatalf("first run: status %s, PR %q, error %q", wo.Status, deref(wo.PRURL), deref(wo.ErrorMessage))
	}
	commits := w.Origin.CommitCount(t, followUpBranch)
	code, out := s.do("POST", "/api/agent-work-orders/"+id+"/prompt", map[string]any{"prompt_text": followUpPrompt})
	if code != http.StatusAccepted || !strings.Contains(string(out), `"status":"running"`) {
		t.Fatalf("prompt: %d %s", code, out)
	}
	return wo, commits
}

// resumed reports whether the execute step's session went on with the
// follow-up prompt: only --resume of that session sends its history back.
func resumed(w *world) bool {
	for _, r := range w.Model.Conversation("execute") {
		if r.Turn >= 2 {
			return true
		}
	}
	return false
}

// A work order completes with a pull request; a follow-up prompt then
// resumes the Implementor's session (the execute step's: its conversation
// goes on at turn 2 with the prompt), the agent changes the branch, the round's
// commit pushes a second commit to the same branch, and comment-pr comments
// on the same pull request. gh pr create runs once in all.
//
// Needs the executor's follow-up step and the github service's comment-pr
// (the other half of issue 12).
func TestFollowUp_ResumesTheSessionAndUpdatesTheSamePR(t *testing.T) {
	w := newWorld(t, createBranch(followUpBranch), executeThenFollowUp(0), commitAndPush())
	s := newStack(t, w)
	s.start()

	wo, commits := firstRunThenPrompt(t, s, w)
	if deref(wo.AgentSessionID) == "" {
		t.Fatal("the first run recorded no agent session")
	}
	wo = s.waitFinished(wo.ID, 3*time.Minute)
	if wo.Status != "completed" || wo.ErrorMessage != nil {
		t.Fatalf("after the follow-up: status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if !resumed(w) {
		t.Errorf("the follow-up did not resume the first run's session (execute conversation: %+v)", w.Model.Conversation("execute"))
	}
	// The CLI keeps a resumed session's id: the follow-up reports the id the
	// first round's execute step recorded.
	sessions := map[string]string{}
	for _, st := range s.attempts(wo.ID) {
		sessions[st.Step] = deref(st.SessionID)
	}
	if sessions["execute"] == "" || sessions["follow-up"] != sessions["execute"] {
		t.Errorf("follow-up ran in session %q, want the execute step's %q", sessions["follow-up"], sessions["execute"])
	}
	checkRound(t, s, w, wo.ID, commits)
	s.stop()
}

// The executor running a follow-up round is SIGKILLed mid-step: another
// executor, sharing only NATS, restores the sandbox from the checkpoint,
// catches up with the branch as pushed, runs the follow-up (in a fresh
// session when the first one's cannot be resumed there) and finishes the
// round.
func TestFollowUp_ExecutorKilledMidStep_AnotherExecutorFinishesTheRound(t *testing.T) {
	// Mostly waiting for a killed process's step to be redelivered: it runs
	// beside the other waiting tests.
	t.Parallel()
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	// Should executor B fail to resume the session, a fresh one gets the
	// follow-up prompt.
	fresh := fm.Rule{Name: "follow-up", Prompt: "# Follow up on a review", Turns: []fm.Turn{
		handleEmptyCase, fm.Text("Handled the empty case in empty-case.txt."),
	}}
	// Resumed on executor A, the follow-up takes 8 s: long enough to kill A.
	w := newWorld(t, createBranch(followUpBranch), executeThenFollowUp(8*time.Second), commitAndPush(), fresh)
	s := newStack(t, w, "NATS_URL="+srv.ClientURL())
	gateway := s.startService("gateway")
	s.cmd, s.exited = gateway.cmd, gateway.exited
	s.startService("orchestrator")
	s.startService("github")
	s.waitHealthy()
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	tagA := fmt.Sprintf("E2E_PROCESS_TAG=followup-%d-executor-a", time.Now().UnixNano())
	executorA := s.startService("executor", "AGENT_WORK_ORDER_TEMP_DIR="+dirA, "AWO_WORKER_ID=executor-a", tagA, "AWO_AGENT_ENV=E2E_PROCESS_TAG")

	wo, commits := firstRunThenPrompt(t, s, w)
	s.waitFor(wo.ID, 2*time.Minute, "the follow-up step running", func(wo workOrder) bool {
		return deref(wo.CurrentPhase) == "follow-up" && resumed(w)
	})
	s.startService("executor", "AGENT_WORK_ORDER_TEMP_DIR="+dirB, "AWO_WORKER_ID=executor-b")
	executorA.kill()
	waitNoProcessWithEnv(t, tagA, 6*time.Second)

	wo = s.waitFinished(wo.ID, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("after the follow-up: status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	checkRound(t, s, w, wo.ID, commits)
	if trees, _ := filepath.Glob(filepath.Join(dirB, "repos", "*", "trees", "sandbox-"+wo.ID)); len(trees) != 1 {
		t.Errorf("no sandbox of %s under executor b's directory %s", wo.ID, dirB)
	}
	// B took the interrupted follow-up over and restored its sandbox in
	// its own directory.
	log, _ := os.ReadFile(s.logPath)
	tookOver, restored := false, false
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "step=follow-up") && strings.Contains(line, `msg="step started"`) && strings.Contains(line, "worker=executor-b") {
			tookOver = true
		}
		if strings.Contains(line, `msg="sandbox restored from checkpoint"`) && strings.Contains(line, dirB) {
			restored = true
		}
	}
	if !tookOver || !restored {
		t.Errorf("the log does not show executor b taking the follow-up over (%t) and restoring its sandbox (%t)", tookOver, restored)
	}
}
