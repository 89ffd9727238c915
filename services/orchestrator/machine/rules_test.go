package machine

import (
	"errors"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
)

// notFolded are the catalogue types the machine leaves out on purpose.
var notFolded = map[string]string{
	events.TypeRunStep: "a command to a worker, not a fact about the work order",
}

func TestRules_EveryCatalogueTypeHasOneEntryOrIsLeftOutOnPurpose(t *testing.T) {
	catalogue := map[string]bool{}
	for _, typ := range events.Types() {
		catalogue[typ] = true
		_, folded := rules[typ]
		_, left := notFolded[typ]
		switch {
		case folded && left:
			t.Errorf("%s has a rule and is listed as not folded", typ)
		case !folded && !left:
			t.Errorf("%s has no rule: add one (and its test), or list it in notFolded saying why", typ)
		}
	}
	for typ := range rules {
		if !catalogue[typ] {
			t.Errorf("rule for %s, which is not in the events catalogue", typ)
		}
	}
	for typ := range notFolded {
		if !catalogue[typ] {
			t.Errorf("notFolded lists %s, which is not in the events catalogue", typ)
		}
	}
}

func TestTransition_RefusesWhatNoRuleKnows(t *testing.T) {
	env := Env{Source: "awo/orchestrator", Now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, typ := range []string{events.TypeRunStep, "io.archon.workorders.workorder.paused.v1"} {
		s, _, err := Transition(State{}, events.New("x", typ, "test", "wo-1a2b3c4d", env.Now, &events.RunStep{}), env)
		if !errors.Is(err, ErrInvalidTransition) || errors.Is(err, ErrDuplicate) || s.Status != "" {
			t.Errorf("%s: state %s, err %v; want it refused as invalid", events.ShortName(typ), s, err)
		}
	}
}
