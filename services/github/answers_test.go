package github_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	github "github.com/agentworkorders/awo/services/github"
	"github.com/agentworkorders/awo/services/github/gh"
)

// answers runs the service with the real gh client on a fake gh; issues,
// when set, wraps the client for what the fake cannot do.
type answers struct {
	env     *natstest.Env
	bus     *bus.Bus
	fake    *fakegh.FakeGH
	lastSeq uint64
	n       int
}

func startAnswers(t *testing.T, opts fakegh.Options, publicURL string, wrap func(*gh.Client) github.IssueCLI) *answers {
	t.Helper()
	env := natstest.Start(t)
	fake := fakegh.Install(t, opts)
	cfg := testConfig(fake.Path)
	cfg.PublicURL = publicURL
	client := &gh.Client{Path: fake.Path, Token: "ghp_test"}
	var issues github.IssueCLI = client
	if wrap != nil {
		issues = wrap(client)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- github.Run(ctx, github.Deps{Config: cfg, Bus: env.Bus("awo/github"), Logger: testLogger(t), GH: client, Issues: issues})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	a := &answers{env: env, bus: env.Bus("test"), fake: fake}
	// The consumer starts with the events stored from its creation on.
	a.eventually(t, "the answers consumer exists", func() bool {
		_, err := env.JS.Consumer(context.Background(), bus.StreamEvents, github.AnswersConsumer)
		return err == nil
	})
	return a
}

func (a *answers) publish(t *testing.T, wo workorder.ID, typ string, data any) {
	t.Helper()
	a.n++
	seq, err := a.bus.PublishEvent(context.Background(), a.bus.Event(fmt.Sprintf("e%d", a.n), typ, wo, data), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.lastSeq = seq
}

func (a *answers) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// comments waits for issue n of repo to have want comments and returns them.
func (a *answers) comments(t *testing.T, repo string, n, want int) []string {
	t.Helper()
	var got []string
	a.eventually(t, fmt.Sprintf("%s#%d has %d comments", repo, n, want), func() bool {
		got = a.fake.IssueComments(t, repo, n)
		return len(got) >= want
	})
	if len(got) != want {
		t.Fatalf("%s#%d has %d comments, want %d: %q", repo, n, len(got), want, got)
	}
	return got
}

// settled waits until the consumer has handled (acked) every event
// published so far.
func (a *answers) settled(t *testing.T) jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	a.eventually(t, "every event is answered", func() bool {
		cons, err := a.env.JS.Consumer(context.Background(), bus.StreamEvents, github.AnswersConsumer)
		if err != nil {
			return false
		}
		info, err = cons.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= a.lastSeq && info.NumAckPending == 0 && info.NumPending == 0
	})
	return *info
}

func origin(repo string, n int) *events.Origin {
	return &events.Origin{Kind: events.OriginIssueLabel, Repository: repo, Number: n, DeliveryID: "d-" + repo, Sender: "octocat"}
}

func requested(o *events.Origin) *events.Requested {
	return &events.Requested{RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix the login", GitHubIssueNumber: "42", Origin: o}
}

func hasMarker(body, marker string) bool { return hasLine(body, marker) }

func TestAnswers_StartThenThePullRequest(t *testing.T) {
	a := startAnswers(t, fakegh.Options{}, "https://awo.example.com", nil)
	const wo = workorder.ID("wo-0000ab01")
	a.publish(t, wo, events.TypeRequested, requested(origin("acme/demo", 42)))
	got := a.comments(t, "acme/demo", 42, 1)
	if !strings.HasPrefix(got[0], "Working on it: work order `wo-0000ab01` https://awo.example.com/ui/work-orders/wo-0000ab01\n") ||
		!hasMarker(got[0], "<!-- awo work_order_id=wo-0000ab01 round=1 answer=start -->") {
		t.Fatalf("start comment:\n%s", got[0])
	}
	// Events between the start and the end are not answered.
	a.publish(t, wo, events.TypeStarted, &events.Started{Steps: []workorder.Step{workorder.StepCreatePR}})
	a.publish(t, wo, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"})
	got = a.comments(t, "acme/demo", 42, 2)
	if !strings.HasPrefix(got[1], "Done: work order `wo-0000ab01` opened https://github.com/acme/demo/pull/7\n") ||
		!strings.Contains(got[1], "Details: https://awo.example.com/ui/work-orders/wo-0000ab01") ||
		!hasMarker(got[1], "<!-- awo work_order_id=wo-0000ab01 round=1 answer=end -->") {
		t.Fatalf("end comment:\n%s", got[1])
	}
	a.settled(t)
	for _, c := range a.fake.Calls(t) {
		if c.Env["GH_TOKEN"] != "ghp_test" {
			t.Errorf("gh ran without the token: %+v", c.Args)
		}
	}
	if n := len(a.fake.Calls(t)); n != 2 {
		t.Errorf("gh ran %d times, want 2 (a first delivery posts without listing)", n)
	}
}

func TestAnswers_FailureSaysWhereAndWhyThenTheRetriedEnd(t *testing.T) {
	a := startAnswers(t, fakegh.Options{}, "", nil)
	const wo = workorder.ID("wo-0000ab02")
	a.publish(t, wo, events.TypeRequested, requested(origin("acme/demo", 5)))
	got := a.comments(t, "acme/demo", 5, 1)
	if strings.Contains(got[0], "http") {
		t.Errorf("a link without AWO_PUBLIC_URL:\n%s", got[0])
	}
	a.publish(t, wo, events.TypeFailed, &events.Failed{Step: workorder.StepExecute, ErrorMessage: "claude exited with 1:\nrate limited"})
	got = a.comments(t, "acme/demo", 5, 2)
	want := "Failed: work order `wo-0000ab02` at step `execute`.\n\n> claude exited with 1:\n> rate limited\n\n<!-- awo work_order_id=wo-0000ab02 round=1 answer=end -->\n"
	if got[1] != want {
		t.Fatalf("failure comment:\n%s\nwant\n%s", got[1], want)
	}
	// A retry of the round ends again, and that end is answered too.
	a.publish(t, wo, events.TypeRetryRequested, &events.RetryRequested{Round: 1})
	a.publish(t, wo, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/8"})
	got = a.comments(t, "acme/demo", 5, 3)
	if !strings.HasPrefix(got[2], "Done: work order `wo-0000ab02` opened https://github.com/acme/demo/pull/8") ||
		!hasMarker(got[2], "<!-- awo work_order_id=wo-0000ab02 round=1 answer=end retry=1 -->") {
		t.Fatalf("end after the retry:\n%s", got[2])
	}
}

func TestAnswers_FollowUpRoundAnswersOnThePullRequestAndCancelSaysWhy(t *testing.T) {
	a := startAnswers(t, fakegh.Options{}, "https://awo.example.com", nil)
	const wo = workorder.ID("wo-0000ab03")
	// The first round came from the API: nothing to answer.
	a.publish(t, wo, events.TypeRequested, requested(nil))
	a.publish(t, wo, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/9"})
	pr := &events.Origin{Kind: events.OriginPullRequestComment, Repository: "acme/demo", Number: 9, CommentID: 77, DeliveryID: "d2"}
	a.publish(t, wo, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "rename it", Round: 2, Origin: pr})
	got := a.comments(t, "acme/demo", 9, 1)
	if !strings.HasPrefix(got[0], "Working on it: work order `wo-0000ab03` (round 2) https://awo.example.com/ui/work-orders/wo-0000ab03") ||
		!hasMarker(got[0], "<!-- awo work_order_id=wo-0000ab03 round=2 answer=start -->") {
		t.Fatalf("follow-up start:\n%s", got[0])
	}
	a.publish(t, wo, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/9"})
	got = a.comments(t, "acme/demo", 9, 2)
	if !strings.HasPrefix(got[1], "Done: work order `wo-0000ab03` (round 2) updated https://github.com/acme/demo/pull/9") {
		t.Fatalf("follow-up end:\n%s", got[1])
	}
	// A third round, from GitHub again, is cancelled.
	a.publish(t, wo, events.TypeFollowUpRequested, &events.FollowUpRequested{PromptText: "and docs", Round: 3, Origin: pr})
	a.publish(t, wo, events.TypeCancelled, &events.Cancelled{Reason: "not needed after all"})
	got = a.comments(t, "acme/demo", 9, 4)
	if !strings.HasPrefix(got[3], "Cancelled: work order `wo-0000ab03` (round 3).\n\n> not needed after all\n") ||
		!hasMarker(got[3], "<!-- awo work_order_id=wo-0000ab03 round=3 answer=end -->") {
		t.Fatalf("cancel comment:\n%s", got[3])
	}
}

func TestAnswers_NoOriginNoComment(t *testing.T) {
	a := startAnswers(t, fakegh.Options{}, "https://awo.example.com", nil)
	const wo = workorder.ID("wo-0000ab04")
	a.publish(t, wo, events.TypeRequested, requested(nil))
	a.publish(t, wo, events.TypeFailed, &events.Failed{Step: workorder.StepExecute, ErrorMessage: "boom"})
	// An origin without a number names no place to answer.
	a.publish(t, "wo-0000ab05", events.TypeRequested, requested(&events.Origin{Repository: "acme/demo"}))
	info := a.settled(t)
	if info.Delivered.Stream < a.lastSeq {
		t.Fatalf("consumer at %d, want %d", info.Delivered.Stream, a.lastSeq)
	}
	if calls := a.fake.Calls(t); len(calls) != 0 {
		t.Fatalf("gh ran for work orders not asked for on GitHub: %+v", calls)
	}
}

// flakyIssues posts through the real client but reports failures as told:
// lost answers the first post after GitHub took it (as when gh times out
// on the way back), down fails the first posts without posting.
type flakyIssues struct {
	*gh.Client
	lost      bool
	down      int
	mu        sync.Mutex
	posts     int
	listCalls atomic.Int32
}

func (f *flakyIssues) CommentIssue(ctx context.Context, repo string, n int, body string) (string, error) {
	f.mu.Lock()
	f.posts++
	k := f.posts
	f.mu.Unlock()
	if k <= f.down {
		return "", &gh.Error{Command: "gh api repos/" + repo, ExitCode: 1, Stderr: "gh: Service Unavailable (HTTP 503)"}
	}
	url, err := f.Client.CommentIssue(ctx, repo, n, body)
	if err == nil && f.lost && k == 1 {
		return "", &gh.Error{Command: "gh api", ExitCode: -1, TimedOut: true, Timeout: time.Second}
	}
	return url, err
}

func (f *flakyIssues) IssueComments(ctx context.Context, repo string, n int) ([]gh.Comment, error) {
	f.listCalls.Add(1)
	return f.Client.IssueComments(ctx, repo, n)
}

func TestAnswers_RedeliveryAfterAPostedAnswerDoesNotPostTwice(t *testing.T) {
	var flaky *flakyIssues
	a := startAnswers(t, fakegh.Options{}, "", func(c *gh.Client) github.IssueCLI {
		flaky = &flakyIssues{Client: c, lost: true}
		return flaky
	})
	a.publish(t, "wo-0000ab06", events.TypeRequested, requested(origin("acme/demo", 11)))
	a.settled(t)
	if got := a.fake.IssueComments(t, "acme/demo", 11); len(got) != 1 {
		t.Fatalf("comments after a redelivery: %q, want the first one only", got)
	}
	if flaky.listCalls.Load() != 1 || flaky.posts != 1 {
		t.Fatalf("lists %d, posts %d; want the redelivery to list and not post", flaky.listCalls.Load(), flaky.posts)
	}
}

func TestAnswers_GitHubDownIsRetriedAGoneRepositoryIsDropped(t *testing.T) {
	var flaky *flakyIssues
	a := startAnswers(t, fakegh.Options{Repos: []string{"acme/demo"}}, "", func(c *gh.Client) github.IssueCLI {
		flaky = &flakyIssues{Client: c, down: 2}
		return flaky
	})
	start := time.Now()
	a.publish(t, "wo-0000ab07", events.TypeRequested, requested(origin("acme/demo", 12)))
	a.comments(t, "acme/demo", 12, 1)
	if waited := time.Since(start); waited < 2*time.Second {
		t.Errorf("answered after %s; two failures should have backed off 1 s then 2 s", waited)
	}
	// A repository that is gone is not asked again, and the next work
	// order's answer is not held up by it.
	a.publish(t, "wo-0000ab08", events.TypeRequested, requested(origin("acme/gone", 3)))
	a.publish(t, "wo-0000ab09", events.TypeRequested, requested(origin("acme/demo", 13)))
	a.comments(t, "acme/demo", 13, 1)
	a.settled(t)
	gone := 0
	for _, c := range a.fake.Calls(t) {
		if len(c.Args) > 1 && strings.Contains(c.Args[1], "acme/gone") {
			gone++
		}
	}
	if gone != 1 {
		t.Errorf("gh asked about the gone repository %d times, want once", gone)
	}
}

// A work order asked for on GitHub whose step waits for the daily budget
// says so where it was asked for, once per wait: it was accepted over the
// budget and starts later, not lost. A wait for a usage limit (minutes,
// and maybe many) is not answered.
func TestAnswers_DailyBudgetWaitSaysWhenItGoesOn(t *testing.T) {
	a := startAnswers(t, fakegh.Options{}, "https://awo.example.com", nil)
	const wo = workorder.ID("wo-0000ab09")
	a.publish(t, wo, events.TypeRequested, requested(origin("acme/demo", 12)))
	a.comments(t, "acme/demo", 12, 1)
	a.publish(t, wo, events.TypeStepWaiting, &events.StepWaiting{Step: workorder.StepCreateBranch, Attempt: 1,
		Reason: events.WaitUsageLimit, WaitingUntil: time.Date(2026, 12, 6, 23, 5, 0, 0, time.UTC), Message: "usage limit"})
	until := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	a.publish(t, wo, events.TypeStepWaiting, &events.StepWaiting{Step: workorder.StepCreateBranch, Attempt: 1,
		Reason: events.WaitDailyBudget, WaitingUntil: until,
		Message: "the daily budget (AWO_DAILY_BUDGET_USD=$1.00) is used up ($1.5000 spent today); create-branch runs at 2026-12-07T00:00:00Z"})
	got := a.comments(t, "acme/demo", 12, 2)
	if !strings.HasPrefix(got[1], "Waiting: work order `wo-0000ab09` goes on at 2026-12-07T00:00:00Z") ||
		!strings.Contains(got[1], "> the daily budget (AWO_DAILY_BUDGET_USD=$1.00) is used up") ||
		!strings.Contains(got[1], "https://awo.example.com/ui/work-orders/wo-0000ab09") ||
		!hasMarker(got[1], "<!-- awo work_order_id=wo-0000ab09 round=1 answer=wait until=2026-12-07T00:00:00Z -->") {
		t.Fatalf("wait comment:\n%s", got[1])
	}
	a.settled(t)
	if n := len(a.fake.IssueComments(t, "acme/demo", 12)); n != 2 {
		t.Errorf("%d comments, want 2 (the usage-limit wait is not answered)", n)
	}
}
