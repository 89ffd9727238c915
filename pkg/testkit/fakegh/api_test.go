package fakegh_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

// restComment is the part of the REST API's issue comment awo reads.
type restComment struct {
	Body    string `json:"body"`
	HTMLURL string `json:"html_url"`
}

func TestFake_APIIssueCommentsAddAndList(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{})
	const path = "repos/acme/demo/issues/42/comments"
	if r := run(t, f, "", nil, "api", path, "--paginate"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("list before any: %+v", r)
	}
	body := "Working on it: `wo-1`\n\n<!-- awo work_order_id=wo-1 round=1 answer=start -->\n"
	r := run(t, f, "", nil, "api", path, "--method=POST", "-f", "body="+body)
	var added restComment
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &added) != nil || added.Body != body ||
		added.HTMLURL != "https://github.com/acme/demo/issues/42#issuecomment-1001" {
		t.Fatalf("add: %+v", r)
	}
	// Without --method, a field makes it a POST, as gh does.
	if r := run(t, f, "", nil, "api", path, "-f", "body=second"); r.code != 0 {
		t.Fatalf("add without --method: %+v", r)
	}
	r = run(t, f, "", nil, "api", path, "--paginate")
	var listed []restComment
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &listed) != nil || len(listed) != 2 || listed[0].Body != body || listed[1].Body != "second" {
		t.Fatalf("list: %+v", r)
	}
	if got, want := f.IssueComments(t, "acme/demo", 42), []string{body, "second"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("IssueComments = %q, want %q", got, want)
	}
	if got := f.IssueComments(t, "acme/other", 42); len(got) != 0 {
		t.Fatalf("another repository's issue has %q", got)
	}
}

func TestFake_APIOnAPullRequestSharesItsComments(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{})
	if r := run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/a", "--title", "t", "--body", "b"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	if r := run(t, f, "", nil, "api", "repos/acme/demo/issues/1/comments", "-f", "body=on the PR"); r.code != 0 ||
		!strings.Contains(r.stdout, "https://github.com/acme/demo/pull/1#issuecomment-1001") {
		t.Fatalf("add: %+v", r)
	}
	if c := f.PRs(t)[0].Comments; !reflect.DeepEqual(c, []string{"on the PR"}) {
		t.Fatalf("PR comments = %q", c)
	}
	if got := f.IssueComments(t, "acme/demo", 1); !reflect.DeepEqual(got, []string{"on the PR"}) {
		t.Fatalf("IssueComments = %q", got)
	}
}

func TestFake_APIFailures(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{Repos: []string{"acme/demo"}, IssueCommentError: "gh: Server Error (HTTP 502)"})
	if r := run(t, f, "", nil, "api", "repos/acme/nope/issues/1/comments"); r.code != 1 || !strings.Contains(r.stderr, "(HTTP 404)") {
		t.Errorf("unknown repository: %+v", r)
	}
	if r := run(t, f, "", nil, "api", "repos/acme/demo/issues/1/comments", "-f", "body=x"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 502") {
		t.Errorf("IssueCommentError: %+v", r)
	}
	if got := f.IssueComments(t, "acme/demo", 1); len(got) != 0 {
		t.Errorf("comments after a failure: %q", got)
	}
	if r := run(t, f, "", nil, "api", "repos/acme/demo/pulls"); r.code != 1 || !strings.Contains(r.stderr, "knows only") {
		t.Errorf("another endpoint: %+v", r)
	}
	down := fakegh.Install(t, fakegh.Options{APIError: fakegh.GitHubDown})
	if r := run(t, down, "", nil, "api", "repos/acme/demo/issues/1/comments"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 503") {
		t.Errorf("GitHub down: %+v", r)
	}
}
