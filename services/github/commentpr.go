package github

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/github/gh"
)

// commentPR ends a follow-up round on a work order that has a pull
// request: the round's commit has updated it, and a comment says what the
// round was asked and what the agent did. The result carries the pull
// request's URL.
func (s *service) commentPR(ctx context.Context, cmd events.RunStep) (events.StepResult, error) {
	pr := strings.TrimSpace(cmd.Args.PullRequestURL)
	if pr == "" {
		return events.StepResult{}, errors.New("comment-pr needs the work order's pull request, and it has none")
	}
	repo, err := ghRepo(cmd.RepositoryURL, s.cfg.AllowLocalRepos)
	if err != nil {
		return events.StepResult{}, fmt.Errorf("comment-pr: %w", err)
	}
	if !pullRequestOf(pr, repo) {
		return events.StepResult{}, fmt.Errorf("comment-pr: %s is not a pull request of %s", pr, repo)
	}
	done := events.StepResult{PullRequestURL: pr, Output: pr}
	if worker.Delivered(ctx) > 1 {
		// An earlier delivery may have posted the comment and been stopped
		// before its result was recorded: post it once only.
		posted, err := s.postedComment(ctx, pr, commentMarker(cmd.WorkOrderID, cmd.Args.Round))
		if err != nil {
			return events.StepResult{}, err
		}
		if posted != "" {
			s.log.Info("comment-pr: the round's comment is already on the pull request; not posting it again",
				"work_order_id", string(cmd.WorkOrderID), "round", cmd.Args.Round, "comment", posted)
			return done, nil
		}
	}
	// The body is published where the service's readers are not the only
	// ones to see it: no secret the prompt or the agent let slip.
	body := s.red.String(PRComment(cmd.WorkOrderID, cmd.Args))
	if _, err := s.gh.CommentPR(ctx, pr, body); err != nil {
		return events.StepResult{}, fmt.Errorf("commenting on %s: %w", pr, err)
	}
	return done, nil
}

// postedComment returns the URL of pr's comment carrying marker ("" when
// none does; a comment gh gives no URL for is named by pr).
func (s *service) postedComment(ctx context.Context, pr, marker string) (string, error) {
	comments, err := s.gh.PRComments(ctx, pr)
	if err != nil {
		return "", fmt.Errorf("reading the comments of %s (to post the round's comment once only): %w", pr, err)
	}
	return markedComment(comments, marker, pr), nil
}

// markedComment returns the URL of the first of comments with marker as
// one of its lines; where names it when gh gave no URL, "" when none has it.
func markedComment(comments []gh.Comment, marker, where string) string {
	for _, c := range comments {
		for _, line := range strings.Split(c.Body, "\n") {
			if strings.TrimSpace(line) == marker {
				if c.URL == "" {
					return where
				}
				return c.URL
			}
		}
	}
	return ""
}

// commentMarker is the hidden line that ends a round's comment: it names
// the work order and the round, so a redelivered comment-pr finds the
// comment an earlier delivery posted.
func commentMarker(wo workorder.ID, round int) string {
	return fmt.Sprintf("<!-- awo work_order_id=%s round=%d -->", wo, round)
}

// pullRequestOf reports whether url is a pull request of repo
// ([HOST/]OWNER/REPO, as ghRepo names it): a round comments on its own
// work order's pull request only.
func pullRequestOf(raw, repo string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" {
		return false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 4 || parts[2] != "pull" {
		return false
	}
	want := strings.Split(repo, "/")
	if len(want) == 3 && !strings.EqualFold(want[0], u.Hostname()) {
		return false
	}
	return strings.EqualFold(parts[0]+"/"+parts[1], strings.Join(want[len(want)-2:], "/"))
}

// PRComment is the comment that ends a follow-up round: the reviewer's
// prompt, quoted, what the agent answered and the round's commit, cut like
// a pull request's body. A hidden line names the work order and the round.
func PRComment(wo workorder.ID, a events.StepArgs) string {
	var b strings.Builder
	if a.Round > 1 {
		fmt.Fprintf(&b, "## Follow-up (round %d)\n\n", a.Round)
	} else {
		b.WriteString("## Follow-up\n\n")
	}
	if p := strings.TrimSpace(a.FollowUpPrompt); p != "" {
		b.WriteString("Asked:\n\n")
		for _, line := range strings.Split(textcut.Runes(p, maxRequestChars, sectionCut), "\n") {
			b.WriteString(strings.TrimRight("> "+line, " ") + "\n")
		}
	}
	done := strings.TrimSpace(a.StepOutputs[workorder.StepFollowUp])
	if done == "" {
		done = "The agent reported nothing."
	}
	section(&b, "What changed", done)
	section(&b, "Commit", a.StepOutputs[workorder.StepCommit])
	b.WriteString("\n---\n_Follow-up by Agent Work Orders")
	if a.BranchName != "" {
		fmt.Fprintf(&b, ", pushed to `%s`", a.BranchName)
	}
	b.WriteString("._\n")
	b.WriteString(commentMarker(wo, a.Round) + "\n")
	return b.String()
}
