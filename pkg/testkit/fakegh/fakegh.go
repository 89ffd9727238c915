// Package fakegh installs a fake GitHub CLI (`gh`) for tests: a POSIX sh
// script that never touches the network, answers the handful of commands
// Agent Work Orders uses the way gh 2.x does, and records every invocation
// so a test can check what was asked of it. Point GH_CLI_PATH at Path.
//
// Supported: `gh --version`, `gh auth status`, `gh repo view R --json ...`
// (fields name, nameWithOwner, owner, defaultBranchRef, url),
// `gh issue view N --repo R --json ...`, `gh pr list --repo R --head H
// --json ...`, `gh pr create --repo R --head H [--base B] --title T
// (--body B | --body-file F|-)` and `gh pr comment URL|N (--body B |
// --body-file F|-)` and `gh pr view URL|N --json ...` (fields comments, url,
// number, headRefName, baseRefName, title, state) on a pull request it
// opened, and `gh api [--paginate] repos/O/R/issues/N/comments [-f
// body=B]`, which lists or adds an issue's comments (on a pull request it
// opened: that pull request's comments, as on GitHub). Flags may be written `--flag value` or
// `--flag=value`. Anything else fails with gh's "unknown command" message.
package fakegh

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
)

//go:embed gh.sh
var script string

// Options shape the fake's answers. The zero value is an authenticated gh
// that knows every repository (default branch main) and no issues.
type Options struct {
	// Issues are answered by `gh issue view N` in every repository; any
	// other number fails with gh's "Could not resolve to an issue" message.
	Issues []events.Issue
	// Repos, when set, are the only owner/name repositories that exist;
	// the others fail with gh's "Could not resolve to a Repository".
	Repos []string
	// DefaultBranch of every repository; "main" when empty.
	DefaultBranch string
	// Unauthenticated makes `gh auth status` fail as when nobody logged in.
	Unauthenticated bool
	// PRCreateError, when set, makes `gh pr create` print it on stderr and
	// exit 1 (after the existing-PR check, as gh does).
	PRCreateError string
	// Version reported by `gh --version`; "2.62.0" when empty.
	Version string
	// PRCreateDelay makes a successful `gh pr create` wait this long
	// before it answers. The pull request already exists while it waits
	// (`gh pr list` shows it), as when GitHub has opened it and the answer
	// is slow: a caller killed meanwhile never learns the URL.
	PRCreateDelay time.Duration
	// PRCommentError, when set, makes `gh pr comment` on an existing pull
	// request print it on stderr and exit 1.
	PRCommentError string
	// PRViewError, when set, makes `gh pr view` of an existing pull
	// request print it on stderr and exit 1.
	PRViewError string
	// IssueCommentError, when set, makes adding a comment with `gh api
	// repos/O/R/issues/N/comments -f body=...` print it on stderr and exit 1.
	IssueCommentError string
	// APIError, when set, makes every command that talks to GitHub (all
	// but --version and auth status) print it on stderr and exit 1, as gh
	// does when GitHub is down or refuses the token: see GitHubDown,
	// Unreachable and BadCredentials.
	APIError string
}

// gh's words when GitHub cannot answer, for Options.APIError.
const (
	GitHubDown     = "HTTP 503: Service Unavailable (https://api.github.com/graphql)"
	Unreachable    = "error connecting to api.github.com\ncheck your internet connection or https://githubstatus.com"
	BadCredentials = "HTTP 401: Bad credentials (https://api.github.com/graphql)\nTry authenticating with:  gh auth login"
)

// FakeGH is an installed fake.
type FakeGH struct {
	Path  string // the executable; use as GH_CLI_PATH
	State string // the directory where it keeps its log and pull requests
}

// Call is one recorded invocation.
type Call struct {
	Args  []string          // argv without the program name
	Stdin string            // what it read for --body-file -; empty otherwise
	Env   map[string]string // the gh-relevant variables that were set (GH_TOKEN, GITHUB_TOKEN, GH_PROMPT_DISABLED, NO_COLOR, GH_REPO, GH_HOST)
}

// PR is a pull request the fake opened.
type PR struct {
	Number int
	URL    string
	Repo   string // owner/name
	Head   string
	Base   string
	Title  string
	Body   string
	// Comments are the bodies `gh pr comment` added, in order.
	Comments []string
}

// Install writes the fake into a temporary directory that lives as long as
// the test.
func Install(t testing.TB, opts Options) *FakeGH {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	for _, d := range []string{state, filepath.Join(state, "issues"), filepath.Join(state, "prs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("fakegh: %v", err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(state, name), []byte(content), 0o644); err != nil {
			t.Fatalf("fakegh: %v", err)
		}
	}
	write("version", orDefault(opts.Version, "2.62.0"))
	write("default-branch", orDefault(opts.DefaultBranch, "main"))
	write("calls.jsonl", "")
	if opts.Unauthenticated {
		write("unauthenticated", "")
	}
	if opts.PRCreateDelay > 0 {
		write("pr-create-delay", strconv.FormatFloat(opts.PRCreateDelay.Seconds(), 'f', 3, 64))
	}
	if opts.APIError != "" {
		write("api-error", opts.APIError+"\n")
	}
	if opts.PRCreateError != "" {
		write("pr-create-error", opts.PRCreateError+"\n")
	}
	if opts.PRCommentError != "" {
		write("pr-comment-error", opts.PRCommentError+"\n")
	}
	if opts.PRViewError != "" {
		write("pr-view-error", opts.PRViewError+"\n")
	}
	if opts.IssueCommentError != "" {
		write("issue-comment-error", opts.IssueCommentError+"\n")
	}
	if len(opts.Repos) > 0 {
		write("repos", strings.Join(opts.Repos, "\n")+"\n")
	}
	for _, is := range opts.Issues {
		if is.Number <= 0 {
			t.Fatalf("fakegh: issue %+v needs a positive number", is)
		}
		b, err := json.Marshal(is)
		if err != nil {
			t.Fatalf("fakegh: %v", err)
		}
		write(filepath.Join("issues", strconv.Itoa(is.Number)+".json"), string(b)+"\n")
	}

	path := filepath.Join(dir, "gh")
	src := "#!/bin/sh\nSTATE=" + shellQuote(state) + "\n" + script
	if err := os.WriteFile(path, []byte(src), 0o755); err != nil {
		t.Fatalf("fakegh: %v", err)
	}
	return &FakeGH{Path: path, State: state}
}

// Calls returns every invocation so far, in order.
func (f *FakeGH) Calls(t testing.TB) []Call {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.State, "calls.jsonl"))
	if err != nil {
		t.Fatalf("fakegh: reading the call log: %v", err)
	}
	var calls []Call
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("fakegh: call log line %q: %v", sc.Text(), err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("fakegh: reading the call log: %v", err)
	}
	return calls
}

// PRCreates is the number of pull requests opened (failed `gh pr create`
// calls do not count).
func (f *FakeGH) PRCreates(t testing.TB) int {
	t.Helper()
	return len(f.PRs(t))
}

// PRs returns the pull requests opened so far, by number.
func (f *FakeGH) PRs(t testing.TB) []PR {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(f.State, "prs"))
	if err != nil {
		t.Fatalf("fakegh: %v", err)
	}
	var prs []PR
	for _, d := range dirs {
		dir := filepath.Join(f.State, "prs", d.Name())
		if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
			continue // being written by a running `gh pr create`
		}
		read := func(name string) string {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("fakegh: %v", err)
			}
			return string(b)
		}
		readJSON := func(name string) string {
			var s string
			if err := json.Unmarshal([]byte(read(name)), &s); err != nil {
				t.Fatalf("fakegh: %s of PR %s: %v", name, d.Name(), err)
			}
			return s
		}
		n, err := strconv.Atoi(read("number"))
		if err != nil {
			t.Fatalf("fakegh: PR number: %v", err)
		}
		prs = append(prs, PR{
			Number: n, URL: read("url"), Repo: read("repo"), Head: read("head"), Base: read("base"),
			Title: readJSON("title.json"), Body: readJSON("body.json"), Comments: comments(t, dir),
		})
	}
	sort.Slice(prs, func(i, j int) bool { return prs[i].Number < prs[j].Number })
	return prs
}

// IssueComments returns the bodies of the comments `gh api` added to issue
// (or pull request) number of repo (owner/name), in order.
func (f *FakeGH) IssueComments(t testing.TB, repo string, number int) []string {
	t.Helper()
	n := strconv.Itoa(number)
	pr := filepath.Join(f.State, "prs", n)
	if b, err := os.ReadFile(filepath.Join(pr, "repo")); err == nil && string(b) == repo {
		return comments(t, pr)
	}
	return comments(t, filepath.Join(f.State, "issue-comments", filepath.FromSlash(repo), n))
}

// comments reads the bodies of a pull request's comments, in order.
func comments(t testing.TB, pr string) []string {
	dirs, err := os.ReadDir(filepath.Join(pr, "comments"))
	if err != nil {
		return nil // none yet
	}
	byNumber := map[int]string{}
	var numbers []int
	for _, d := range dirs {
		k, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(pr, "comments", d.Name(), "body.json"))
		if err != nil {
			continue // being written by a running `gh pr comment`
		}
		var body string
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("fakegh: comment %s of %s: %v", d.Name(), pr, err)
		}
		byNumber[k] = body
		numbers = append(numbers, k)
	}
	sort.Ints(numbers)
	out := make([]string, 0, len(numbers))
	for _, k := range numbers {
		out = append(out, byNumber[k])
	}
	return out
}

// shellQuote makes s one single-quoted sh word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
