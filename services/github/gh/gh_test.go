package gh_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/services/github/gh"
)

func TestCreatePR_OpensPRWithBodyOnStdinAndScriptableEnv(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{})
	c := &gh.Client{Path: fake.Path, Token: "ghp_test"}
	body := "## Summary\n\nUses `backticks`, $VARS, \"quotes\" and -- dashes\n" + strings.Repeat("long line\n", 5000)
	url, err := c.CreatePR(context.Background(), "acme/demo", "feat/login", "main", "feat: add login", body)
	if err != nil {
		t.Fatal(err)
	}
	if url != "https://github.com/acme/demo/pull/1" {
		t.Fatalf("url = %q", url)
	}
	prs := fake.PRs(t)
	if len(prs) != 1 || prs[0].Title != "feat: add login" || prs[0].Body != body || prs[0].Head != "feat/login" || prs[0].Base != "main" {
		t.Fatalf("opened %+v", prs)
	}
	calls := fake.Calls(t)
	if len(calls) != 2 || calls[0].Args[1] != "list" || calls[1].Args[1] != "create" {
		t.Fatalf("calls = %+v", calls)
	}
	for _, c := range calls {
		if c.Env["GH_TOKEN"] != "ghp_test" || c.Env["GH_PROMPT_DISABLED"] != "1" || c.Env["NO_COLOR"] != "1" {
			t.Errorf("%v ran with env %v", c.Args, c.Env)
		}
	}
	if calls[1].Stdin != body {
		t.Errorf("body on stdin differs (got %d bytes, want %d)", len(calls[1].Stdin), len(body))
	}
}

func TestCreatePR_ExistingPRForBranchIsReturnedNotDuplicated(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{})
	c := &gh.Client{Path: fake.Path}
	ctx := context.Background()
	first, err := c.CreatePR(ctx, "acme/demo", "fix/bug", "main", "fix: bug", "b")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreatePR(ctx, "acme/demo", "fix/bug", "main", "fix: bug", "b")
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("second create returned %q, want the existing %q", again, first)
	}
	if n := fake.PRCreates(t); n != 1 {
		t.Fatalf("%d PRs opened, want 1", n)
	}
	calls := fake.Calls(t)
	if last := calls[len(calls)-1].Args; last[1] != "list" {
		t.Fatalf("second create ran %v after the list found the PR", last)
	}
}

func TestCreatePR_AlreadyExistsRaceYieldsTheExistingURL(t *testing.T) {
	// A gh whose list has not caught up with a PR another creator just
	// opened: create refuses and names it.
	path := script(t, `case "$2" in
list) echo '[]' ;;
create) printf 'a pull request for branch "feat/x" into branch "main" already exists:\nhttps://github.com/acme/demo/pull/7\n' >&2; exit 1 ;;
esac`)
	url, err := (&gh.Client{Path: path}).CreatePR(context.Background(), "acme/demo", "feat/x", "main", "t", "b")
	if err != nil || url != "https://github.com/acme/demo/pull/7" {
		t.Fatalf("got %q, %v", url, err)
	}
}

func TestCreatePR_FailureCarriesGhStderr(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{PRCreateError: "pull request create failed: GraphQL: No commits between main and feat/x (createPullRequest)"})
	_, err := (&gh.Client{Path: fake.Path}).CreatePR(context.Background(), "acme/demo", "feat/x", "main", "t", "b")
	var ghErr *gh.Error
	if !errors.As(err, &ghErr) {
		t.Fatalf("want *gh.Error, got %T %v", err, err)
	}
	want := "gh pr create failed: pull request create failed: GraphQL: No commits between main and feat/x (createPullRequest)"
	if err.Error() != want || ghErr.ExitCode != 1 {
		t.Fatalf("error = %q (exit %d)\nwant    %q", err, ghErr.ExitCode, want)
	}
}

func TestCreatePR_RefusesBadInputWithoutRunningGh(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{})
	c := &gh.Client{Path: fake.Path}
	for _, tc := range []struct{ repo, head, base string }{
		{"--help", "feat/x", "main"},
		{"acme", "feat/x", "main"},
		{"acme/demo name", "feat/x", "main"},
		{"acme/demo", "", "main"},
		{"acme/demo", "feat/x", ""},
	} {
		if _, err := c.CreatePR(context.Background(), tc.repo, tc.head, tc.base, "t", "b"); err == nil {
			t.Errorf("CreatePR(%q, %q, %q) succeeded", tc.repo, tc.head, tc.base)
		}
	}
	if calls := fake.Calls(t); len(calls) != 0 {
		t.Fatalf("gh was run: %+v", calls)
	}
}

func TestViewIssue(t *testing.T) {
	issue := events.Issue{Number: 12, Title: "Login fails", Body: "When I log in\nit fails.", URL: "https://github.com/acme/demo/issues/12"}
	fake := fakegh.Install(t, fakegh.Options{Issues: []events.Issue{issue}})
	c := &gh.Client{Path: fake.Path}
	got, err := c.ViewIssue(context.Background(), "acme/demo", 12)
	if err != nil || got != issue {
		t.Fatalf("got %+v, %v", got, err)
	}
	want := []string{"issue", "view", "12", "--repo=acme/demo", "--json=number,title,body,url"}
	if args := fake.Calls(t)[0].Args; !reflect.DeepEqual(args, want) {
		t.Fatalf("args = %q, want %q", args, want)
	}

	_, err = c.ViewIssue(context.Background(), "acme/demo", 13)
	var ghErr *gh.Error
	if !errors.As(err, &ghErr) || !strings.Contains(err.Error(), "gh issue view failed: GraphQL: Could not resolve to an issue or pull request with the number of 13") {
		t.Fatalf("missing issue: %v", err)
	}
}

func TestViewRepo(t *testing.T) {
	fake := fakegh.Install(t, fakegh.Options{DefaultBranch: "develop", Repos: []string{"acme/demo"}})
	c := &gh.Client{Path: fake.Path}
	got, err := c.ViewRepo(context.Background(), "acme/demo")
	want := gh.RepoInfo{Owner: "acme", Name: "demo", DefaultBranch: "develop", URL: "https://github.com/acme/demo"}
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	if _, err := c.ViewRepo(context.Background(), "acme/gone"); err == nil || !strings.Contains(err.Error(), "Could not resolve to a Repository") {
		t.Fatalf("unknown repo: %v", err)
	}
}

func TestAuthStatusAndVersion(t *testing.T) {
	ctx := context.Background()
	fake := fakegh.Install(t, fakegh.Options{Version: "2.63.1"})
	c := &gh.Client{Path: fake.Path, Token: "tok"}
	ok, detail, err := c.AuthStatus(ctx)
	if err != nil || !ok || detail != "Logged in to github.com account fake-user (GH_TOKEN)" {
		t.Fatalf("AuthStatus = %v, %q, %v", ok, detail, err)
	}
	if v, err := c.Version(ctx); err != nil || v != "2.63.1" {
		t.Fatalf("Version = %q, %v", v, err)
	}

	out := fakegh.Install(t, fakegh.Options{Unauthenticated: true})
	ok, detail, err = (&gh.Client{Path: out.Path}).AuthStatus(ctx)
	if err != nil || ok || !strings.Contains(detail, "not logged into any GitHub hosts") {
		t.Fatalf("unauthenticated AuthStatus = %v, %q, %v", ok, detail, err)
	}
}

func TestRun_MissingBinaryIsErrNotStarted(t *testing.T) {
	c := &gh.Client{Path: filepath.Join(t.TempDir(), "no-such-gh")}
	_, err := c.ViewRepo(context.Background(), "acme/demo")
	if !errors.Is(err, gh.ErrNotStarted) {
		t.Fatalf("want ErrNotStarted, got %v", err)
	}
	if _, _, err := c.AuthStatus(context.Background()); !errors.Is(err, gh.ErrNotStarted) {
		t.Fatalf("AuthStatus: want ErrNotStarted, got %v", err)
	}
}

func TestRun_HungGhTimesOut(t *testing.T) {
	c := &gh.Client{Path: script(t, "exec sleep 30"), Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := c.ViewRepo(context.Background(), "acme/demo")
	var ghErr *gh.Error
	if !errors.As(err, &ghErr) || !ghErr.TimedOut || err.Error() != "gh repo view timed out after 200ms" {
		t.Fatalf("want a timeout error, got %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s to give up", took)
	}
}

func TestRun_CancelledCallerIsNotAGhFailure(t *testing.T) {
	c := &gh.Client{Path: script(t, "exec sleep 30")}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.ViewRepo(ctx, "acme/demo")
	var ghErr *gh.Error
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ghErr) {
		t.Fatalf("want the caller's deadline, got %T %v", err, err)
	}
}

// script writes a one-off fake gh with the given sh body.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
