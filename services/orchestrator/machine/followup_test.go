package machine_test

import (
	"slices"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

const (
	co  = workorder.StepCommit
	cpr = workorder.StepCreatePR
	cmt = workorder.StepCommentPR
)

// withSessions answers like answer, and the agent steps record a session
// named after the step and attempt, as the executor does.
func withSessions(w worker) worker {
	return func(cmd events.RunStep) events.Event {
		e := w(cmd)
		if r, ok := e.Data.(*events.StepResult); ok && cmd.Step.Service() == "executor" && cmd.Step != workorder.StepCreateBranch {
			r.SessionID = "sess-" + string(cmd.Step) + "-" + string(rune('0'+cmd.Attempt))
		}
		return e
	}
}

func TestRoundPlan(t *testing.T) {
	for _, c := range []struct {
		name     string
		selected []workorder.Step
		pr       string
		want     []workorder.Step
	}{
		{"a pull request is commented on", []workorder.Step{cb, pl, ex, co, cpr}, "https://github.com/acme/demo/pull/7", []workorder.Step{fu, co, cmt}},
		{"no pull request yet, create-pr selected", []workorder.Step{cb, ex, co, cpr}, "", []workorder.Step{fu, co, cpr}},
		{"no pull request and none wanted", []workorder.Step{cb, ex, co}, "", []workorder.Step{fu, co}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := machine.RoundPlan(c.selected, c.pr); !slices.Equal(got, c.want) {
				t.Fatalf("RoundPlan = %v, want %v", got, c.want)
			}
		})
	}
}

func TestFollowUp_RunsARoundThatCommentsOnThePullRequest(t *testing.T) {
	plan := []workorder.Step{cb, pl, ex, co, cpr}
	first := drive(t, withSessions(answer), requested("", plan...))
	if first.State.Status != workorder.StatusCompleted {
		t.Fatalf("first run ended %s", first.State)
	}
	round := driveFrom(t, withSessions(answer), first.State, followUpRequested(2))

	if got, want := round.commandSteps(), []workorder.Step{fu, co, cmt}; !slices.Equal(got, want) {
		t.Fatalf("round 2 ran %v, want %v", got, want)
	}
	// Every id of the round is new: commit continues at attempt 2, and the
	// work order's own events carry the round.
	wantIDs := map[workorder.Step]string{fu: string(wo) + ".follow-up.1", co: string(wo) + ".commit.2", cmt: string(wo) + ".comment-pr.1"}
	for _, cmd := range round.Commands {
		if cmd.ID() != wantIDs[cmd.Step] {
			t.Errorf("%s command id %s, want %s", cmd.Step, cmd.ID(), wantIDs[cmd.Step])
		}
		a := cmd.Args
		if a.Round != 2 || a.FollowUpPrompt != "also handle the empty case" || a.PullRequestURL != "https://github.com/acme/demo/pull/7" ||
			a.BranchName != "feat/fix-auth" || a.BaseBranch != "main" || a.UserRequest != "Fix authentication bug" {
			t.Errorf("%s args = %+v, want round 2's prompt, PR and branch", cmd.Step, a)
		}
	}
	// The session resumed is the last agent step's that recorded one (the
	// first run's commit); the round's later steps see the follow-up's own.
	if got := round.command(t, fu).Args.ResumeSessionID; got != "sess-commit-1" {
		t.Errorf("follow-up resumes %q, want the first run's last session sess-commit-1", got)
	}
	if got := round.command(t, cmt).Args.StepOutputs[fu]; got != "follow-up done" {
		t.Errorf("comment-pr gets follow-up output %q, want the summary it comments", got)
	}
	seen := map[string]bool{}
	for _, e := range append(first.Events, round.Events...) {
		if seen[e.ID] {
			t.Errorf("event id %s is used twice: the stream would drop the second", e.ID)
		}
		seen[e.ID] = true
	}
	if last := lastEvent(round); last.ID != string(wo)+".completed.f2" || round.State.Status != workorder.StatusCompleted {
		t.Fatalf("round 2 ended %s with %s, want completed %s.completed.f2", round.State, last.ID, wo)
	}
	if c := lastEvent(round).Data.(*events.Completed); c.PullRequestURL != "https://github.com/acme/demo/pull/7" {
		t.Errorf("completed carries PR %q", c.PullRequestURL)
	}

	// A third round goes on from the second: commit attempt 3, the second
	// round's follow-up session resumed.
	third := driveFrom(t, withSessions(answer), round.State, followUpRequested(3))
	if c := third.command(t, co); c.Attempt != 3 || c.Args.Round != 3 {
		t.Errorf("round 3 commit = attempt %d round %d, want 3 and 3", c.Attempt, c.Args.Round)
	}
	if got := third.command(t, fu).Args.ResumeSessionID; got != "sess-commit-2" {
		t.Errorf("round 3 resumes %q, want round 2's last session", got)
	}
	if lastEvent(third).ID != string(wo)+".completed.f3" {
		t.Errorf("round 3 ended with %s", lastEvent(third).ID)
	}
}

func TestFollowUp_OpensThePullRequestTheFirstRunNeverGotTo(t *testing.T) {
	plan := []workorder.Step{cb, ex, co, cpr}
	first := drive(t, failing(ex, 1), requested("", plan...))
	if first.State.Status != workorder.StatusFailed {
		t.Fatalf("first run ended %s", first.State)
	}
	round := driveFrom(t, answer, first.State, followUpRequested(2))
	// execute, commit and create-pr of the first run never completed; the
	// round's own plan replaces what was left of it.
	if got, want := round.commandSteps(), []workorder.Step{fu, co, cpr}; !slices.Equal(got, want) {
		t.Fatalf("round 2 ran %v, want %v", got, want)
	}
	if c := round.command(t, co); c.Attempt != 1 || c.Args.PullRequestURL != "" {
		t.Errorf("commit = attempt %d PR %q, want its first attempt and no PR yet", c.Attempt, c.Args.PullRequestURL)
	}
	if round.State.Status != workorder.StatusCompleted || round.State.Facts.PullRequestURL == "" {
		t.Fatalf("round ended %s with PR %q", round.State, round.State.Facts.PullRequestURL)
	}
}

func TestFollowUp_RetryAndCancelInsideARound(t *testing.T) {
	first := drive(t, answer, requested("", cb, ex, co, cpr))
	round := driveFrom(t, failing(fu, 1), first.State, followUpRequested(2))
	if last := lastEvent(round); last.ID != string(wo)+".failed.f2" || last.Data.(*events.Failed).Step != fu {
		t.Fatalf("round 2 ended with %s %+v, want %s.failed.f2 naming follow-up", last.ID, last.Data, wo)
	}
	// The retry runs the round's failed step again, not the first run's.
	retried := driveFrom(t, answer, round.State, retryRequested(1))
	if got, want := retried.commandSteps(), []workorder.Step{fu, co, cmt}; !slices.Equal(got, want) {
		t.Fatalf("the retry ran %v, want %v", got, want)
	}
	if c := retried.command(t, fu); c.Attempt != 2 || c.Args.Round != 2 || c.Args.FollowUpPrompt == "" {
		t.Errorf("retried follow-up = attempt %d round %d prompt %q", c.Attempt, c.Args.Round, c.Args.FollowUpPrompt)
	}
	if last := lastEvent(retried); last.ID != string(wo)+".completed.f2.r1" {
		t.Fatalf("retried round ended with %s", last.ID)
	}

	// A cancel while the third round's follow-up runs ends the work order
	// under the round's id.
	s := retried.State
	step := stepper(t, &s)
	if got := summary(step(followUpRequested(3))); got != "step.dispatched(follow-up#3)" {
		t.Fatalf("round 3 began with %s", got)
	}
	step(dispatched(fu, 3))
	step(stepStarted(fu, 3))
	dec := step(ev(string(wo)+".cancel_requested.f3", events.TypeCancelRequested, &events.CancelRequested{Reason: "enough"}))
	if len(dec.Events) != 1 || dec.Events[0].ID != string(wo)+".cancelled.f3.r1" {
		t.Fatalf("cancel in round 3 decided %s (%v)", summary(dec), dec.Events)
	}
	step(dec.Events[0])
	// A late report of the cancelled attempt changes nothing.
	late := stepCompleted(fu, 3, events.StepResult{})
	late.Seq = s.LastSeq + 1
	if _, d, err := machine.Transition(s, late, env); err == nil || !d.Empty() {
		t.Errorf("late follow-up result after the cancel: err=%v decision=%s", err, summary(d))
	}
	if got := summary(step(retryRequested(2))); got != "step.dispatched(follow-up#4)" {
		t.Fatalf("retry after a cancel in round 3: %s", got)
	}
}

func TestFollowUp_IsRejectedWhereItCannotRun(t *testing.T) {
	withBranch := completedWithBranch()
	for name, c := range map[string]struct {
		history []events.Event
		e       events.Event
	}{
		"no branch yet":  {[]events.Event{requested("", cb, pl), started(cb, pl), dispatched(cb, 1), stepFailed(cb, 1, "boom"), failed()}, followUpRequested(2)},
		"cancelled":      {append(slices.Clone(withBranch[:4]), cancelRequested(), cancelled()), followUpRequested(2)},
		"running":        {withBranch[:5], followUpRequested(2)},
		"the first run":  {withBranch, followUpRequested(1)},
		"an ended round": {append(slices.Clone(withBranch), followUpRequested(3), dispatched(fu, 1), stepFailed(fu, 1, "boom"), failedIn(3)), followUpRequested(2)},
		"empty prompt": {withBranch, ev(string(wo)+".follow_up_requested.2", events.TypeFollowUpRequested,
			&events.FollowUpRequested{PromptText: "  ", Round: 2})},
	} {
		t.Run(name, func(t *testing.T) {
			s := fold(t, c.history...)
			e := c.e
			e.Seq = s.LastSeq + 1
			next, dec, err := machine.Transition(s, e, env)
			if err == nil || !dec.Empty() || next.Status != s.Status || next.Round != s.Round {
				t.Fatalf("follow-up in %s: err=%v decision=%s status=%s", s, err, summary(dec), next.Status)
			}
		})
	}
}

func TestFollowUp_ReplayRebuildsTheRound(t *testing.T) {
	first := drive(t, answer, requested("", cb, ex, co, cpr))
	round := driveFrom(t, answer, first.State, followUpRequested(2))
	// A restarted orchestrator rebuilt from the whole history, cut after
	// the round's commit was dispatched, owes the same command again.
	all := append(slices.Clone(first.Events), round.Events...)
	cut := slices.IndexFunc(all, func(e events.Event) bool {
		d, ok := e.Data.(*events.StepDispatched)
		return ok && d.Step == co && d.Attempt == 2
	})
	s := machine.Replay(machine.State{}, all[:cut+1]...)
	d := machine.Pending(s, env)
	if len(d.Commands) != 1 || d.Commands[0].ID() != string(wo)+".commit.2" || d.Commands[0].Args.Round != 2 {
		t.Fatalf("rebuilt state owes %s, want run(commit#2) of round 2", summary(d))
	}
}

// A prompt that lost the race to a retry is refused, but its round number
// is taken (the gateway numbers the next prompt after it): the next round
// runs under the later number.
func TestFollowUp_ARefusedRoundsNumberIsSkipped(t *testing.T) {
	first := drive(t, failing(ex, 1), requested("", cb, ex, co, cpr))
	s := first.State
	step := stepper(t, &s)
	step(retryRequested(1))
	lost := followUpRequested(2)
	lost.Seq = s.LastSeq + 1
	if _, d, err := machine.Transition(s, lost, env); err == nil || !d.Empty() {
		t.Fatalf("a follow-up while the retry runs: err=%v decision=%s", err, summary(d))
	}
	retried := driveFrom(t, answer, s, dispatched(ex, 2))
	if retried.State.Status != workorder.StatusCompleted {
		t.Fatalf("the retry ended %s", retried.State)
	}
	round := driveFrom(t, answer, retried.State, followUpRequested(3))
	if c := round.command(t, fu); c.Args.Round != 3 || lastEvent(round).ID != string(wo)+".completed.f3.r1" {
		t.Fatalf("round 3 ran with round %d and ended with %s", c.Args.Round, lastEvent(round).ID)
	}
}
