package executor

import (
	"context"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/services/executor/agent"
)

type namedRunner string

func (n namedRunner) Run(context.Context, agent.Request) (agent.Result, error) {
	return agent.Result{Success: true, ResultText: string(n)}, nil
}

func TestAgentRouter(t *testing.T) {
	r := AgentRouter{events.AgentClaude: namedRunner("claude ran"), events.AgentCodex: namedRunner("codex ran")}
	for _, tc := range []struct{ agent, want string }{{"", "claude ran"}, {"claude", "claude ran"}, {"codex", "codex ran"}} {
		res, err := r.Run(t.Context(), agent.Request{Agent: tc.agent})
		if err != nil || res.ResultText != tc.want {
			t.Errorf("agent %q: %+v %v, want %q", tc.agent, res, err, tc.want)
		}
	}
	res, err := AgentRouter{events.AgentClaude: namedRunner("claude ran")}.Run(t.Context(), agent.Request{Agent: "codex"})
	if err != nil || res.Success || !strings.Contains(res.ErrorMessage, "CODEX_CLI_PATH") {
		t.Errorf("codex not configured: %+v %v", res, err)
	}
}
