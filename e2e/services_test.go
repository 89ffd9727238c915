package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/natsembed"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// The services also run as separate binaries against one NATS server, as
// in production, and need nothing from each other but the streams.
func TestServices_AsSeparateProcesses_RunAWorkOrder(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	const branch = "feat/separate"
	w := newWorld(t, createBranch(branch), fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("printf 'hi\\n' > hi.txt && git add -A && git commit -m 'feat: say hi' && git push -u origin "+branch, "commit"),
		fm.Text("feat: say hi"),
	}})
	s := newStack(t, w)
	s.startServices(srv.ClientURL())

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Say hi",
		"selected_commands": []string{"create-branch", "commit", "create-pr"}})
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" || !strings.Contains(deref(wo.PRURL), "/pull/") {
		t.Fatalf("work order %+v, error %q", wo, deref(wo.ErrorMessage))
	}
	if _, ok := w.Origin.File(t, branch, "hi.txt"); !ok {
		t.Error("the branch was not pushed")
	}
	if n := w.GH.PRCreates(t); n != 1 {
		t.Errorf("%d PRs opened", n)
	}
}
