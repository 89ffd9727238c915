//go:build knownbugs

package e2e

import (
	"strings"
	"testing"
	"time"

	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// Repro of a known bug, kept out of `make test` until it is fixed (run it
// with -tags knownbugs): when the executor running the last delivery a
// command is allowed (AWO_MAX_DELIVER) dies, JetStream never delivers it
// again and nobody reports the step failed, so the work order stays
// running for ever. Every failure must end visibly.
func TestFault_ExecutorKilledOnLastDelivery_WorkOrderFailsVisibly(t *testing.T) {
	w := newWorld(t, concurrentRules(0)[0], fm.Rule{Name: "execute", Prompt: "# Implement the plan", Turns: []fm.Turn{
		writeGreeting.After(time.Minute), fm.Text("done"),
	}})
	c := newCluster(t, w, clusterSize{Orchestrators: 1, Executors: 1, GitHubs: 1}, "AWO_MAX_DELIVER=2")
	c.start()
	id := c.submit(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute"}}, 10*time.Second)

	ex := c.p("executor-1")
	for delivery := 1; delivery <= 2; delivery++ {
		waitUntil(t, 90*time.Second, "execute running", func() bool {
			return len(w.Model.Conversation("execute")) >= delivery && len(agentCLIs(ex.children())) > 0
		})
		ex.kill9()
		if err := ex.start(); err != nil {
			t.Fatal(err)
		}
	}
	last := c.waitAllFinished([]string{id}, 60*time.Second)
	if wo := last[id]; wo.Status != "failed" || !strings.Contains(deref(wo.ErrorMessage), "execute") {
		t.Fatalf("work order after its step's last delivery died: status %q, phase %q, error %q",
			wo.Status, deref(wo.CurrentPhase), deref(wo.ErrorMessage))
	}
}
