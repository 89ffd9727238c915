package github_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	github "github.com/agentworkorders/awo/services/github"
	"github.com/agentworkorders/awo/services/github/gh"
)

// killedCommenter is a replica's gh that is stopped in the middle of
// `gh pr comment`: after GitHub took the comment (post) or before, it
// never answers, so the step's result is never recorded.
type killedCommenter struct {
	*gh.Client
	post    bool
	entered chan struct{}
}

func (k *killedCommenter) CommentPR(ctx context.Context, url, body string) (string, error) {
	if k.post {
		if _, err := k.Client.CommentPR(context.WithoutCancel(ctx), url, body); err != nil {
			return "", err
		}
	}
	close(k.entered)
	<-ctx.Done()
	return "", ctx.Err()
}

// A comment-pr whose replica was stopped before its result was recorded is
// redelivered to another one, which posts the round's comment only if the
// first did not: it reads the pull request's comments for the round's
// hidden marker first.
func TestCommentPR_Redelivered_PostsTheRoundsCommentOnce(t *testing.T) {
	for _, tc := range []struct {
		name           string
		posted         bool // by the stopped replica
		opts           fakegh.Options
		wantSuccess    bool
		wantComments   int // in all, the other round's included
		wantPRComments int // gh pr comment run by the second replica
	}{
		{"comment already posted", true, fakegh.Options{}, true, 2, 0},
		{"comment not posted yet", false, fakegh.Options{}, true, 2, 1},
		{"the comments cannot be read", false, fakegh.Options{PRViewError: "HTTP 502: Server Error"}, false, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := natstest.Start(t)
			fake := fakegh.Install(t, tc.opts)
			client := &gh.Client{Path: fake.Path, Token: "ghp_test"}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pr, err := client.CreatePR(ctx, "acme/demo", "feat/add-login-page", "main", "t", "b")
			if err != nil {
				t.Fatal(err)
			}
			const wo = "wo-0000cc10"
			// The previous round's comment carries another marker.
			earlier := roundArgs(pr)
			earlier.Round = 1
			if _, err := client.CommentPR(ctx, pr, github.PRComment(wo, earlier)); err != nil {
				t.Fatal(err)
			}

			cfg := testConfig(fake.Path)
			cfg.ShutdownGrace = 200 * time.Millisecond
			first := &killedCommenter{Client: client, post: tc.posted, entered: make(chan struct{})}
			stopFirst := runService(t, env, cfg, first)
			b := env.Bus("test")
			cmd := commentPR(wo, roundArgs(pr))
			if err := worker.PublishCommand(ctx, b, cmd); err != nil {
				t.Fatal(err)
			}
			select {
			case <-first.entered:
			case <-ctx.Done():
				t.Fatal("the first replica never commented")
			}
			stopFirst()
			callsBefore := len(fake.Calls(t))

			runService(t, env, cfg, nil)
			h := &harness{env: env, bus: b, fake: fake}
			hist, res := h.runComment(t, cmd)
			if res.Success != tc.wantSuccess || (tc.wantSuccess && res.PullRequestURL != pr) {
				t.Fatalf("result = %+v (events %v)", res, types(hist))
			}
			if !tc.wantSuccess && !strings.Contains(res.ErrorMessage, "reading the comments of "+pr) {
				t.Errorf("error = %q, want it to say the comments could not be read", res.ErrorMessage)
			}
			comments := fake.PRs(t)[0].Comments
			if len(comments) != tc.wantComments {
				t.Fatalf("%d comments, want %d: %q", len(comments), tc.wantComments, comments)
			}
			if got := comments[len(comments)-1]; tc.wantComments == 2 && !strings.Contains(got, "<!-- awo work_order_id=wo-0000cc10 round=2 -->") {
				t.Errorf("last comment is not the round's:\n%s", got)
			}
			var views, posts int
			for _, c := range fake.Calls(t)[callsBefore:] {
				switch strings.Join(c.Args[:min(2, len(c.Args))], " ") {
				case "pr view":
					views++
					if strings.Join(c.Args, " ") != "pr view "+pr+" --json=comments" {
						t.Errorf("gh %q", c.Args)
					}
				case "pr comment":
					posts++
				}
			}
			if views != 1 || posts != tc.wantPRComments {
				t.Errorf("the redelivery ran gh pr view %d times, gh pr comment %d times; want 1 and %d", views, posts, tc.wantPRComments)
			}
		})
	}
}
