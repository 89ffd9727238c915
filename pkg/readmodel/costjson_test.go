package readmodel

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A codex step without a price: the step and the work order show their
// tokens and cost_usd null; the work order names its agent.
func TestFold_CostUnknown_IsNullInJSON(t *testing.T) {
	req := requested(1)
	req.Data.(*events.Requested).Agent = events.AgentCodex
	wo, steps := foldAll(t, []events.Event{req, ev(2, events.TypeStarted, &events.Started{Steps: []workorder.Step{workorder.StepPlanning}})})
	res := &events.StepResult{Step: workorder.StepPlanning, Attempt: 1, Success: true, CostUnknown: true,
		Usage: &events.Usage{InputTokens: 300, OutputTokens: 60}}
	wo, steps, err := Fold(wo, steps, ev(3, events.TypeStepCompleted, res))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(wo)
	for _, want := range []string{`"cost_usd":null`, `"total_cost_usd":null`, `"input_tokens":300`, `"output_tokens":60`, `"agent":"codex"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("work order JSON lacks %s: %s", want, b)
		}
	}
	b, _ = json.Marshal(steps)
	if !strings.Contains(string(b), `"cost_usd":null`) || !strings.Contains(string(b), `"input_tokens":300`) {
		t.Errorf("step JSON: %s", b)
	}
	// A claude work order's cost stays a number.
	b, _ = json.Marshal(WorkOrder{})
	if !strings.Contains(string(b), `"cost_usd":0`) || !strings.Contains(string(b), `"agent":"claude"`) {
		t.Errorf("plain work order JSON: %s", b)
	}
}
