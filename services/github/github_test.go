package github_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	github "github.com/agentworkorders/awo/services/github"
	"github.com/agentworkorders/awo/services/github/gh"
)

// harness runs the service against an embedded JetStream and the real gh
// client driving a fake gh.
type harness struct {
	env  *natstest.Env
	bus  *bus.Bus
	fake *fakegh.FakeGH
}

func start(t *testing.T, opts fakegh.Options, tweak func(*config.GitHub)) *harness {
	t.Helper()
	env := natstest.Start(t)
	fake := fakegh.Install(t, opts)
	cfg := testConfig(fake.Path)
	if tweak != nil {
		tweak(&cfg)
	}
	runService(t, env, cfg, nil)
	return &harness{env: env, bus: env.Bus("test"), fake: fake}
}

func testConfig(ghPath string) config.GitHub {
	return config.GitHub{Shared: config.Shared{
		GHCLIPath: ghPath, GHToken: "ghp_test",
		AckWait: 5 * time.Second, MaxDeliver: 3, ShutdownGrace: time.Second,
		WorkerIdentifier: "test-worker",
	}}
}

// runService runs the service, with cli or else Build's gh client, until
// the returned stop is called (or the test ends) and checks that it then
// returns cleanly.
func runService(t *testing.T, env *natstest.Env, cfg config.GitHub, cli github.CLI) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		d := github.Deps{Config: cfg, Bus: env.Bus("awo/github"), Logger: testLogger(t), GH: cli}
		if cli == nil { // the gh at cfg.GHCLIPath, as the mains build it
			d = github.Build(ctx, cfg, d.Bus, d.Logger, nil)
		}
		done <- github.Run(ctx, d)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
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
	}
	t.Cleanup(stop)
	return stop
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// run publishes cmd and waits for the step's result event; it returns the
// work order's events and that result.
func (h *harness) run(t *testing.T, cmd events.RunStep) ([]events.Event, events.StepResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := worker.PublishCommand(ctx, h.bus, cmd); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := h.bus.History(ctx, cmd.WorkOrderID, 0)
		if err != nil {
			t.Fatal(err)
		}
		hist := got.Events
		for _, e := range hist {
			r, ok := e.Data.(*events.StepResult)
			if ok && r.Attempt == cmd.Attempt {
				return hist, *r
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no step result for %s; events so far: %v", cmd.ID(), types(hist))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func types(es []events.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = events.ShortName(e.Type)
	}
	return out
}

// settled waits until the consumer holds no unacknowledged command and
// reports how many deliveries were redeliveries.
func (h *harness) settled(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := h.env.JS.Consumer(ctx, bus.StreamCommands, github.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			return info.NumRedelivered
		}
		select {
		case <-ctx.Done():
			t.Fatalf("commands still pending: %+v", info)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *harness) ghCalls(t *testing.T, sub string) int {
	n := 0
	for _, c := range h.fake.Calls(t) {
		if len(c.Args) >= 2 && c.Args[0]+" "+c.Args[1] == sub {
			n++
		}
	}
	return n
}

func createPR(wo workorder.ID, args events.StepArgs) events.RunStep {
	return events.RunStep{
		WorkOrderID: wo, Step: workorder.StepCreatePR, Attempt: 1,
		RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		SandboxIdentifier: wo.SandboxIdentifier(), Args: args,
	}
}

func TestCreatePR_PublishesStartedAndCompletedWithURL(t *testing.T) {
	for _, tc := range []struct {
		name, base, wantBase string
		repoViews            int
	}{
		{"base from the repository's default branch", "", "trunk", 1},
		{"base from create-branch", "release-1", "release-1", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, fakegh.Options{DefaultBranch: "trunk"}, nil)
			hist, res := h.run(t, createPR("wo-0000aa01", events.StepArgs{
				UserRequest: "Add a login page", IssueNumber: "42", BranchName: "feat/add-login-page", BaseBranch: tc.base,
				StepOutputs: map[workorder.Step]string{workorder.StepCommit: "feat: add login page"},
			}))
			if got := types(hist); len(got) != 2 || got[0] != "step.started" || got[1] != "step.completed" {
				t.Fatalf("events = %v, want [step.started step.completed]", got)
			}
			started := hist[0].Data.(*events.StepStarted)
			if started.Step != workorder.StepCreatePR || started.AgentName != "PrCreator" || started.Worker != "test-worker" {
				t.Errorf("started = %+v", started)
			}
			const url = "https://github.com/acme/demo/pull/1"
			if !res.Success || res.PullRequestURL != url || res.Output != url || res.Step != workorder.StepCreatePR {
				t.Fatalf("result = %+v", res)
			}
			prs := h.fake.PRs(t)
			if len(prs) != 1 {
				t.Fatalf("opened %d PRs", len(prs))
			}
			pr := prs[0]
			if pr.Repo != "acme/demo" || pr.Head != "feat/add-login-page" || pr.Base != tc.wantBase || pr.Title != "feat: add login page" {
				t.Errorf("PR = %+v", pr)
			}
			if !strings.Contains(pr.Body, "Closes #42") || !strings.Contains(pr.Body, "feat: add login page") {
				t.Errorf("PR body:\n%s", pr.Body)
			}
			// A comment on the pull request is mapped back to its work
			// order by this line (the inbound webhook).
			if !hasLine(pr.Body, "<!-- awo work_order_id=wo-0000aa01 -->") {
				t.Errorf("PR body lacks the work order's marker line:\n%s", pr.Body)
			}
			if n := h.ghCalls(t, "repo view"); n != tc.repoViews {
				t.Errorf("gh repo view ran %d times, want %d", n, tc.repoViews)
			}
		})
	}
}

func TestCreatePR_SecondAttemptReusesTheOpenPR(t *testing.T) {
	h := start(t, fakegh.Options{}, nil)
	cmd := createPR("wo-0000aa02", events.StepArgs{UserRequest: "x", BranchName: "fix/thing", BaseBranch: "main"})
	_, first := h.run(t, cmd)
	cmd.Attempt = 2
	_, second := h.run(t, cmd)
	if !first.Success || !second.Success || first.PullRequestURL != second.PullRequestURL {
		t.Fatalf("first %+v\nsecond %+v", first, second)
	}
	if n := h.fake.PRCreates(t); n != 1 {
		t.Fatalf("%d PRs opened for one branch", n)
	}
}

func TestCreatePR_GhFailure_FailsStepWithReasonWithoutRetry(t *testing.T) {
	h := start(t, fakegh.Options{PRCreateError: "pull request create failed: GraphQL: No commits between main and feat/empty (createPullRequest)"}, nil)
	hist, res := h.run(t, createPR("wo-0000aa03", events.StepArgs{UserRequest: "x", BranchName: "feat/empty", BaseBranch: "main"}))
	want := "gh pr create failed: pull request create failed: GraphQL: No commits between main and feat/empty (createPullRequest)"
	if res.Success || res.ErrorMessage != want {
		t.Fatalf("result = %+v\nwant error %q", res, want)
	}
	if got := types(hist); got[len(got)-1] != "step.failed" {
		t.Fatalf("events = %v", got)
	}
	if redelivered := h.settled(t); redelivered != 0 {
		t.Fatalf("a gh failure was retried (%d redeliveries)", redelivered)
	}
	if n := h.ghCalls(t, "pr create"); n != 1 {
		t.Fatalf("gh pr create ran %d times", n)
	}
}

func TestCreatePR_WithoutBranch_Fails(t *testing.T) {
	h := start(t, fakegh.Options{}, nil)
	_, res := h.run(t, createPR("wo-0000aa04", events.StepArgs{UserRequest: "x"}))
	if res.Success || res.ErrorMessage != "create-pr needs a branch: run create-branch first" {
		t.Fatalf("result = %+v", res)
	}
	if n := h.ghCalls(t, "pr create") + h.ghCalls(t, "pr list"); n != 0 {
		t.Fatalf("gh pr commands ran %d times", n)
	}
}

func TestCreatePR_RepositoryNotOnGitHubFails(t *testing.T) {
	h := start(t, fakegh.Options{}, nil)
	cmd := createPR("wo-0000aa05", events.StepArgs{UserRequest: "x", BranchName: "feat/x", BaseBranch: "main"})
	cmd.RepositoryURL = "/srv/git/acme/demo.git" // local repositories are not allowed here
	_, res := h.run(t, cmd)
	if res.Success || !strings.HasPrefix(res.ErrorMessage, "create-pr: ") || !strings.Contains(res.ErrorMessage, "local path") {
		t.Fatalf("result = %+v", res)
	}
}

func TestFetchIssue_CompletesWithTheIssue(t *testing.T) {
	issue := events.Issue{Number: 42, Title: "Login fails on Safari", Body: "Steps:\n1. open\n2. log in", URL: "https://github.com/acme/demo/issues/42"}
	h := start(t, fakegh.Options{Issues: []events.Issue{issue}}, nil)
	hist, res := h.run(t, events.RunStep{
		WorkOrderID: "wo-0000bb01", Step: workorder.StepFetchIssue, Attempt: 1,
		RepositoryURL: "git@github.com:acme/demo.git", Args: events.StepArgs{UserRequest: "fix it", IssueNumber: "#42"},
	})
	if got := types(hist); len(got) != 2 || got[1] != "step.completed" {
		t.Fatalf("events = %v", got)
	}
	if !res.Success || res.Issue == nil || *res.Issue != issue || res.Output != issue.Title || res.AgentName != "IssueReader" {
		t.Fatalf("result = %+v", res)
	}
}

func TestFetchIssue_Failures(t *testing.T) {
	for _, tc := range []struct{ name, number, wantErr string }{
		{"unknown issue", "7", "reading issue #7 of acme/demo: gh issue view failed: GraphQL: Could not resolve to an issue or pull request with the number of 7. (repository.issue)"},
		{"not a number", "seven", `fetch-issue needs a GitHub issue number such as 42, got "seven"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, fakegh.Options{}, nil)
			_, res := h.run(t, events.RunStep{
				WorkOrderID: "wo-0000bb02", Step: workorder.StepFetchIssue, Attempt: 1,
				RepositoryURL: "https://github.com/acme/demo", Args: events.StepArgs{IssueNumber: tc.number},
			})
			if res.Success || res.ErrorMessage != tc.wantErr {
				t.Fatalf("error = %q\nwant    %q", res.ErrorMessage, tc.wantErr)
			}
		})
	}
}

func TestMissingGh_IsRetriedThenFailsVisibly(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-gh-here")
	h := start(t, fakegh.Options{}, func(c *config.GitHub) { c.GHCLIPath = missing; c.MaxDeliver = 2 })
	hist, res := h.run(t, createPR("wo-0000cc01", events.StepArgs{UserRequest: "x", BranchName: "feat/x", BaseBranch: "main"}))
	if res.Success || !strings.HasPrefix(res.ErrorMessage, "the github service gave up on create-pr after 2 deliveries: gh could not be started") ||
		!strings.Contains(res.ErrorMessage, missing) {
		t.Fatalf("result = %+v", res)
	}
	if got := types(hist); got[0] != "step.started" || got[len(got)-1] != "step.failed" {
		t.Fatalf("events = %v", got)
	}
	// The command is dead-lettered with the reason.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := h.env.JS.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, bus.DLQSubject(github.ConsumerName, worker.CommandSubject(workorder.StepCreatePR)))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if !strings.Contains(msg.Header.Get(bus.HeaderDLQError), "gh could not be started") {
		t.Fatalf("dead letter reason = %q", msg.Header.Get(bus.HeaderDLQError))
	}
}

// stubCLI is a hand-written CLI for what the fake gh cannot do: hold a call
// until the test lets go.
type stubCLI struct {
	entered chan struct{}
}

func (s *stubCLI) CreatePR(ctx context.Context, _, _, _, _, _ string) (string, error) {
	close(s.entered)
	<-ctx.Done()
	return "", ctx.Err()
}

func (s *stubCLI) ViewIssue(context.Context, string, int) (events.Issue, error) {
	return events.Issue{}, errors.New("not used")
}

func (s *stubCLI) ViewRepo(context.Context, string) (gh.RepoInfo, error) {
	return gh.RepoInfo{}, errors.New("not used")
}

func (s *stubCLI) PRComments(context.Context, string) ([]gh.Comment, error) {
	return nil, errors.New("not used")
}

func TestShutdown_CallPastGraceIsHandedBackToAnotherReplica(t *testing.T) {
	env := natstest.Start(t)
	cfg := testConfig("")
	cfg.ShutdownGrace = 200 * time.Millisecond
	stuck := &stubCLI{entered: make(chan struct{})}
	stopFirst := runService(t, env, cfg, stuck)

	b := env.Bus("test")
	cmd := createPR("wo-0000dd01", events.StepArgs{UserRequest: "x", BranchName: "feat/x", BaseBranch: "main"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := worker.PublishCommand(ctx, b, cmd); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck.entered:
	case <-ctx.Done():
		t.Fatal("the first replica never called gh")
	}
	stopFirst()
	hist, err := b.History(ctx, cmd.WorkOrderID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(hist.Events); len(got) != 1 || got[0] != "step.started" {
		t.Fatalf("after an interrupted call: events = %v, want only step.started", got)
	}

	fake := fakegh.Install(t, fakegh.Options{})
	cfg.GHCLIPath = fake.Path
	runService(t, env, cfg, nil)
	h := &harness{env: env, bus: b, fake: fake}
	_, res := h.run(t, cmd) // re-publishing is dropped as a duplicate; this waits for the result
	if !res.Success || res.PullRequestURL != "https://github.com/acme/demo/pull/1" {
		t.Fatalf("second replica: %+v", res)
	}
}

// gh's complaint may quote a token: the failed step's error carries none.
func TestCreatePR_GhFailure_ErrorIsRedacted(t *testing.T) {
	const token = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
	h := start(t, fakegh.Options{PRCreateError: "HTTP 401: Bad credentials (token " + token + ")"}, nil)
	_, res := h.run(t, createPR("wo-0000aa0f", events.StepArgs{UserRequest: "x", BranchName: "feat/secret", BaseBranch: "main"}))
	if res.Success || strings.Contains(res.ErrorMessage, token) || !strings.Contains(res.ErrorMessage, "Bad credentials (token [REDACTED])") {
		t.Fatalf("result = %+v", res)
	}
}

// hasLine reports whether text has line as one of its lines, spaces aside.
func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
