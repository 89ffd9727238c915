package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/natsembed"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// service is one service process of a stack started by startService.
// An executor told to stop in the middle of a long step lets it run for
// AWO_SHUTDOWN_GRACE, then kills the agent's whole process tree, hands the
// command back and exits cleanly; another executor runs the step again and
// the work order completes. Both executors share one
// AGENT_WORK_ORDER_TEMP_DIR, as replicas on one machine do, so the second
// finds the first one's worktree.
func TestShutdown_ExecutorStoppedMidStep_AnotherExecutorFinishesTheWorkOrder(t *testing.T) {
	// Mostly waiting for a killed process's step to be redelivered: it runs
	// beside the other waiting tests.
	t.Parallel()
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	const branch = "feat/add-greeting"
	const grace = 3 * time.Second
	// The first run of execute is a tool call that takes a minute, far
	// longer than the grace; a run after it finds the marker and is quick.
	marker := filepath.Join(t.TempDir(), "execute-ran-once")
	slowOnce := fm.Bash(fmt.Sprintf("if [ ! -e %[1]s ]; then touch %[1]s; sleep 60; fi; printf 'hello, world\\n' > greeting.txt", marker),
		"implement the plan")
	w := newWorld(t, createBranch(branch), execute(slowOnce), commit(branch))
	s := newStack(t, w, "AWO_SHUTDOWN_GRACE="+grace.String())
	s.env = append(s.env, "NATS_URL="+srv.ClientURL())
	gateway := s.startService("gateway")
	s.cmd, s.exited = gateway.cmd, gateway.exited
	s.startService("orchestrator")
	s.startService("github")
	// A tag unique to this run, given to the executor and passed on to its
	// agent through AWO_AGENT_ENV (the agent gets no AWO_* variable): other
	// tests on the machine may run executors too, and the tag finds this
	// one's processes.
	run := fmt.Sprintf("shutdown-%d", time.Now().UnixNano())
	firstEnv := "E2E_PROCESS_TAG=" + run + "-executor-1"
	first := s.startService("executor", firstEnv, "AWO_AGENT_ENV=E2E_PROCESS_TAG", "AWO_WORKER_ID="+run+"-executor-1")
	s.waitHealthy()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit"}})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the execute step never started; work order %+v", s.get(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := s.startService("executor", "AWO_WORKER_ID="+run+"-executor-2")
	if n := len(processesWithEnv(firstEnv)); n < 2 {
		t.Fatalf("%d processes of the first executor, want it and its agent", n)
	}

	took, err := first.terminate(grace + 15*time.Second)
	if err != nil {
		t.Fatalf("first executor: %v", err)
	}
	// The step was given its grace (it never finishes by itself), and the
	// agent was stopped promptly after it: SIGTERM, then SIGKILL after the
	// runner's 5s.
	if took < grace || took > grace+10*time.Second {
		t.Errorf("the first executor took %s to exit; want between the grace (%s) and a few seconds more", took, grace)
	}
	// No agent, tool or sleep of the first executor outlives it.
	waitNoProcessWithEnv(t, firstEnv, 3*time.Second)

	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}
	var done []string
	for _, st := range s.steps(id) {
		if st.Success {
			done = append(done, st.Step)
		}
	}
	if strings.Join(done, ",") != "create-branch,execute,commit" {
		t.Errorf("successful steps %v", done)
	}
	log, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	ranOnSecond := regexp.MustCompile(`msg="step started".*step=execute.*worker=` + run + `-executor-2`)
	if !ranOnSecond.Match(log) {
		t.Error("the log does not show the second executor starting the execute step")
	}
	if _, err := second.terminate(30 * time.Second); err != nil {
		t.Errorf("second executor: %v", err)
	}
}
