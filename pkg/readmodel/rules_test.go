package readmodel

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
)

// notFolded are the catalogue types the read model leaves out on purpose.
var notFolded = map[string]string{
	events.TypeRunStep: "a command to a worker; it is not stored in the events stream",
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
			t.Errorf("%s has no rule: add one (seen, if it changes nothing a client reads) and its test, or list it in notFolded saying why", typ)
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

// A type newer than this build changes nothing a client reads, but the row
// records that it saw it, so the projection moves on.
func TestFold_TypeNoRuleKnows_OnlyAdvancesVersion(t *testing.T) {
	wo, steps, err := Fold(WorkOrder{}, nil, requested(1))
	if err != nil {
		t.Fatal(err)
	}
	next, nextSteps, err := Fold(wo, steps, ev(2, "io.archon.workorders.workorder.paused.v1", nil))
	if err != nil {
		t.Fatalf("Fold: %v", err)
	}
	want := wo
	want.Version, want.UpdatedAt = 2, at(2)
	if next.Version != want.Version || !next.UpdatedAt.Equal(want.UpdatedAt) || next.Status != wo.Status || len(nextSteps) != 0 {
		t.Fatalf("row %+v, %d steps; want only version 2 and updated_at %s", next, len(nextSteps), at(2))
	}
}
