package e2e

import (
	"strings"
	"testing"
	"time"

	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// The repository's pull request template travels from the checkout (the
// executor's commit step) to the github service, which opens the pull
// request with it filled.
func TestWorkOrder_PRBodyFollowsTheRepositorysTemplate(t *testing.T) {
	const branch = "feat/say-hi"
	w := newWorld(t, createBranch(branch), fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("printf 'hi\\n' > hi.txt && git add -A && git commit -m 'feat: say hi' && git push -u origin "+branch, "commit"),
		fm.Text("feat: say hi"),
	}})
	const tmpl = "## What\n\n<!-- What does this change, and why? -->\n\n## Checklist\n\n- [ ] Tests added\n"
	w.Origin.Commit(t, "main", ".github/PULL_REQUEST_TEMPLATE.md", tmpl, "docs: a pull request template")
	s := newStack(t, w)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Say hi",
		"selected_commands": []string{"create-branch", "commit", "create-pr"}})
	if wo := s.waitFinished(id, 2*time.Minute); wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	prs := w.GH.PRs(t)
	want := "## What\n\n<!-- What does this change, and why? -->\n\nSay hi\n\n## Checklist\n\n- [ ] Tests added\n"
	if len(prs) != 1 || !strings.HasPrefix(prs[0].Body, want) || !strings.Contains(prs[0].Body, "## Commit\n\nfeat: say hi") {
		t.Fatalf("PRs opened: %+v\nwant the body to start with:\n%s", prs, want)
	}
	s.stop()
}
