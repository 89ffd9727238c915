package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/natsembed"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// Executors on different machines share only NATS: when the one running a
// step dies, another restores the sandbox from the last checkpoint (the
// plan file planning left uncommitted, the branch create-branch made) and
// finishes the work order.
func TestCheckpoint_ExecutorKilledMidStep_AnotherExecutorRestoresTheSandbox(t *testing.T) {
	// Mostly waiting for a killed process's step to be redelivered: it runs
	// beside the other waiting tests.
	t.Parallel()
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	const branch = "feat/add-greeting"
	// execute only writes the greeting when the plan is there, as a real
	// implementor would not implement a plan it cannot read.
	implement := fm.Rule{Name: "execute", Prompt: "# Implement the plan", Turns: []fm.Turn{
		fm.Bash("test -f PRPs/features/add-greeting.md && printf 'hello, world\\n' > greeting.txt", "implement the plan").After(8 * time.Second),
		fm.Text("Added greeting.txt as the plan asks."),
	}}
	w := newWorld(t, createBranch(branch), planning(), implement, commit(branch))
	s := newStack(t, w, "NATS_URL="+srv.ClientURL())
	gateway := s.startService("gateway")
	s.cmd, s.exited = gateway.cmd, gateway.exited
	s.startService("orchestrator")
	s.startService("github")
	s.waitHealthy()
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	// The tag goes on to executor A's agent (AWO_AGENT_ENV), so the check
	// below sees the agent too.
	tagA := fmt.Sprintf("E2E_PROCESS_TAG=checkpoint-%d-executor-a", time.Now().UnixNano())
	executorA := s.startService("executor", "AGENT_WORK_ORDER_TEMP_DIR="+dirA, "AWO_WORKER_ID=executor-a", tagA, "AWO_AGENT_ENV=E2E_PROCESS_TAG")

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "planning", "execute", "commit"}})
	s.waitFor(id, 2*time.Minute, "the execute step running", func(wo workOrder) bool {
		return deref(wo.CurrentPhase) == "execute" && len(w.Model.Conversation("execute")) > 0
	})
	// The second executor shares no directory with the first.
	s.startService("executor", "AGENT_WORK_ORDER_TEMP_DIR="+dirB, "AWO_WORKER_ID=executor-b")
	if n := len(processesWithEnv(tagA)); n < 2 {
		t.Fatalf("%d processes of executor A, want it and its agent", n)
	}
	executorA.kill()
	// Its agent dies with it instead of finishing the step behind B's back.
	waitNoProcessWithEnv(t, tagA, 6*time.Second)

	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}
	if content, ok := w.Origin.File(t, branch, "PRPs/features/add-greeting.md"); !ok || !strings.HasPrefix(content, "# Plan") {
		t.Errorf("origin %s:PRPs/features/add-greeting.md = %q, %v: the plan did not travel with the sandbox", branch, content, ok)
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
	// B did the rest in its own directory, from the checkpoint.
	if trees, _ := filepath.Glob(filepath.Join(dirB, "repos", "*", "trees", "sandbox-"+id)); len(trees) != 1 {
		t.Errorf("no sandbox of %s under executor b's directory %s", id, dirB)
	}
	log, _ := os.ReadFile(s.logPath)
	if !strings.Contains(string(log), "sandbox restored from its checkpoint") {
		t.Error("the log does not say the sandbox was restored from its checkpoint")
	}
}
