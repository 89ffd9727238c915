// Package machine is the orchestrator's decision logic: a work order's state
// folded from its events, and the pure Transition that says what must be
// appended or sent next. It does no I/O, reads no clock and makes no random
// ids; what it needs of that kind comes in through the event or Env.
package machine

import (
	"fmt"
	"slices"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// StepStatus is where one step of the plan stands.
type StepStatus string

const (
	StepPending    StepStatus = "pending"    // in the plan, not dispatched yet
	StepDispatched StepStatus = "dispatched" // decided; its command is owed until a worker starts it
	StepRunning    StepStatus = "running"    // a worker reported step.started
	// StepWaiting: the worker reported step.waiting (a usage limit, the
	// daily budget); the same attempt's command is owed again at
	// WaitingUntil.
	StepWaiting   StepStatus = "waiting"
	StepCompleted StepStatus = "completed"
	StepFailed    StepStatus = "failed"
)

// StepState is one step of the plan.
type StepState struct {
	Step    workorder.Step
	Status  StepStatus
	Attempt int // attempt of the latest dispatch; 0 before the first
	// DispatchSeq is the stream sequence of the latest dispatch (its
	// command carries it).
	DispatchSeq uint64
	Output      string // result text of a completed step (earlier steps' outputs feed the PR body)
	Error       string // reason a failed step gave
	Wait
}

// Wait is what the step in hand's waits (step.waiting) left: when and why
// it waits, and what the attempt's next command carries. A new dispatch
// starts with none.
type Wait struct {
	// Waits is the Args.Waits of the attempt's next command: its waits so
	// far plus the retries a client asked for while it waited, so every
	// command sent again has an id of its own (RunStep.ID).
	Waits        int
	WaitingUntil time.Time
	WaitReason   string
	WaitMessage  string
	// WaitSessionID is the session the latest wait interrupted, resumed by
	// the next run; WaitSessionCostUSD is what that session has cost over
	// all its runs so far, which the next run takes off the session's
	// total the CLI reports (Args.ResumeSessionCostUSD).
	WaitSessionID      string
	WaitSessionCostUSD float64
	// IgnoreAccountLimit: the next command was asked for by a retry while
	// the step waited and runs even though the account still looks limited.
	IgnoreAccountLimit bool
}

// Wake is a timer the orchestrator must set: at At, look at the work order
// again, and send the waiting step's command if it still waits. ID is
// deterministic per wait (the command it wakes for, plus ".wake"), so
// deciding the same wake twice sets one timer.
type Wake struct {
	ID          string
	WorkOrderID workorder.ID
	Step        workorder.Step
	Attempt     int
	Waits       int
	At          time.Time
}

// Request is what the client asked for, as recorded by workorder.requested.
type Request struct {
	RepositoryURL string
	SandboxType   workorder.SandboxType
	UserRequest   string
	Selected      []workorder.Step
	IssueNumber   string
	// MaxCostUSD caps what the work order's agent runs may cost in all
	// (0: no cap); a retry or follow-up may replace it.
	MaxCostUSD float64
	// Agent runs the work order's agent steps ("" = claude).
	Agent string
}

// Facts are what finished steps established for the steps after them.
type Facts struct {
	BranchName     string // create-branch
	BaseBranch     string // create-branch
	PlanFile       string // planning
	PullRequestURL string // create-pr
	// SessionID is the agent session a follow-up round resumes: the last
	// Implementor's (execute, or an earlier round's follow-up), whose
	// session read the plan and made the change; until one has recorded a
	// session, the last agent step's that did.
	SessionID          string
	implementorSession bool          // SessionID is an Implementor's
	SessionCostUSD     float64       // what SessionID has cost over all its runs
	Issue              *events.Issue // fetch-issue
	PRTemplate         string        // commit: the repository's pull request template
}

// State is a work order as far as the orchestrator needs to know it: the fold
// of its events. The zero value is a work order nothing has happened to yet.
// Treat it as a value: Transition never modifies the State it is given.
type State struct {
	WorkOrderID workorder.ID
	Status      workorder.Status // empty until workorder.requested
	Request     Request
	TraceParent string // of the request; decisions carry it on

	SandboxIdentifier string
	Steps             []StepState // the plan, in order, set by workorder.started; each follow-up round appends its own
	Dispatched        int         // how many steps of the plan have been dispatched; the step in hand is Steps[Dispatched-1]
	// RoundStart is where the round in hand begins in Steps: a step before
	// it belongs to an earlier round and is never the step in hand.
	RoundStart int
	// Round is the follow-up round in hand (2, 3, ...); 0 during the first
	// run. FollowUpPrompt is its prompt.
	Round          int
	FollowUpPrompt string
	Facts          Facts
	// SpentUSD is the sum of the cost every step result reported, in all
	// rounds and attempts: what the work order has cost so far.
	SpentUSD float64

	CancelRequested bool
	CancelReason    string
	// Retries counts the retries accepted so far. The ids of the events
	// decided in a later round carry it (<woID>.failed.r1), because the
	// stream drops a second <woID>.failed inside its duplicate window.
	Retries    int
	FailedStep workorder.Step // set by workorder.failed when a step caused it
	Error      string         // error_message of workorder.failed

	// LastSeq is the stream sequence of the last event folded (including
	// events Replay skipped): the guard for the next append.
	LastSeq uint64
}

// Env is what a decision needs from outside the pure world.
type Env struct {
	Source string    // CloudEvents source of decided events, e.g. "awo/orchestrator"
	Now    time.Time // time stamped on decided events
}

// Decision is what the orchestrator must do after an event: append Events
// (guarded by the state's LastSeq) and then send Commands.
type Decision struct {
	Events   []events.Event
	Commands []events.RunStep
	// Wakes are timers to set (a waiting step's next try).
	Wakes []Wake
}

// Empty reports whether there is nothing to do.
func (d Decision) Empty() bool {
	return len(d.Events) == 0 && len(d.Commands) == 0 && len(d.Wakes) == 0
}

// Current returns the step in hand: the one most recently dispatched.
func (s State) Current() (StepState, bool) {
	if s.Dispatched <= s.RoundStart || s.Dispatched > len(s.Steps) {
		return StepState{}, false
	}
	return s.Steps[s.Dispatched-1], true
}

// String describes the state for error messages and logs, e.g.
// "running (execute dispatched, attempt 1)".
func (s State) String() string {
	switch {
	case s.Status == "":
		return "new"
	case s.Status != workorder.StatusRunning:
		return string(s.Status)
	}
	cur, ok := s.Current()
	if !ok {
		return "running (no step dispatched)"
	}
	desc := fmt.Sprintf("running (%s %s, attempt %d", cur.Step, cur.Status, cur.Attempt)
	if s.Round > 0 {
		desc += fmt.Sprintf(", round %d", s.Round)
	}
	if s.CancelRequested {
		desc += ", cancel requested"
	}
	return desc + ")"
}

// clone copies everything a transition may modify, so the caller's State
// stays as it was.
func (s State) clone() State {
	s.Request.Selected = slices.Clone(s.Request.Selected)
	s.Steps = slices.Clone(s.Steps)
	s.Facts.Issue = cloneIssue(s.Facts.Issue)
	return s
}

func cloneIssue(i *events.Issue) *events.Issue {
	if i == nil {
		return nil
	}
	c := *i
	return &c
}

// wake is the timer of a waiting step: its next command's id plus ".wake".
func (s State) wake(st StepState) Wake {
	id := events.RunStep{WorkOrderID: s.WorkOrderID, Step: st.Step, Attempt: st.Attempt, Args: events.StepArgs{Waits: st.Waits}}.ID()
	return Wake{ID: id + ".wake", WorkOrderID: s.WorkOrderID, Step: st.Step, Attempt: st.Attempt, Waits: st.Waits, At: st.WaitingUntil}
}

// Wake is the timer of the step in hand while it waits, whether or not its
// time has come.
func (s State) Wake() (Wake, bool) {
	cur, ok := s.Waiting()
	if !ok {
		return Wake{}, false
	}
	return s.wake(cur), true
}

// Waiting reports whether the step in hand waits, and which.
func (s State) Waiting() (StepState, bool) {
	cur, ok := s.Current()
	return cur, ok && s.Status == workorder.StatusRunning && cur.Status == StepWaiting
}

// stepIndex finds step in the plan.
func (s State) stepIndex(step workorder.Step) int {
	return slices.IndexFunc(s.Steps, func(st StepState) bool { return st.Step == step })
}

// command is the RunStep for a dispatched step: everything the worker needs
// so it never has to look anything up.
func (s State) command(st StepState) events.RunStep {
	outputs := map[workorder.Step]string{}
	for _, prev := range s.Steps[:s.Dispatched-1] {
		if prev.Status == StepCompleted && prev.Output != "" && !prev.Step.Internal() {
			outputs[prev.Step] = prev.Output
		}
	}
	if len(outputs) == 0 {
		outputs = nil
	}
	cmd := events.RunStep{
		WorkOrderID:       s.WorkOrderID,
		Step:              st.Step,
		Attempt:           st.Attempt,
		DispatchSeq:       st.DispatchSeq,
		RepositoryURL:     s.Request.RepositoryURL,
		SandboxType:       s.Request.SandboxType,
		SandboxIdentifier: s.SandboxIdentifier,
		Args: events.StepArgs{
			UserRequest:  s.Request.UserRequest,
			IssueNumber:  s.Request.IssueNumber,
			Issue:        cloneIssue(s.Facts.Issue),
			BranchName:   s.Facts.BranchName,
			BaseBranch:   s.Facts.BaseBranch,
			PlanFile:     s.Facts.PlanFile,
			StepOutputs:  outputs,
			SelectedStep: slices.Clone(s.Request.Selected),
			PRTemplate:   s.Facts.PRTemplate,
			MaxCostUSD:   s.Request.MaxCostUSD,
			SpentUSD:     s.SpentUSD,
			Agent:        s.Request.Agent,

			Waits:              st.Waits,
			WaitSessionID:      st.WaitSessionID,
			IgnoreAccountLimit: st.IgnoreAccountLimit,
		},
	}
	s.roundArgs(&cmd.Args)
	if st.WaitSessionID != "" {
		// The run resumes the session the wait interrupted, not the round's.
		cmd.Args.ResumeSessionCostUSD = st.WaitSessionCostUSD
	}
	return cmd
}
