// Package gh is a small client for the GitHub CLI. It runs gh with argument
// lists (never through a shell), without a terminal or prompts, with a
// deadline on every call, and turns gh's failures into errors that carry
// what gh said.
package gh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/textcut"
)

// DefaultTimeout bounds one gh call when Client.Timeout is zero. gh only
// talks to the GitHub API here, so minutes mean it is stuck.
const DefaultTimeout = 2 * time.Minute

// ErrNotStarted means gh could not be run at all (missing, not executable).
// Unlike a failing gh, this may be fixed by the operator without the work
// order changing, so callers may retry.
var ErrNotStarted = errors.New("gh could not be started")

// Error is a gh call that ran and failed, or ran out of time.
type Error struct {
	Command  string // what was run, e.g. "gh pr create"
	ExitCode int    // gh's exit code; -1 when it was killed
	Stderr   string // what gh said (its stdout if stderr was empty), trimmed and capped
	Timeout  time.Duration
	TimedOut bool // killed after Timeout
}

func (e *Error) Error() string {
	switch {
	case e.TimedOut:
		return fmt.Sprintf("%s timed out after %s", e.Command, e.Timeout)
	case e.Stderr == "":
		return fmt.Sprintf("%s failed with exit code %d", e.Command, e.ExitCode)
	}
	return fmt.Sprintf("%s failed: %s", e.Command, e.Stderr)
}

// Client runs gh. The zero value runs "gh" from PATH with the process's
// own credentials.
type Client struct {
	Path    string        // the gh executable (GH_CLI_PATH); "gh" when empty
	Token   string        // given to gh as GH_TOKEN when set
	Env     []string      // extra KEY=value variables on top of this process's environment
	Timeout time.Duration // per call; DefaultTimeout when zero
}

// RepoInfo is what `gh repo view` tells about a repository.
type RepoInfo struct {
	Owner         string
	Name          string
	DefaultBranch string // empty for a repository without commits
	URL           string
}

// CreatePR opens a pull request from head into base of repo (OWNER/REPO or
// HOST/OWNER/REPO) and returns its URL. If an open pull request for head
// already exists, its URL is returned instead of opening a second one, so a
// retried step is harmless. The body goes through stdin, so its size and
// characters do not matter.
func (c *Client) CreatePR(ctx context.Context, repo, head, base, title, body string) (string, error) {
	if err := checkRepo(repo); err != nil {
		return "", err
	}
	if head == "" || base == "" {
		return "", fmt.Errorf("gh pr create: head (%q) and base (%q) branches are both required", head, base)
	}
	if url, err := c.openPRFor(ctx, repo, head); err != nil || url != "" {
		return url, err
	}
	out, _, err := c.run(ctx, strings.NewReader(body),
		"pr", "create", "--repo="+repo, "--head="+head, "--base="+base, "--title="+title, "--body-file=-")
	if err != nil {
		// Lost a race with another creator (or the list lagged): gh names the
		// existing pull request, which is the one we want.
		var ghErr *Error
		if errors.As(err, &ghErr) && strings.Contains(ghErr.Stderr, "already exists") {
			if url := pullURL.FindString(ghErr.Stderr); url != "" {
				return url, nil
			}
		}
		return "", err
	}
	// gh prints progress on stderr and the URL as the last line of stdout.
	url := pullURL.FindString(lastLine(out))
	if url == "" {
		return "", fmt.Errorf("gh pr create printed no pull request URL (stdout: %q)", textcut.Bytes(string(out), 200, "…"))
	}
	return url, nil
}

var pullURL = regexp.MustCompile(`https?://\S+/pull/[0-9]+`)

// pullURLWhole is a pull request's URL and nothing else: what CommentPR
// hands gh as its argument.
var pullURLWhole = regexp.MustCompile(`^https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/pull/[0-9]+$`)

// CommentPR adds a comment to the pull request at url (as create-pr
// returned it) and returns the comment's URL, "" when gh printed none.
// The body goes through stdin, like a pull request's.
func (c *Client) CommentPR(ctx context.Context, url, body string) (string, error) {
	if !pullURLWhole.MatchString(url) {
		return "", fmt.Errorf("gh pr comment: %q is not a pull request URL (https://HOST/OWNER/REPO/pull/N)", url)
	}
	out, _, err := c.run(ctx, strings.NewReader(body), "pr", "comment", url, "--body-file=-")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(lastLine(out)), nil
}

// openPRFor returns the URL of an open pull request from head, or "".
func (c *Client) openPRFor(ctx context.Context, repo, head string) (string, error) {
	out, _, err := c.run(ctx, nil, "pr", "list", "--repo="+repo, "--head="+head, "--state=open", "--json=url")
	if err != nil {
		return "", err
	}
	var prs []struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(out, &prs); err != nil {
		return "", fmt.Errorf("gh pr list printed unreadable JSON: %w (stdout: %q)", err, textcut.Bytes(string(out), 200, "…"))
	}
	if len(prs) == 0 {
		return "", nil
	}
	return prs[0].URL, nil
}

// ViewIssue reads issue number of repo.
func (c *Client) ViewIssue(ctx context.Context, repo string, number int) (events.Issue, error) {
	if err := checkRepo(repo); err != nil {
		return events.Issue{}, err
	}
	if number <= 0 {
		return events.Issue{}, fmt.Errorf("gh issue view: issue number must be positive, got %d", number)
	}
	out, _, err := c.run(ctx, nil, "issue", "view", strconv.Itoa(number), "--repo="+repo, "--json=number,title,body,url")
	if err != nil {
		return events.Issue{}, err
	}
	var is events.Issue
	if err := json.Unmarshal(out, &is); err != nil {
		return events.Issue{}, fmt.Errorf("gh issue view printed unreadable JSON: %w (stdout: %q)", err, textcut.Bytes(string(out), 200, "…"))
	}
	return is, nil
}

// ViewRepo reads a repository's owner, name, default branch and URL; it
// also proves the repository exists and the token can see it.
func (c *Client) ViewRepo(ctx context.Context, repo string) (RepoInfo, error) {
	if err := checkRepo(repo); err != nil {
		return RepoInfo{}, err
	}
	out, _, err := c.run(ctx, nil, "repo", "view", repo, "--json=name,owner,defaultBranchRef,url")
	if err != nil {
		return RepoInfo{}, err
	}
	var v struct {
		Name  string `json:"name"`
		Owner struct {
			Login string `json:"login"`
		} `json:"owner"`
		DefaultBranchRef struct {
			Name string `json:"name"`
		} `json:"defaultBranchRef"`
		URL string `json:"url"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return RepoInfo{}, fmt.Errorf("gh repo view printed unreadable JSON: %w (stdout: %q)", err, textcut.Bytes(string(out), 200, "…"))
	}
	return RepoInfo{Owner: v.Owner.Login, Name: v.Name, DefaultBranch: v.DefaultBranchRef.Name, URL: v.URL}, nil
}

// AuthStatus reports whether gh is logged in, with gh's own words for a
// health check. err is set only when gh could not answer at all.
func (c *Client) AuthStatus(ctx context.Context) (authenticated bool, detail string, err error) {
	stdout, stderr, err := c.run(ctx, nil, "auth", "status")
	if err != nil {
		var ghErr *Error
		if errors.As(err, &ghErr) && !ghErr.TimedOut {
			return false, ghErr.Stderr, nil
		}
		return false, "", err
	}
	// gh ≥ 2.40 reports on stdout, older versions on stderr.
	out := string(stdout)
	if strings.TrimSpace(out) == "" {
		out = string(stderr)
	}
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "Logged in to"); i >= 0 {
			return true, strings.TrimSpace(line[i:]), nil
		}
	}
	return true, textcut.Bytes(strings.TrimSpace(out), 300, "…"), nil
}

// Version returns gh's version number, e.g. "2.62.0".
func (c *Client) Version(ctx context.Context) (string, error) {
	out, _, err := c.run(ctx, nil, "--version")
	if err != nil {
		return "", err
	}
	first := strings.TrimSpace(firstLine(string(out)))
	if v, ok := strings.CutPrefix(first, "gh version "); ok {
		v, _, _ = strings.Cut(v, " ")
		return v, nil
	}
	return first, nil
}

// run calls gh with args and stdin (nil: no input) under the client's
// deadline. A parent context that ends first is returned as its error
// (wrapped), so callers can tell a shutdown from a gh failure.
func (c *Client) run(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr []byte, err error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	path := c.Path
	if path == "" {
		path = "gh"
	}
	name := commandName(args)
	ctx, span := traceCall(ctx, name)
	defer func() { endCall(span, err) }()
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(callCtx, path, args...)
	cmd.Env = c.environ()
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// Should gh leave a child holding its pipes after being killed, stop
	// waiting for their output rather than hang.
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if runErr == nil {
		return out.Bytes(), errOut.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	var exitErr *exec.ExitError
	switch {
	case callCtx.Err() != nil:
		return nil, nil, &Error{Command: name, ExitCode: -1, Timeout: timeout, TimedOut: true}
	case errors.As(runErr, &exitErr):
		said := strings.TrimSpace(errOut.String())
		if said == "" {
			said = strings.TrimSpace(out.String())
		}
		return nil, nil, &Error{Command: name, ExitCode: exitErr.ExitCode(), Stderr: textcut.Bytes(said, maxStderr, "…")}
	default:
		return nil, nil, fmt.Errorf("%w: running %s (GH_CLI_PATH=%s): %v", ErrNotStarted, name, path, runErr)
	}
}

// maxStderr keeps error messages, which end up in events, reasonably small.
const maxStderr = 2000

// environ is this process's environment plus what makes gh scriptable:
// later entries win, so the settings below cannot be overridden by accident.
func (c *Client) environ() []string {
	env := append(os.Environ(), c.Env...)
	if c.Token != "" {
		env = append(env, "GH_TOKEN="+c.Token)
	}
	return append(env,
		"GH_PROMPT_DISABLED=1",    // never wait for an answer nobody will type
		"NO_COLOR=1",              // no escape codes in errors we show users
		"GH_NO_UPDATE_NOTIFIER=1", // no "a new release is available" on stderr
	)
}

// commandName is "gh" plus the subcommand words, for messages.
func commandName(args []string) string {
	words := []string{"gh"}
	for _, a := range args {
		words = append(words, a)
		if strings.HasPrefix(a, "-") || len(words) == 3 {
			break
		}
	}
	return strings.Join(words, " ")
}

var repoPattern = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9.-]*/)?[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// checkRepo refuses anything but [HOST/]OWNER/REPO, the form gh's --repo
// takes; in particular nothing gh could read as a flag.
func checkRepo(repo string) error {
	if !repoPattern.MatchString(repo) || strings.HasPrefix(repo, "-") {
		return fmt.Errorf("gh: %q is not a repository name of the form OWNER/REPO or HOST/OWNER/REPO", repo)
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimLeft(s, "\n"), "\n")
	return line
}

func lastLine(b []byte) string {
	return lastLineOf(strings.TrimRight(string(b), "\n"))
}

func lastLineOf(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
