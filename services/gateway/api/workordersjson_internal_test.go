package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// The list is written without encoding/json's second pass; the bytes
// must stay those json.Marshal writes, HTML escaping and unknown costs
// included.
func TestWorkOrdersJSON_IsWhatJSONMarshalWrites(t *testing.T) {
	msg := "<script>alert('x')</script> & \u2028 \"quoted\""
	cost := 1.5
	at := time.Date(2026, 12, 6, 8, 0, 0, 123, time.FixedZone("", 3600))
	for _, wos := range [][]readmodel.WorkOrder{
		{},
		{{AgentWorkOrderID: "wo-1", Status: workorder.StatusFailed, ErrorMessage: &msg, CreatedAt: at, UserRequest: msg}},
		{
			{AgentWorkOrderID: "wo-2", CostUnknown: true, MaxCostUSD: &cost, SelectedCommands: []workorder.Step{workorder.StepCommit}},
			{AgentWorkOrderID: "wo-3", Agent: "codex", CostUSD: 0.25, TotalCostUSD: 0.25},
		},
	} {
		got, err := workOrdersJSON(wos)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(wos)
		if err != nil {
			t.Fatal(err)
		}
		if want = append(want, '\n'); !bytes.Equal(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
