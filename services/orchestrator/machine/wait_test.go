package machine_test

import (
	"errors"
	"math"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

// waitingAtExecute is a work order whose execute attempt 1 started and then
// waited once.
func waitingAtExecute(t *testing.T) machine.State {
	t.Helper()
	return fold(t, requested("", cb, ex, workorder.StepCommit), started(cb, ex, workorder.StepCommit),
		dispatched(cb, 1), stepStarted(cb, 1), stepCompleted(cb, 1, events.StepResult{BranchName: "feat/x", CostUSD: 1}),
		dispatched(ex, 1), stepStarted(ex, 1), stepWaiting(ex, 1, 0))
}

func TestWait_TheStepWaitsThenItsAttemptIsSentAgainAtItsTime(t *testing.T) {
	s := waitingAtExecute(t)
	cur, ok := s.Waiting()
	if !ok || cur.Step != ex || cur.Attempt != 1 || cur.Waits != 1 {
		t.Fatalf("after step.waiting: %s, step in hand %+v; want execute#1 waiting once", s, cur)
	}
	if cur.DispatchSeq != s.LastSeq {
		t.Errorf("DispatchSeq = %d, want the waiting event's seq %d (the re-sent command's StartStep guard)", cur.DispatchSeq, s.LastSeq)
	}
	if s.SpentUSD != 1.25 {
		t.Errorf("SpentUSD = %v, want 1.25: the interrupted run's cost counts", s.SpentUSD)
	}
	if cur.WaitMessage == "" || cur.WaitReason != events.WaitUsageLimit || cur.WaitSessionID != "sess-1" {
		t.Errorf("wait not recorded: %+v", cur.Wait)
	}

	// Before its time the state owes a timer, and nothing else.
	dec := machine.Pending(s, env)
	if got := summary(dec); got != "wake(execute#1.w1)" {
		t.Fatalf("Pending before the time = %s, want wake(execute#1.w1)", got)
	}
	w := dec.Wakes[0]
	if w.ID != string(wo)+".execute.1.w1.wake" || !w.At.Equal(env.Now.Add(waitFor)) || w.WorkOrderID != wo {
		t.Errorf("wake = %+v", w)
	}
	if again := machine.Pending(s, env); again.Wakes[0].ID != w.ID {
		t.Errorf("the wake's id is not deterministic: %s then %s", w.ID, again.Wakes[0].ID)
	}

	// From its time on (and later, after a restart) the command is owed.
	for _, now := range []machine.Env{{Source: env.Source, Now: w.At}, {Source: env.Source, Now: w.At.Add(3 * waitFor)}} {
		dec := machine.Pending(s, now)
		if got := summary(dec); got != "run(execute#1.w1)" {
			t.Fatalf("Pending at %s = %s, want run(execute#1.w1)", now.Now, got)
		}
		cmd := dec.Commands[0]
		if cmd.ID() != string(wo)+".execute.1.w1" || cmd.DispatchSeq != cur.DispatchSeq || cmd.Args.WaitSessionID != "sess-1" ||
			cmd.Args.IgnoreAccountLimit || cmd.Args.BranchName != "feat/x" || cmd.Args.SpentUSD != 1.25 {
			t.Errorf("re-sent command = %s %+v (dispatch seq %d)", cmd.ID(), cmd.Args, cmd.DispatchSeq)
		}
	}

	// The re-sent command starts, waits a second time, starts again and
	// completes; the next step is a plain first command.
	step := stepper(t, &s)
	if got := summary(step(stepStarted(ex, 1))); got != "-" {
		t.Fatalf("after the re-sent command started: %s", got)
	}
	if cur, _ := s.Current(); cur.Status != machine.StepRunning || !cur.WaitingUntil.IsZero() || cur.WaitMessage != "" {
		t.Fatalf("after the start: %+v", cur)
	}
	if got := summary(step(stepWaiting(ex, 1, 1))); got != "wake(execute#1.w2)" {
		t.Fatalf("after the second wait: %s", got)
	}
	if cur, _ := s.Current(); cur.WaitSessionID != "sess-2" {
		t.Errorf("the second wait's session = %q, want sess-2", cur.WaitSessionID)
	}
	step(stepStarted(ex, 1))
	dec = step(stepCompleted(ex, 1, events.StepResult{CostUSD: 2}))
	if got := summary(dec); got != "step.dispatched(commit#1)" {
		t.Fatalf("after execute completed: %s", got)
	}
	if got := summary(step(dec.Events[0])); got != "run(commit#1)" {
		t.Fatalf("commit's command: %s", got)
	}
	if s.SpentUSD != 3.5 {
		t.Errorf("SpentUSD = %v, want 3.5 (1 + two interrupted runs' 0.25 + 2)", s.SpentUSD)
	}
}

// A worker may record step.waiting before its start (an unguarded append
// after a conflict): the step waits all the same.
func TestWait_FromADispatchedStep(t *testing.T) {
	s := fold(t, requested("", cb), started(cb), dispatched(cb, 1), stepWaiting(cb, 1, 0))
	if _, ok := s.Waiting(); !ok {
		t.Fatalf("state %s, want create-branch waiting", s)
	}
}

func TestWait_Refusals(t *testing.T) {
	cases := []struct {
		name string
		e    events.Event
		want error
	}{
		{"the same wait again", stepWaiting(ex, 1, 0), machine.ErrDuplicate},
		{"a wait of another attempt", stepWaiting(ex, 2, 0), machine.ErrInvalidTransition},
		{"a wait of another step", stepWaiting(cb, 1, 0), machine.ErrInvalidTransition},
		{"a result while it waits", stepCompleted(ex, 1, events.StepResult{}), machine.ErrInvalidTransition},
		{"a failure while it waits", stepFailed(ex, 1, "boom"), machine.ErrInvalidTransition},
		{"the next dispatch", dispatched(workorder.StepCommit, 1), machine.ErrInvalidTransition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := waitingAtExecute(t)
			e := tc.e
			e.Seq = s.LastSeq + 1
			next, dec, err := machine.Transition(s, e, env)
			if !errors.Is(err, tc.want) || !dec.Empty() || next.LastSeq != s.LastSeq {
				t.Errorf("err = %v, decision %s; want %v and nothing changed", err, summary(dec), tc.want)
			}
			if tc.want == machine.ErrInvalidTransition && errors.Is(err, machine.ErrDuplicate) {
				t.Errorf("refused as a duplicate: %v", err)
			}
		})
	}
	// A step that completed cannot wait any more.
	s := fold(t, requested("", cb, ex), started(cb, ex), dispatched(cb, 1), stepCompleted(cb, 1, events.StepResult{}))
	e := stepWaiting(cb, 1, 0)
	e.Seq = s.LastSeq + 1
	if _, _, err := machine.Transition(s, e, env); !errors.Is(err, machine.ErrInvalidTransition) || errors.Is(err, machine.ErrDuplicate) {
		t.Errorf("waiting after the result: err = %v, want invalid", err)
	}
}

func TestWait_CancelWhileWaitingEndsTheWorkOrderWithNoCommand(t *testing.T) {
	s := waitingAtExecute(t)
	step := stepper(t, &s)
	dec := step(cancelRequested())
	if got := summary(dec); got != "workorder.cancelled" {
		t.Fatalf("cancel while waiting: %s", got)
	}
	step(dec.Events[0])
	later := machine.Env{Source: env.Source, Now: env.Now.Add(2 * waitFor)}
	if s.Status != workorder.StatusCancelled || !machine.Pending(s, later).Empty() {
		t.Fatalf("after the cancel: %s owes %s at the wake time", s, summary(machine.Pending(s, later)))
	}
}

func TestWait_RetryWhileWaitingSendsTheCommandNowPastTheAccountLimit(t *testing.T) {
	s := waitingAtExecute(t)
	step := stepper(t, &s)
	e := retryRequested(1)
	e.Data.(*events.RetryRequested).MaxCostUSD = 9
	dec := step(e)
	if got := summary(dec); got != "run(execute#1.w2 now)" {
		t.Fatalf("retry while waiting: %s", got)
	}
	cmd := dec.Commands[0]
	if cmd.ID() != string(wo)+".execute.1.w2" || cmd.DispatchSeq != s.LastSeq || cmd.Args.WaitSessionID != "sess-1" || cmd.Args.MaxCostUSD != 9 {
		t.Errorf("command = %s (dispatch seq %d, state seq %d) %+v", cmd.ID(), cmd.DispatchSeq, s.LastSeq, cmd.Args)
	}
	if _, waiting := s.Waiting(); waiting || s.Retries != 1 {
		t.Errorf("after the retry: %s, Retries %d; want execute dispatched, one retry", s, s.Retries)
	}
	// It is not owed a timer any more, only the command, whatever the time.
	if got := summary(machine.Pending(s, machine.Env{Source: env.Source, Now: env.Now.Add(-waitFor)})); got != "run(execute#1.w2 now)" {
		t.Errorf("Pending after the retry = %s", got)
	}
	// A second retry before the command started is refused.
	again := retryRequested(2)
	again.Seq = s.LastSeq + 1
	if _, _, err := machine.Transition(s, again, env); !errors.Is(err, machine.ErrInvalidTransition) {
		t.Errorf("a second retry: err = %v, want invalid", err)
	}
	// The retried command waits again: the next wait counts on.
	step(stepStarted(ex, 1))
	if got := summary(step(stepWaiting(ex, 1, 2))); got != "wake(execute#1.w3)" {
		t.Fatalf("waiting after the retry: %s", got)
	}
	if got := summary(machine.Pending(s, machine.Env{Source: env.Source, Now: env.Now.Add(waitFor)})); got != "run(execute#1.w3)" {
		t.Fatalf("the command after that wait: %s (it must not ignore the account limit)", got)
	}
	step(stepStarted(ex, 1))
	dec = step(stepCompleted(ex, 1, events.StepResult{}))
	dec = step(dec.Events[0])
	step(stepStarted(workorder.StepCommit, 1))
	dec = step(stepCompleted(workorder.StepCommit, 1, events.StepResult{}))
	if len(dec.Events) != 1 || dec.Events[0].ID != string(wo)+".completed.r1" {
		t.Fatalf("end = %s, want %s.completed.r1 (the retry counts)", summary(dec), wo)
	}
}

func TestWait_RetryWhileWaitingRefusedOnceACancelWasRequested(t *testing.T) {
	s := waitingAtExecute(t)
	c := cancelRequested()
	c.Seq = s.LastSeq + 1
	s, _, err := machine.Transition(s, c, env)
	if err != nil {
		t.Fatal(err)
	}
	r := retryRequested(1)
	r.Seq = s.LastSeq + 1
	if _, _, err := machine.Transition(s, r, env); !errors.Is(err, machine.ErrInvalidTransition) {
		t.Errorf("retry after a cancel request: err = %v, want invalid", err)
	}
}

// Rebuilt from its history, a waiting work order owes what the live one did.
func TestWait_ReplayOwesTheSame(t *testing.T) {
	live := waitingAtExecute(t)
	var hist []events.Event
	for i, e := range []events.Event{requested("", cb, ex, workorder.StepCommit), started(cb, ex, workorder.StepCommit),
		dispatched(cb, 1), stepStarted(cb, 1), stepCompleted(cb, 1, events.StepResult{BranchName: "feat/x", CostUSD: 1}),
		dispatched(ex, 1), stepStarted(ex, 1), stepWaiting(ex, 1, 0)} {
		e.Seq = uint64(i + 1)
		hist = append(hist, e)
	}
	rebuilt := machine.Replay(machine.State{}, hist...)
	for _, now := range []machine.Env{env, {Source: env.Source, Now: env.Now.Add(waitFor)}} {
		if a, b := summary(machine.Pending(live, now)), summary(machine.Pending(rebuilt, now)); a != b {
			t.Errorf("at %s: live owes %s, rebuilt %s", now.Now, a, b)
		}
	}
}

// waitingIn is step.waiting of a run in session that cost cost (its own
// part, as the executor reports it).
func waitingIn(step workorder.Step, attempt, waits int, session string, cost float64) events.Event {
	e := stepWaiting(step, attempt, waits)
	w := *e.Data.(*events.StepWaiting)
	w.SessionID, w.CostUSD = session, cost
	e.Data = &w
	return e
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The CLI reports a resumed session's cost over all its runs, and the
// executor takes the command's resume_session_cost_usd off it: after a
// wait that is what the interrupted session had cost, in all its runs.
func TestWait_TheResumedSessionsEarlierCostIsSentToBeTakenOff(t *testing.T) {
	s := fold(t, requested("", cb, ex), started(cb, ex), dispatched(cb, 1), stepCompleted(cb, 1, events.StepResult{BranchName: "feat/x"}),
		dispatched(ex, 1), stepStarted(ex, 1))
	step := stepper(t, &s)
	later := machine.Env{Source: env.Source, Now: env.Now.Add(waitFor)}
	resend := func() events.RunStep {
		t.Helper()
		dec := machine.Pending(s, later)
		if len(dec.Commands) != 1 {
			t.Fatalf("owed after the wait: %s", summary(dec))
		}
		return dec.Commands[0]
	}
	step(waitingIn(ex, 1, 0, "S", 0.3))
	if a := resend().Args; a.WaitSessionID != "S" || !near(a.ResumeSessionCostUSD, 0.3) {
		t.Fatalf("after the first wait: resume %s taking off %v, want S and 0.3", a.WaitSessionID, a.ResumeSessionCostUSD)
	}
	step(stepStarted(ex, 1))
	step(waitingIn(ex, 1, 1, "S", 0.2)) // the same session, resumed: its own part
	if a := resend().Args; a.WaitSessionID != "S" || !near(a.ResumeSessionCostUSD, 0.5) {
		t.Fatalf("after the second wait: resume %s taking off %v, want S and 0.5", a.WaitSessionID, a.ResumeSessionCostUSD)
	}
	step(stepStarted(ex, 1))
	step(stepCompleted(ex, 1, events.StepResult{SessionID: "S", CostUSD: 0.4}))
	if s.Facts.SessionID != "S" || !near(s.Facts.SessionCostUSD, 0.9) {
		t.Fatalf("the implementor's session %s cost %v, want S and 0.9 (two cut-short runs and the last)", s.Facts.SessionID, s.Facts.SessionCostUSD)
	}
	if !near(s.SpentUSD, 0.9) {
		t.Errorf("SpentUSD = %v, want 0.9", s.SpentUSD)
	}

	// A follow-up resumes S; cut short, its next run takes off all S cost.
	dec := step(completed())
	dec = step(followUpRequested(2))
	step(dec.Events[0])
	step(stepStarted(fu, 1))
	step(waitingIn(fu, 1, 0, "S", 0.05))
	if a := resend().Args; a.WaitSessionID != "S" || a.ResumeSessionID != "S" || !near(a.ResumeSessionCostUSD, 0.95) {
		t.Fatalf("follow-up after its wait: resume %s (round's %s) taking off %v, want S and 0.95", a.WaitSessionID, a.ResumeSessionID, a.ResumeSessionCostUSD)
	}
	// A resume that failed ran a fresh session: nothing of it to take off
	// but its own run.
	step(stepStarted(fu, 1))
	step(waitingIn(fu, 1, 1, "T", 0.1))
	if a := resend().Args; a.WaitSessionID != "T" || !near(a.ResumeSessionCostUSD, 0.1) {
		t.Fatalf("after a wait in a fresh session: resume %s taking off %v, want T and 0.1", a.WaitSessionID, a.ResumeSessionCostUSD)
	}
}
