package github_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	github "github.com/agentworkorders/awo/services/github"
)

// verify asks the running service about url as the gateway does, once
// the service has started: it pulls commands (so a test ending right after
// does not stop it half-way through its start).
func verify(t *testing.T, env *natstest.Env, url string) (repocheck.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		cons, err := env.JS.Consumer(ctx, bus.StreamCommands, github.ConsumerName)
		if err == nil {
			if info, err := cons.Info(ctx); err == nil && info.NumWaiting > 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the github service did not start pulling commands")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return repocheck.NewClient(env.NC, 10*time.Second).Verify(context.Background(), url)
}

func TestVerifyRepository_AccessibleAndNotFound(t *testing.T) {
	h := start(t, fakegh.Options{Repos: []string{"acme/demo"}, DefaultBranch: "trunk"}, nil)

	got, err := verify(t, h.env, "https://github.com/acme/demo.git")
	want := repocheck.Result{Accessible: true, Name: "acme/demo", Owner: "acme", DefaultBranch: "trunk"}
	if err != nil || got != want {
		t.Fatalf("accessible: got %+v, %v; want %+v", got, err, want)
	}
	got, err = verify(t, h.env, "https://github.com/acme/private")
	if err != nil || got.Accessible || !strings.Contains(got.ErrorMessage, "Could not resolve to a Repository") {
		t.Fatalf("not found: got %+v, %v; want not accessible with gh's reason", got, err)
	}
	got, err = verify(t, h.env, "ext::sh -c evil")
	if err != nil || got.Accessible || got.ErrorMessage == "" {
		t.Fatalf("not a repository URL: got %+v, %v; want not accessible with the reason", got, err)
	}

	// gh was asked with the service's token, about the repository only.
	var views int
	for _, c := range h.fake.Calls(t) {
		if len(c.Args) >= 3 && c.Args[0] == "repo" && c.Args[1] == "view" {
			views++
			if c.Env["GH_TOKEN"] != "ghp_test" {
				t.Errorf("gh %v ran without the service's token: env %v", c.Args, c.Env)
			}
		}
	}
	if views != 2 {
		t.Errorf("gh repo view ran %d times, want 2 (the bad URL never reaches gh)", views)
	}
}

func TestVerifyRepository_GHOrGitHubFailingIsUnavailable(t *testing.T) {
	const token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	for _, tc := range []struct {
		name string
		opts fakegh.Options
		gh   string // GH_CLI_PATH when not the fake
		want string
	}{
		{name: "GitHubDown", opts: fakegh.Options{APIError: fakegh.GitHubDown}, want: "HTTP 503"},
		{name: "Unreachable", opts: fakegh.Options{APIError: fakegh.Unreachable}, want: "error connecting to api.github.com"},
		{name: "BadCredentials", opts: fakegh.Options{APIError: fakegh.BadCredentials + " token " + token}, want: "HTTP 401"},
		{name: "RateLimited", opts: fakegh.Options{APIError: "HTTP 403: API rate limit exceeded for user ID 1."}, want: "rate limit"},
		{name: "GHMissing", gh: filepath.Join(t.TempDir(), "no-such-gh"), want: "gh could not be started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.opts, func(c *config.GitHub) {
				if tc.gh != "" {
					c.GHCLIPath = tc.gh
				}
			})
			got, err := verify(t, h.env, "https://github.com/acme/demo")
			if !errors.Is(err, repocheck.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %+v, %v; want ErrUnavailable saying %q", got, err, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("the token left the service: %v", err)
			}
		})
	}
}

func TestVerifyRepository_ForbiddenIsNotAccessible(t *testing.T) {
	h := start(t, fakegh.Options{APIError: "HTTP 403: Resource not accessible by integration (https://api.github.com/repos/acme/demo)"}, nil)
	got, err := verify(t, h.env, "https://github.com/acme/demo")
	if err != nil || got.Accessible || !strings.Contains(got.ErrorMessage, "HTTP 403") {
		t.Fatalf("got %+v, %v; want not accessible", got, err)
	}
}
