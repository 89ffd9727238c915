package fakegh_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

type result struct {
	stdout, stderr string
	code           int
}

// run invokes the fake as a program would, with extra environment env.
func run(t *testing.T, f *fakegh.FakeGH, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(f.Path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running the fake: %v", err)
	}
	return result{out.String(), errb.String(), code}
}

func TestFake_RecordsArgsStdinAndEnvExactly(t *testing.T) {
	for _, awk := range []string{"awk", "mawk", "gawk"} {
		t.Run(awk, func(t *testing.T) {
			env := awkOnPath(t, awk)
			f := fakegh.Install(t, fakegh.Options{})
			odd := "quote \" back\\slash\ttab\nnew line ünïcødé \x01 $HOME `x` 'single'"
			body := "## Summary\n\nline with \"quotes\" and \\n literal\n\n\n"
			r := run(t, f, body, append(env, "GH_TOKEN=tok", "NO_COLOR=1"),
				"pr", "create", "--repo=acme/demo", "--head=feat/x", "--title="+odd, "--body-file", "-")
			if r.code != 0 {
				t.Fatalf("pr create: exit %d: %s", r.code, r.stderr)
			}
			calls := f.Calls(t)
			if len(calls) != 1 {
				t.Fatalf("calls = %+v", calls)
			}
			want := []string{"pr", "create", "--repo=acme/demo", "--head=feat/x", "--title=" + odd, "--body-file", "-"}
			if !reflect.DeepEqual(calls[0].Args, want) {
				t.Errorf("args = %q, want %q", calls[0].Args, want)
			}
			if calls[0].Stdin != body {
				t.Errorf("stdin = %q, want %q", calls[0].Stdin, body)
			}
			if calls[0].Env["GH_TOKEN"] != "tok" || calls[0].Env["NO_COLOR"] != "1" {
				t.Errorf("env = %v", calls[0].Env)
			}
			prs := f.PRs(t)
			if len(prs) != 1 || prs[0].Title != odd || prs[0].Body != body || prs[0].Base != "main" {
				t.Errorf("prs = %+v", prs)
			}
		})
	}
}

// awkOnPath puts a directory first on PATH whose awk is the named one, so
// the script is checked with the awks it may meet.
func awkOnPath(t *testing.T, awk string) []string {
	t.Helper()
	if awk == "awk" {
		return nil
	}
	p, err := exec.LookPath(awk)
	if err != nil {
		t.Skipf("%s is not installed", awk)
	}
	dir := t.TempDir()
	if err := os.Symlink(p, filepath.Join(dir, "awk")); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}
}

func TestFake_PRCreateThenListByHead(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{DefaultBranch: "trunk"})
	r := run(t, f, "", nil, "pr", "list", "--repo", "acme/demo", "--head", "feat/a", "--state", "open", "--json", "url")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("empty list: %+v", r)
	}
	for i, head := range []string{"feat/a", "feat/b"} {
		r := run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", head, "--title", "t", "--body", "b")
		want := "https://github.com/acme/demo/pull/" + string(rune('1'+i))
		if r.code != 0 || strings.TrimSpace(r.stdout) != want {
			t.Fatalf("create %s: %+v, want %s", head, r, want)
		}
	}
	r = run(t, f, "", nil, "pr", "list", "--repo=acme/demo", "--head=feat/b", "--json=url,number,headRefName,baseRefName,state")
	want := `[{"url":"https://github.com/acme/demo/pull/2","number":2,"headRefName":"feat/b","baseRefName":"trunk","state":"OPEN"}]`
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("list feat/b = %+v\nwant %s", r, want)
	}
	// Another repository has no pull requests for that head.
	r = run(t, f, "", nil, "pr", "list", "--repo", "acme/other", "--head", "feat/b", "--json", "url")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("other repo: %+v", r)
	}
	// gh refuses a second PR for the same head and base, naming the first.
	r = run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/a", "--title", "t", "--body", "b")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "/pull/1") {
		t.Fatalf("duplicate create: %+v", r)
	}
	if n := f.PRCreates(t); n != 2 {
		t.Fatalf("PRCreates = %d, want 2", n)
	}
}

func TestFake_PRCreateFailsAsConfigured(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{PRCreateError: "pull request create failed: GraphQL: No commits between main and feat/x"})
	r := run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/x", "--title", "t", "--body", "b")
	if r.code != 1 || !strings.Contains(r.stderr, "No commits between main and feat/x") || r.stdout != "" {
		t.Fatalf("got %+v", r)
	}
	if n := f.PRCreates(t); n != 0 {
		t.Fatalf("PRCreates = %d after a failure", n)
	}
	// Like gh, the fake insists on a title and a body when not interactive.
	r = run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/x")
	if r.code != 1 || !strings.Contains(r.stderr, "must provide `--title` and `--body`") {
		t.Fatalf("missing title: %+v", r)
	}
}

// A slow answer: the pull request exists (listed) while create still waits.
func TestFake_PRCreateDelay_PRListedBeforeTheAnswer(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{PRCreateDelay: 1500 * time.Millisecond})
	start := time.Now()
	done := make(chan result, 1)
	go func() {
		done <- run(t, f, "", nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/slow", "--title", "t", "--body", "b")
	}()
	for f.PRCreates(t) == 0 {
		select {
		case r := <-done:
			t.Fatalf("create answered before the PR was listed: %+v", r)
		case <-time.After(20 * time.Millisecond):
		}
	}
	r := run(t, f, "", nil, "pr", "list", "--repo", "acme/demo", "--head", "feat/slow", "--json", "url")
	if strings.TrimSpace(r.stdout) != `[{"url":"https://github.com/acme/demo/pull/1"}]` {
		t.Fatalf("list while create waits: %+v", r)
	}
	select {
	case r := <-done:
		t.Fatalf("create answered at once: %+v", r)
	default:
	}
	r = <-done
	if took := time.Since(start); r.code != 0 || strings.TrimSpace(r.stdout) != "https://github.com/acme/demo/pull/1" || took < 1500*time.Millisecond {
		t.Fatalf("create: %+v after %s", r, took)
	}
}

func TestFake_IssueView(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{Issues: []events.Issue{{Number: 42, Title: "Login \"fails\"", Body: "Steps:\n1. log in", URL: "https://github.com/acme/demo/issues/42"}}})
	r := run(t, f, "", nil, "issue", "view", "42", "--repo", "acme/demo", "--json", "number,title,body,url")
	want := `{"number":42,"title":"Login \"fails\"","body":"Steps:\n1. log in","url":"https://github.com/acme/demo/issues/42"}`
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("issue 42: %+v", r)
	}
	r = run(t, f, "", nil, "issue", "view", "7", "--repo", "acme/demo", "--json", "number")
	if r.code != 1 || !strings.Contains(r.stderr, "Could not resolve to an issue or pull request with the number of 7") {
		t.Fatalf("issue 7: %+v", r)
	}
}

func TestFake_RepoViewAndUnknownRepos(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{Repos: []string{"acme/demo"}})
	r := run(t, f, "", nil, "repo", "view", "acme/demo", "--json", "name,owner,defaultBranchRef,url")
	want := `{"defaultBranchRef":{"name":"main"},"name":"demo","owner":{"id":"MDQ6VXNlcjE=","login":"acme"},"url":"https://github.com/acme/demo"}`
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("repo view: %+v", r)
	}
	r = run(t, f, "", nil, "repo", "view", "acme/nope", "--json", "name")
	if r.code != 1 || !strings.Contains(r.stderr, "Could not resolve to a Repository with the name 'acme/nope'") {
		t.Fatalf("unknown repo: %+v", r)
	}
	r = run(t, f, "", nil, "repo", "view", "acme/demo", "--json", "owner,nameWithOwner,defaultBranchRef")
	want = `{"defaultBranchRef":{"name":"main"},"nameWithOwner":"acme/demo","owner":{"id":"MDQ6VXNlcjE=","login":"acme"}}`
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("repo view, fields asked for: %+v", r)
	}
	if r = run(t, f, "", nil, "repo", "view", "acme/demo", "--json", "name,stars"); r.code != 1 || !strings.Contains(r.stderr, `Unknown JSON field: "stars"`) {
		t.Fatalf("unknown field: %+v", r)
	}
}

func TestFake_APIErrorFailsEveryGitHubCall(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{APIError: fakegh.GitHubDown, Issues: []events.Issue{{Number: 1, Title: "t"}}})
	for _, args := range [][]string{
		{"repo", "view", "acme/demo", "--json", "name"},
		{"issue", "view", "1", "--repo", "acme/demo", "--json", "number"},
		{"pr", "list", "--repo", "acme/demo", "--head", "x", "--json", "url"},
		{"pr", "create", "--repo", "acme/demo", "--head", "x", "--title", "t", "--body", "b"},
	} {
		if r := run(t, f, "", nil, args...); r.code != 1 || !strings.Contains(r.stderr, "HTTP 503") {
			t.Errorf("gh %v with GitHub down: %+v", args, r)
		}
	}
	if f.PRCreates(t) != 0 {
		t.Error("a pull request was opened while GitHub was down")
	}
	// What does not talk to GitHub still works.
	if r := run(t, f, "", nil, "--version"); r.code != 0 {
		t.Errorf("--version with GitHub down: %+v", r)
	}
	if r := run(t, f, "", []string{"GH_TOKEN=x"}, "auth", "status"); r.code != 0 {
		t.Errorf("auth status with GitHub down: %+v", r)
	}
}

func TestFake_VersionAuthAndUnknownCommands(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{Version: "2.99.1"})
	if r := run(t, f, "", nil, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "gh version 2.99.1 ") {
		t.Fatalf("--version: %+v", r)
	}
	if r := run(t, f, "", []string{"GH_TOKEN=x"}, "auth", "status"); r.code != 0 || !strings.Contains(r.stdout, "Logged in to github.com account fake-user (GH_TOKEN)") {
		t.Fatalf("auth status: %+v", r)
	}
	if r := run(t, f, "", nil, "release", "list"); r.code != 1 || !strings.Contains(r.stderr, `unknown command "release"`) {
		t.Fatalf("unknown command: %+v", r)
	}
	u := fakegh.Install(t, fakegh.Options{Unauthenticated: true})
	if r := run(t, u, "", nil, "auth", "status"); r.code != 1 || !strings.Contains(r.stderr, "not logged into any GitHub hosts") {
		t.Fatalf("unauthenticated: %+v", r)
	}
}

func TestFake_ConcurrentCreatesGetDistinctNumbersAndWholeLogLines(t *testing.T) {
	f := fakegh.Install(t, fakegh.Options{})
	const n = 8
	long := strings.Repeat("a body line that makes the log line long\n", 200)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := run(t, f, long, nil, "pr", "create", "--repo", "acme/demo", "--head", "feat/"+string(rune('a'+i)), "--title", "t", "--body-file=-")
			if r.code != 0 {
				t.Errorf("create %d: %+v", i, r)
			}
		}()
	}
	wg.Wait()
	prs := f.PRs(t)
	if len(prs) != n {
		t.Fatalf("got %d PRs, want %d", len(prs), n)
	}
	for i, pr := range prs {
		if pr.Number != i+1 || pr.Body != long {
			t.Errorf("PR %d: number %d, body intact %v", i, pr.Number, pr.Body == long)
		}
	}
	if calls := f.Calls(t); len(calls) != n {
		t.Fatalf("logged %d calls, want %d", len(calls), n)
	}
}
