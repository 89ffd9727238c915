package github_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	github "github.com/agentworkorders/awo/services/github"
)

func (s *stubCLI) CommentPR(context.Context, string, string) (string, error) { return "", nil }

const ghToken = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"

func commentPR(wo workorder.ID, args events.StepArgs) events.RunStep {
	c := createPR(wo, args)
	c.Step, c.Attempt = workorder.StepCommentPR, 1
	return c
}

// runComment is harness.run for a command after another step of the same
// work order and attempt: it waits for the result of cmd's step.
func (h *harness) runComment(t *testing.T, cmd events.RunStep) ([]events.Event, events.StepResult) {
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
		for _, e := range got.Events {
			if r, ok := e.Data.(*events.StepResult); ok && r.Step == cmd.Step && r.Attempt == cmd.Attempt {
				return got.Events, *r
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no step result for %s; events so far: %v", cmd.ID(), types(got.Events))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func roundArgs(pr string) events.StepArgs {
	return events.StepArgs{
		UserRequest: "Add a login page", BranchName: "feat/add-login-page", PlanFile: "PRPs/login.md",
		Round: 2, FollowUpPrompt: "Also handle the empty case.\nMy token is " + ghToken, PullRequestURL: pr,
		StepOutputs: map[workorder.Step]string{
			workorder.StepFollowUp: "Handled an empty password in login.go; go test ./... passes.",
			workorder.StepCommit:   "fix: handle an empty password",
		},
	}
}

// A follow-up round on a work order with a pull request ends with a
// comment on it saying what was asked and done; no second pull request.
func TestCommentPR_CommentsTheRoundOnThePullRequest(t *testing.T) {
	h := start(t, fakegh.Options{}, nil)
	const wo = "wo-0000cc01"
	_, opened := h.run(t, createPR(wo, events.StepArgs{UserRequest: "Add a login page", BranchName: "feat/add-login-page", BaseBranch: "main"}))
	if !opened.Success {
		t.Fatalf("create-pr: %+v", opened)
	}
	hist, res := h.runComment(t, commentPR(wo, roundArgs(opened.PullRequestURL)))
	if got := types(hist); got[len(got)-2] != "step.started" || got[len(got)-1] != "step.completed" {
		t.Fatalf("events = %v", got)
	}
	if started := hist[len(hist)-2].Data.(*events.StepStarted); started.AgentName != "PrCommenter" {
		t.Errorf("started = %+v", started)
	}
	if !res.Success || res.PullRequestURL != opened.PullRequestURL || res.Step != workorder.StepCommentPR {
		t.Fatalf("result = %+v", res)
	}
	prs := h.fake.PRs(t)
	if len(prs) != 1 || len(prs[0].Comments) != 1 {
		t.Fatalf("pull requests %+v; want one with one comment", prs)
	}
	body := prs[0].Comments[0]
	for _, want := range []string{"## Follow-up (round 2)", "> Also handle the empty case.", "## What changed",
		"Handled an empty password in login.go", "fix: handle an empty password", "`feat/add-login-page`",
		"<!-- awo work_order_id=wo-0000cc01 round=2 -->"} {
		if !strings.Contains(body, want) {
			t.Errorf("comment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, ghToken) {
		t.Errorf("the comment carries the token:\n%s", body)
	}
	if n := h.ghCalls(t, "pr create"); n != 1 {
		t.Errorf("gh pr create ran %d times, want once", n)
	}
}

func TestCommentPR_FailuresFailTheStepWithTheReason(t *testing.T) {
	for _, tc := range []struct {
		name, pr, want string
		opts           fakegh.Options
	}{
		{"GitHub fails", "https://github.com/acme/demo/pull/1", "HTTP 502: Server Error", fakegh.Options{PRCommentError: "HTTP 502: Server Error (https://api.github.com/graphql)"}},
		{"no such pull request", "https://github.com/acme/demo/pull/9", "Could not resolve to a PullRequest", fakegh.Options{}},
		{"no pull request", "", "has none", fakegh.Options{}},
		{"another repository's", "https://github.com/evil/demo/pull/1", "is not a pull request of acme/demo", fakegh.Options{}},
		{"not a URL", "--help", "is not a pull request of acme/demo", fakegh.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.opts, nil)
			const wo = "wo-0000cc02"
			if _, opened := h.run(t, createPR(wo, events.StepArgs{UserRequest: "x", BranchName: "feat/x", BaseBranch: "main"})); !opened.Success {
				t.Fatalf("create-pr: %+v", opened)
			}
			hist, res := h.runComment(t, commentPR(wo, roundArgs(tc.pr)))
			if res.Success || !strings.Contains(res.ErrorMessage, tc.want) {
				t.Fatalf("result = %+v; want a failure saying %q", res, tc.want)
			}
			if got := types(hist); got[len(got)-1] != "step.failed" {
				t.Errorf("events = %v", got)
			}
			if c := h.fake.PRs(t)[0].Comments; len(c) != 0 {
				t.Errorf("comments = %q", c)
			}
			if n := h.settled(t); n != 0 {
				t.Errorf("%d redeliveries of a step GitHub refused", n)
			}
		})
	}
}

// A long prompt and a long answer are cut so the comment stays within
// GitHub's 65536 characters.
func TestPRComment_CutsLongSections(t *testing.T) {
	a := roundArgs("https://github.com/acme/demo/pull/1")
	a.FollowUpPrompt = strings.Repeat("please ", 10000)
	a.StepOutputs[workorder.StepFollowUp] = strings.Repeat("did it ", 20000)
	body := github.PRComment("wo-0000cc03", a)
	if n := utf8.RuneCountInString(body); n > 30000 {
		t.Errorf("comment of %d characters", n)
	}
	if strings.Count(body, "… (cut)") != 2 {
		t.Errorf("want both sections marked as cut:\n%s", body[len(body)-300:])
	}
}
