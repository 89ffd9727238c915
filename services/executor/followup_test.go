package executor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// The fake sandboxes of a follow-up: the catch-up with origin's branch and
// the branch's diff.
func (f *fakeSandboxes) CatchUp(ctx context.Context, sb sandbox.Sandbox, branch string) (bool, error) {
	f.caughtUp = append(f.caughtUp, branch)
	return f.catchUpErr == nil, f.catchUpErr
}
func (f *fakeSandboxes) Diff(ctx context.Context, sb sandbox.Sandbox) (string, error) {
	return f.diff, f.diffErr
}

// seqAgent answers each run with the next scripted result.
type seqAgent struct {
	results []agent.Result
	got     []agent.Request
}

func (s *seqAgent) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	s.got = append(s.got, req)
	res := s.results[min(len(s.got), len(s.results))-1]
	if req.OnMessage != nil && res.ResumeFailed {
		// What the CLI prints when it cannot resume: a lone failed result.
		m, _ := agent.ParseLine([]byte(`{"type":"result","subtype":"error_during_execution","is_error":true,"errors":["No conversation found"]}`))
		req.OnMessage(m)
	}
	return res, nil
}

const sessionID = "3f0c8a59-4a77-4c8e-9d3e-0b1a7c1e2f00"

func followUpCmd(session string) events.RunStep {
	c := cmd(workorder.StepFollowUp)
	c.Args.Round, c.Args.FollowUpPrompt, c.Args.ResumeSessionID = 2, "Also handle the empty case", session
	return c
}

func TestRunStep_FollowUp_ResumesTheSessionWithTheReviewersPrompt(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	a := &seqAgent{results: []agent.Result{{Success: true, ResultText: "Handled the empty case", SessionID: sessionID}}}
	x := newTestExecutor(t, a, sb)
	res, err := x.runStep(t.Context(), followUpCmd(sessionID), x.log)
	if err != nil || !res.Success || res.Output != "Handled the empty case" || res.SessionID != sessionID {
		t.Fatalf("follow-up: %+v, %v", res, err)
	}
	if len(a.got) != 1 || a.got[0].Resume != sessionID {
		t.Fatalf("agent runs: %d, first resuming %q; want one resuming %s", len(a.got), a.got[0].Resume, sessionID)
	}
	if p := a.got[0].Prompt; !strings.Contains(p, "Also handle the empty case") || !strings.Contains(p, "feat/greeting") || strings.Contains(p, "The work so far") {
		t.Errorf("resumed prompt:\n%s", p)
	}
	if len(sb.caughtUp) != 1 || sb.caughtUp[0] != "feat/greeting" {
		t.Errorf("caught up with %q; want origin's feat/greeting", sb.caughtUp)
	}
	// Progress counts for a follow-up as for execute.
	if res.CommitCount == nil || *res.CommitCount != 2 {
		t.Errorf("progress: %v commits", res.CommitCount)
	}
	if a.got[0].GitHub {
		t.Error("the follow-up agent got the GitHub credentials; only the round's commit pushes")
	}
}

// Without a session to resume, or when the CLI cannot resume it, a fresh
// session runs with the plan and the diff, the live log says so, and the
// refused resume leaves no error entry behind.
func TestRunStep_FollowUp_FreshSessionWhenTheSessionCannotBeResumed(t *testing.T) {
	for _, c := range []struct {
		name    string
		session string
		runs    int
	}{
		{"resume refused", sessionID, 2},
		{"no session recorded", "", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting", diff: " greeting.txt | 1 +\n+hello\n"}
			a := &seqAgent{results: []agent.Result{
				{ResumeFailed: true, ErrorMessage: "claude CLI failed: No conversation found with session ID: " + sessionID},
				{Success: true, ResultText: "Handled it afresh", SessionID: "new-session"},
			}}
			if c.session == "" {
				a.results = a.results[1:]
			}
			x := newTestExecutor(t, a, sb)
			live := &recordingLog{}
			x.liveLog = live
			res, err := x.runStep(t.Context(), followUpCmd(c.session), x.log)
			if err != nil || !res.Success || res.Output != "Handled it afresh" || res.SessionID != "new-session" {
				t.Fatalf("follow-up: %+v, %v", res, err)
			}
			if len(a.got) != c.runs {
				t.Fatalf("%d agent runs, want %d", len(a.got), c.runs)
			}
			fresh := a.got[len(a.got)-1]
			if fresh.Resume != "" || !strings.Contains(fresh.Prompt, "Also handle the empty case") ||
				!strings.Contains(fresh.Prompt, "The work so far") || !strings.Contains(fresh.Prompt, "+hello") {
				t.Errorf("fresh run resuming %q with prompt:\n%s", fresh.Resume, fresh.Prompt)
			}
			var notes int
			for _, e := range live.entries {
				if e.Event == "session_not_resumed" {
					notes++
				}
				if e.Level == logentry.LevelError {
					t.Errorf("error entry in the live log: %+v", e)
				}
			}
			if notes != 1 {
				t.Errorf("%d session_not_resumed entries, want 1: %q", notes, eventNames(live.entries))
			}
		})
	}
}

func TestRunStep_FollowUp_BranchThatCannotBeCaughtUpFailsWithTheReason(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting", catchUpErr: errors.New("origin's branch feat/greeting and the sandbox's have diverged")}
	a := &seqAgent{results: []agent.Result{{Success: true}}}
	x := newTestExecutor(t, a, sb)
	res, err := x.runStep(t.Context(), followUpCmd(sessionID), x.log)
	if err != nil || res.Success || !strings.Contains(res.ErrorMessage, "diverged") {
		t.Fatalf("follow-up: %+v, %v", res, err)
	}
	if len(a.got) != 0 {
		t.Errorf("the agent ran %d times on a sandbox off the pushed branch", len(a.got))
	}
}
