package fakegh_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

func TestFake_PRCommentByURLOrNumber(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{})
	if r := run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/a", "--title", "t", "--body", "b"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	r := run(t, f, "Round 2:\n\nhandled the \"empty\" case\n\n", nil, "pr", "comment", "https://github.com/acme/demo/pull/1", "--body-file=-")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "https://github.com/acme/demo/pull/1#issuecomment-1001" {
		t.Fatalf("comment by URL: %+v", r)
	}
	if r := run(t, f, "", nil, "pr", "comment", "1", "--repo", "acme/demo", "--body", "second"); r.code != 0 {
		t.Fatalf("comment by number: %+v", r)
	}
	prs := f.PRs(t)
	if want := []string{"Round 2:\n\nhandled the \"empty\" case\n\n", "second"}; len(prs) != 1 || !reflect.DeepEqual(prs[0].Comments, want) {
		t.Fatalf("comments = %q, want %q", prs[0].Comments, want)
	}
	// A pull request that does not exist, in this repository or at all.
	for _, target := range []string{"https://github.com/acme/demo/pull/7", "https://github.com/acme/other/pull/1"} {
		r := run(t, f, "", nil, "pr", "comment", target, "--body", "x")
		if r.code != 1 || !strings.Contains(r.stderr, "Could not resolve to a PullRequest") {
			t.Errorf("comment on %s: %+v", target, r)
		}
	}
	if r := run(t, f, "", nil, "pr", "comment", "https://github.com/acme/demo/pull/1"); r.code != 1 || !strings.Contains(r.stderr, "--body") {
		t.Errorf("comment without a body: %+v", r)
	}
}

func TestFake_PRCommentFailsAsConfigured(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{PRCommentError: "HTTP 502: Server Error (https://api.github.com/graphql)"})
	if r := run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/a", "--title", "t", "--body", "b"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	r := run(t, f, "", nil, "pr", "comment", "https://github.com/acme/demo/pull/1", "--body", "x")
	if r.code != 1 || !strings.Contains(r.stderr, "HTTP 502") {
		t.Fatalf("got %+v", r)
	}
	if c := f.PRs(t)[0].Comments; len(c) != 0 {
		t.Fatalf("comments after a failure: %q", c)
	}
}
