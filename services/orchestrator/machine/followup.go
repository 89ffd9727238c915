package machine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// firstRound is the number of a work order's first run; follow-up rounds
// are 2, 3, ...
const firstRound = 1

// round is the number of the run in hand: the first run until a follow-up
// is accepted.
func (s State) round() int { return max(s.Round, firstRound) }

// RoundPlan is the plan of a follow-up round: the agent works on the
// prompt, the work is committed and pushed to the same branch, and then
// the pull request is told what changed (comment-pr) when there is one, or
// opened (create-pr) when the client selected it and the first run never
// got that far.
func RoundPlan(selected []workorder.Step, pullRequestURL string) []workorder.Step {
	plan := []workorder.Step{workorder.StepFollowUp, workorder.StepCommit}
	switch {
	case pullRequestURL != "":
		plan = append(plan, workorder.StepCommentPR)
	case slices.Contains(selected, workorder.StepCreatePR):
		plan = append(plan, workorder.StepCreatePR)
	}
	return plan
}

// applyFollowUpRequested opens the next round on an ended work order,
// the way a retry reopens one: the steps already dispatched stay as they
// are (their history), the earlier round's steps that never ran are
// dropped, and the round's plan follows them. A step that ran before
// continues its attempt numbers, so the round's commands, dispatches and
// step events get ids of their own (a round's commit is commit.2, not a
// second commit.1 the stream would drop as a duplicate).
func applyFollowUpRequested(s State, e events.Event, d *events.FollowUpRequested) (State, error) {
	short := events.ShortName(e.Type)
	// Any later round will do, not only the next: a request the machine
	// refused (a retry got there first) still took its number, and the
	// gateway numbers the next request after it.
	if d.Round <= s.round() {
		return s, reject(s, short, fmt.Errorf("round %d is not after round %d", d.Round, s.round()))
	}
	if s.Facts.BranchName == "" {
		return s, reject(s, short, errors.New("the work order has no branch to follow up on"))
	}
	if strings.TrimSpace(d.PromptText) == "" {
		return s, reject(s, short, errors.New("the prompt is empty"))
	}
	s.Status = workorder.StatusRunning
	s.Round = d.Round
	s.FollowUpPrompt = d.PromptText
	if d.MaxCostUSD > 0 {
		s.Request.MaxCostUSD = d.MaxCostUSD
	}
	s.CancelRequested, s.CancelReason = false, ""
	s.FailedStep, s.Error = "", ""

	s.Steps = s.Steps[:s.Dispatched]
	s.RoundStart = s.Dispatched
	for _, step := range RoundPlan(s.Request.Selected, s.Facts.PullRequestURL) {
		s.Steps = append(s.Steps, StepState{Step: step, Status: StepPending, Attempt: s.lastAttempt(step)})
	}
	return s, nil
}

// lastAttempt is the attempt of step's latest dispatch in any round; 0
// when it never ran.
func (s State) lastAttempt(step workorder.Step) int {
	n := 0
	for _, st := range s.Steps {
		if st.Step == step {
			n = max(n, st.Attempt)
		}
	}
	return n
}

// roundArgs fills in what a follow-up round's command carries on top of
// the first run's arguments.
func (s State) roundArgs(a *events.StepArgs) {
	if s.round() == firstRound {
		return
	}
	a.Round = s.Round
	a.FollowUpPrompt = s.FollowUpPrompt
	a.ResumeSessionID = s.Facts.SessionID
	a.ResumeSessionCostUSD = s.Facts.SessionCostUSD
	a.PullRequestURL = s.Facts.PullRequestURL
}
