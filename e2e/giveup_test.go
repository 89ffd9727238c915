package e2e

import (
	"strings"
	"testing"
	"time"
)

// An executor killed during a command's last allowed delivery leaves no
// worker to report the failure, and JetStream will not deliver the command
// again. The executor that comes up next hears JetStream give up and fails
// the step, so the work order ends failed, naming the step, instead of
// staying running for ever.
func TestWorkOrder_KilledOnTheLastDelivery_FailsNamingTheStep(t *testing.T) {
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning(), execute(writeGreeting.After(8*time.Second)), commit(branch))
	s := newStack(t, w, "AWO_MAX_DELIVER=1")
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "planning", "execute", "commit"}})
	s.waitFor(id, 2*time.Minute, "the execute step running", func(wo workOrder) bool {
		return deref(wo.CurrentPhase) == "execute" && len(w.Model.Conversation("execute")) > 0
	})
	s.kill9()
	waitNoProcessWithEnv(t, "ANTHROPIC_BASE_URL="+w.Model.URL, 6*time.Second)

	s.start()
	wo := s.waitFinished(id, 2*time.Minute)
	msg := deref(wo.ErrorMessage)
	if wo.Status != "failed" || !strings.Contains(msg, "gave up on execute after 1 delivery") || !strings.Contains(msg, "AWO_ACK_WAIT") {
		t.Fatalf("status %s, error %q; want failed, naming the execute step and AWO_ACK_WAIT", wo.Status, msg)
	}
	for _, st := range s.steps(id) {
		if st.Step == "commit" {
			t.Errorf("commit ran after execute was given up on: %+v", st)
		}
	}
	s.stop()
}
