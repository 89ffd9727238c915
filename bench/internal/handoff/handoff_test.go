package handoff

import (
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

var steps = []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute}

func at(ms int) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond) }

func TestMatcher_CompletionThenCommand_IsOneHandOff(t *testing.T) {
	m := NewMatcher(steps)
	m.Completed("wo-1", workorder.StepCreateBranch, at(0), at(1))
	m.Command("wo-1", workorder.StepPlanning, 1, at(5))
	got := m.Samples()
	if len(got) != 1 {
		t.Fatalf("samples = %+v", got)
	}
	s := got[0]
	if s.From != workorder.StepCreateBranch || s.To != workorder.StepPlanning || s.FromPublish != 5*time.Millisecond || s.FromArrival != 4*time.Millisecond {
		t.Errorf("sample = %+v", s)
	}
}

func TestMatcher_CommandSeenBeforeItsCompletion_StillPairs(t *testing.T) {
	m := NewMatcher(steps)
	m.Command("wo-1", workorder.StepExecute, 1, at(9))
	m.Completed("wo-1", workorder.StepPlanning, at(2), at(3))
	got := m.Samples()
	if len(got) != 1 || got[0].FromPublish != 7*time.Millisecond || got[0].To != workorder.StepExecute {
		t.Fatalf("samples = %+v", got)
	}
	if c, k := m.Unpaired(); c != 0 || k != 0 {
		t.Errorf("unpaired = %d completions, %d commands", c, k)
	}
}

func TestMatcher_FirstStepRetriesAndOtherWorkOrders_AreNotHandOffs(t *testing.T) {
	m := NewMatcher(steps)
	m.Command("wo-1", workorder.StepCreateBranch, 1, at(0)) // first step: after the request, not a step
	m.Completed("wo-1", workorder.StepCreateBranch, at(1), at(1))
	m.Command("wo-1", workorder.StepPlanning, 2, at(3))      // a retry
	m.Command("wo-2", workorder.StepPlanning, 1, at(4))      // another work order's
	m.Completed("wo-1", workorder.StepExecute, at(5), at(5)) // last step: nothing follows
	if got := m.Samples(); len(got) != 0 {
		t.Fatalf("samples = %+v", got)
	}
	if c, k := m.Unpaired(); c != 2 || k != 1 {
		t.Errorf("unpaired = %d completions, %d commands; want 2, 1", c, k)
	}
}

func TestMatcher_DispatchSplitsTheHandOff(t *testing.T) {
	m := NewMatcher(steps)
	m.Command("wo-1", workorder.StepPlanning, 1, at(9))
	m.Dispatched("wo-1", workorder.StepPlanning, 1, at(6)) // seen after the command: callbacks race
	m.Completed("wo-1", workorder.StepCreateBranch, at(2), at(3))
	m.Dispatched("wo-2", workorder.StepPlanning, 1, at(4)) // another work order's
	got := m.Samples()
	if len(got) != 1 || got[0].ToDispatch != 4*time.Millisecond || got[0].FromPublish != 7*time.Millisecond {
		t.Fatalf("samples = %+v", got)
	}
}
