package readmodel

import (
	"encoding/json"

	"github.com/agentworkorders/awo/pkg/events"
)

// agentOf is the agent a work order runs with: "" in the request (and in
// events written before agents could be chosen) is claude.
func agentOf(a string) string {
	if a == "" {
		return events.AgentClaude
	}
	return a
}

// MarshalJSON writes cost_usd and total_cost_usd as null when the cost is
// unknown: an agent reported tokens without a cost and no price was
// configured for it.
func (wo WorkOrder) MarshalJSON() ([]byte, error) {
	type plain WorkOrder
	if wo.Agent == "" {
		wo.Agent = events.AgentClaude
	}
	if !wo.CostUnknown {
		return json.Marshal(plain(wo))
	}
	return json.Marshal(struct {
		plain
		CostUSD      *float64 `json:"cost_usd"`
		TotalCostUSD *float64 `json:"total_cost_usd"`
	}{plain: plain(wo)})
}

// MarshalJSON writes cost_usd as null when the step's cost is unknown.
func (r StepRecord) MarshalJSON() ([]byte, error) {
	type plain StepRecord
	if !r.CostUnknown {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		plain
		CostUSD *float64 `json:"cost_usd"`
	}{plain: plain(r)})
}
