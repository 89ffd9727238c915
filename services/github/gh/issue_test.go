package gh_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/services/github/gh"
)

func TestCommentIssue_AddsAndListsWithTheToken(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{})
	c := &gh.Client{Path: fake.Path, Token: "ghp_test"}
	ctx := context.Background()
	if got, err := c.IssueComments(ctx, "acme/demo", 42); err != nil || len(got) != 0 {
		t.Fatalf("IssueComments before any = %+v, %v", got, err)
	}
	body := "Working on it: `wo-1` $(whoami) --paginate\n\n<!-- awo work_order_id=wo-1 round=1 answer=start -->\n"
	url, err := c.CommentIssue(ctx, "acme/demo", 42, body)
	if err != nil || url != "https://github.com/acme/demo/issues/42#issuecomment-1001" {
		t.Fatalf("CommentIssue = %q, %v", url, err)
	}
	got, err := c.IssueComments(ctx, "acme/demo", 42)
	if err != nil || len(got) != 1 || got[0].Body != body || got[0].URL != url {
		t.Fatalf("IssueComments = %+v, %v", got, err)
	}
	for _, call := range fake.Calls(t) {
		if call.Args[0] != "api" || call.Args[1] != "repos/acme/demo/issues/42/comments" || call.Env["GH_TOKEN"] != "ghp_test" {
			t.Errorf("call = %+v", call)
		}
	}
}

func TestCommentIssue_RefusesBadTargetsWithoutRunningGh(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{})
	c := &gh.Client{Path: fake.Path}
	for _, tc := range []struct {
		repo string
		n    int
	}{{"--help", 1}, {"acme", 1}, {"acme/demo/x/y", 1}, {"acme/demo", 0}, {"acme/demo", -3}} {
		if _, err := c.CommentIssue(context.Background(), tc.repo, tc.n, "b"); err == nil {
			t.Errorf("CommentIssue(%q, %d) succeeded", tc.repo, tc.n)
		}
		if _, err := c.IssueComments(context.Background(), tc.repo, tc.n); err == nil {
			t.Errorf("IssueComments(%q, %d) succeeded", tc.repo, tc.n)
		}
	}
	if n := len(fake.Calls(t)); n != 0 {
		t.Errorf("gh ran %d times", n)
	}
}

func TestIsGone_ForAMissingRepositoryNotForAnOutage(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{Repos: []string{"acme/demo"}})
	c := &gh.Client{Path: fake.Path}
	_, err := c.CommentIssue(context.Background(), "acme/nope", 1, "b")
	if err == nil || !gh.IsGone(err) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("comment on a missing repository: %v (gone: %v)", err, gh.IsGone(err))
	}
	down := fakegh.Install(t, fakegh.Options{APIError: fakegh.GitHubDown})
	c = &gh.Client{Path: down.Path}
	if _, err := c.CommentIssue(context.Background(), "acme/demo", 1, "b"); err == nil || gh.IsGone(err) {
		t.Fatalf("GitHub down: %v (gone: %v), want a retryable failure", err, gh.IsGone(err))
	}
}
