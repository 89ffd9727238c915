package fakegh_test

import (
	"encoding/json"
	"reflect"
	"strconv"
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

// prComments is what `gh pr view --json comments` prints, as gh 2.x does
// (fields the fake leaves out are ignored).
type prComments struct {
	Comments []struct {
		Author struct {
			Login string `json:"login"`
		} `json:"author"`
		Body string `json:"body"`
		URL  string `json:"url"`
	} `json:"comments"`
}

func TestFake_PRViewComments(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{})
	if r := run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/a", "--title", "t", "--body", "b"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	const url = "https://github.com/acme/demo/pull/1"
	view := func(args ...string) prComments {
		t.Helper()
		r := run(t, f, "", nil, append([]string{"pr", "view"}, args...)...)
		var got prComments
		if r.code != 0 {
			t.Fatalf("view %v: %+v", args, r)
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("view %v printed %q: %v", args, r.stdout, err)
		}
		return got
	}
	if got := view(url, "--json", "comments"); got.Comments == nil || len(got.Comments) != 0 {
		t.Fatalf("no comments yet: %+v", got)
	}
	bodies := []string{"first \"quoted\"\n\n<!-- awo work_order_id=wo-1 round=2 -->\n", "second"}
	for _, b := range bodies {
		if r := run(t, f, b, nil, "pr", "comment", url, "--body-file=-"); r.code != 0 {
			t.Fatalf("comment: %+v", r)
		}
	}
	// Ten and more comments stay in the order they were posted.
	for i := 3; i <= 11; i++ {
		b := "c" + strconv.Itoa(i)
		bodies = append(bodies, b)
		if r := run(t, f, "", nil, "pr", "comment", "1", "--repo", "acme/demo", "--body", b); r.code != 0 {
			t.Fatalf("comment: %+v", r)
		}
	}
	for _, args := range [][]string{{url, "--json", "comments"}, {"1", "--repo=acme/demo", "--json=comments"}} {
		got := view(args...)
		if len(got.Comments) != len(bodies) {
			t.Fatalf("view %v: %d comments, want %d", args, len(got.Comments), len(bodies))
		}
		for i, c := range got.Comments {
			if c.Body != bodies[i] || c.URL != url+"#issuecomment-"+strconv.Itoa(1001+i) || c.Author.Login != "fake-user" {
				t.Errorf("view %v: comment %d = %+v, want body %q", args, i, c, bodies[i])
			}
		}
	}
	r := run(t, f, "", nil, "pr", "view", url, "--json", "number,comments,url")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `{"comments":[`) || !strings.HasSuffix(r.stdout, `,"number":1,"url":"`+url+"\"}\n") {
		t.Errorf("several fields: %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"https://github.com/acme/demo/pull/7", "--json", "comments"}, "Could not resolve to a PullRequest"},
		{[]string{"https://github.com/acme/other/pull/1", "--json", "comments"}, "Could not resolve to a PullRequest"},
		{[]string{url, "--json", "reviews"}, "Unknown JSON field"},
		{[]string{url}, "needs --json"},
	} {
		if r := run(t, f, "", nil, append([]string{"pr", "view"}, tc.args...)...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("view %v: %+v, want a failure saying %q", tc.args, r, tc.want)
		}
	}
}

func TestFake_PRViewFailsAsConfigured(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{PRViewError: "HTTP 502: Server Error (https://api.github.com/graphql)"})
	if r := run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/a", "--title", "t", "--body", "b"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	r := run(t, f, "", nil, "pr", "view", "https://github.com/acme/demo/pull/1", "--json", "comments")
	if r.code != 1 || !strings.Contains(r.stderr, "HTTP 502") || r.stdout != "" {
		t.Fatalf("got %+v", r)
	}
	// The other commands are not affected.
	if r := run(t, f, "", nil, "pr", "comment", "https://github.com/acme/demo/pull/1", "--body", "x"); r.code != 0 {
		t.Fatalf("comment: %+v", r)
	}
}
