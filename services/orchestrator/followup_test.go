package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A follow-up round over a real stream with its duplicate window: the round
// runs follow-up → commit → comment-pr under ids of its own (the round's
// commit is commit#2, never a second commit#1 the stream would drop), each
// command carrying the round, the prompt, the session to resume and the
// pull request; an orchestrator restarted in the middle of the round goes
// on from the stream without repeating a command.
func TestRun_FollowUp_RoundRunsUnderItsOwnIDsThroughARestart(t *testing.T) {
	h := newHarness(t)
	stopA := h.startOrchestrator("a")
	var hold atomic.Bool
	hold.Store(true)
	w := h.startWorkers(func(cmd events.RunStep) (events.StepResult, bool) {
		if cmd.Step == workorder.StepFollowUp && hold.Load() {
			return events.StepResult{}, false // still running when the orchestrator goes away
		}
		r, ok := succeed(cmd)
		if cmd.Step.Service() == "executor" && cmd.Step != workorder.StepCreateBranch {
			r.SessionID = fmt.Sprintf("sess-%s-%d", cmd.Step, cmd.Attempt)
		}
		return r, ok
	})
	wo := workorder.ID("wo-0000f001")
	h.request(wo, "", workorder.DefaultSteps...)
	if end := h.waitEnded(wo); end.Type != events.TypeCompleted {
		t.Fatalf("first run ended with %s %+v", end.Type, end.Data)
	}

	e := h.ext.Event(string(wo)+".follow_up_requested.2", events.TypeFollowUpRequested, wo,
		&events.FollowUpRequested{PromptText: "also handle the empty case", Round: 2})
	if _, err := h.ext.PublishEvent(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}
	var followUp events.RunStep
	select {
	case followUp = <-w.held:
	case <-time.After(20 * time.Second):
		t.Fatal("follow-up was never sent")
	}
	stopA()
	hold.Store(false)
	r, _ := succeed(followUp)
	r.SessionID = "sess-follow-up-1"
	w.finish(followUp, r)
	h.startOrchestrator("b")
	h.waitFor("the round to complete", func() bool {
		for _, e := range h.history(wo) {
			if e.Type == events.TypeCompleted && e.ID == string(wo)+".completed.f2" {
				return true
			}
		}
		return false
	})
	h.waitIdle()

	cmds := w.receivedFor(wo)
	var got []string
	for _, c := range cmds {
		got = append(got, c.ID())
	}
	var want []string
	for _, st := range workorder.DefaultSteps {
		want = append(want, events.CommandID(wo, st, 1))
	}
	want = append(want, string(wo)+".follow-up.1", string(wo)+".commit.2", string(wo)+".comment-pr.1")
	if !slices.Equal(got, want) {
		t.Fatalf("commands = %v, want %v", got, want)
	}
	round := cmds[len(workorder.DefaultSteps):]
	for _, c := range round {
		a := c.Args
		if a.Round != 2 || a.FollowUpPrompt != "also handle the empty case" || a.PullRequestURL != "https://github.com/acme/demo/pull/7" ||
			a.BranchName != "feat/fix-auth" || c.SandboxIdentifier != wo.SandboxIdentifier() {
			t.Errorf("%s args = %+v", c.ID(), a)
		}
	}
	if got := round[0].Args.ResumeSessionID; got != "sess-commit-1" {
		t.Errorf("follow-up resumes %q, want the first run's last agent session sess-commit-1", got)
	}
	if got := round[2].Args.StepOutputs[workorder.StepFollowUp]; got != "follow-up done" {
		t.Errorf("comment-pr gets the follow-up's output %q", got)
	}
	for id, n := range countIDs(h.history(wo)) {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
}
