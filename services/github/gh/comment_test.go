package gh_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/services/github/gh"
)

func TestCommentPR_BodyOnStdinReturnsTheCommentURL(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{})
	c := &gh.Client{Path: fake.Path, Token: "ghp_test"}
	pr, err := c.CreatePR(context.Background(), "acme/demo", "feat/x", "main", "t", "b")
	if err != nil {
		t.Fatal(err)
	}
	body := "## Follow-up\n\n> `rm -rf /`; $(whoami) --body x\n"
	got, err := c.CommentPR(context.Background(), pr, body)
	if err != nil || got != pr+"#issuecomment-1001" {
		t.Fatalf("CommentPR = %q, %v", got, err)
	}
	if prs := fake.PRs(t); len(prs[0].Comments) != 1 || prs[0].Comments[0] != body {
		t.Fatalf("comments = %q, want the body as given", prs[0].Comments)
	}
	last := fake.Calls(t)[len(fake.Calls(t))-1]
	if strings.Join(last.Args, " ") != "pr comment "+pr+" --body-file=-" || last.Env["GH_TOKEN"] != "ghp_test" {
		t.Errorf("call = %+v", last)
	}
}

func TestCommentPR_RefusesWhatIsNotAPullRequestURLWithoutRunningGh(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{})
	c := &gh.Client{Path: fake.Path}
	for _, url := range []string{"", "--help", "7", "http://github.com/acme/demo/pull/1", "https://github.com/acme/demo/issues/1",
		"https://github.com/acme/demo/pull/1 --repo x", "https://github.com/acme/demo/pull/1\n"} {
		if _, err := c.CommentPR(context.Background(), url, "b"); err == nil || !strings.Contains(err.Error(), "not a pull request URL") {
			t.Errorf("CommentPR(%q) = %v", url, err)
		}
	}
	if n := len(fake.Calls(t)); n != 0 {
		t.Errorf("gh ran %d times", n)
	}
}

func TestCommentPR_FailureCarriesGhStderr(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{PRCommentError: "HTTP 502: Server Error"})
	c := &gh.Client{Path: fake.Path}
	pr, err := c.CreatePR(context.Background(), "acme/demo", "feat/x", "main", "t", "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommentPR(context.Background(), pr, "b"); err == nil || !strings.Contains(err.Error(), "gh pr comment failed: HTTP 502") {
		t.Fatalf("err = %v", err)
	}
}
