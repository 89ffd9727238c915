package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

// A repository configured with verification is checked by the github
// service (gh repo view, over NATS request/reply: the gateway runs no gh),
// and a work order created by its id takes its default commands.
func TestRepositories_VerifiedThroughTheGitHubServiceAndUsedByACreate(t *testing.T) {
	const branch = "feat/from-defaults"
	w := newWorldWithGH(t, fakegh.Options{Repos: []string{"acme/demo"}}, createBranch(branch))
	s := newStack(t, w)
	s.start()
	defer s.stop()

	code, out := s.do("POST", "/api/agent-work-orders/github/verify-repository", map[string]any{"repository_url": "https://github.com/acme/missing"})
	var check struct {
		Accessible bool `json:"is_accessible"`
	}
	if code != http.StatusOK || json.Unmarshal(out, &check) != nil || check.Accessible {
		t.Fatalf("verify an unknown repository: %d %s, want 200 with is_accessible false", code, out)
	}

	code, out = s.do("POST", "/api/agent-work-orders/repositories", map[string]any{"repository_url": repoURL, "verify": true})
	var repo struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		Owner       string `json:"owner"`
		Verified    bool   `json:"is_verified"`
	}
	if code != http.StatusCreated || json.Unmarshal(out, &repo) != nil || !repo.Verified || repo.DisplayName != "acme/demo" || repo.Owner != "acme" {
		t.Fatalf("configure %s: %d %s", repoURL, code, out)
	}
	if code, out := s.do("POST", "/api/agent-work-orders/repositories", map[string]any{"repository_url": repoURL + ".git", "verify": false}); code != http.StatusConflict {
		t.Fatalf("configure it again: %d %s, want 409", code, out)
	}
	if code, out := s.do("PATCH", "/api/agent-work-orders/repositories/"+repo.ID, map[string]any{"default_commands": []string{"create-branch"}}); code != http.StatusOK {
		t.Fatalf("PATCH default_commands: %d %s", code, out)
	}

	id := s.create(map[string]any{"repository_url": repoURL, "repository_id": repo.ID, "user_request": "Only a branch"})
	if wo := s.waitFinished(id, 2*time.Minute); wo.Status != "completed" || deref(wo.Branch) != branch {
		t.Fatalf("work order: status %s, branch %q, error %q", wo.Status, deref(wo.Branch), deref(wo.ErrorMessage))
	}
	if st := s.steps(id); len(st) != 1 || st[0].Step != "create-branch" {
		t.Fatalf("steps %+v, want the repository's default commands: create-branch only", st)
	}
}
