package machine_test

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// The agent a work order asked for rides on every command, retries
// included; none asked for is "" (claude).
func TestAgent_CommandsCarryTheRequestedAgent(t *testing.T) {
	for _, agent := range []string{"", events.AgentCodex} {
		req := requested("", cb, pl, ex)
		req.Data.(*events.Requested).Agent = agent
		run := drive(t, answer, req)
		if run.State.Status != workorder.StatusCompleted || len(run.Commands) != 3 {
			t.Fatalf("agent %q: ended %s with %d commands", agent, run.State, len(run.Commands))
		}
		for _, c := range run.Commands {
			if c.Args.Agent != agent {
				t.Errorf("agent %q: %s carries agent %q", agent, c.Step, c.Args.Agent)
			}
		}
	}
}
