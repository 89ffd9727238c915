package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// create --agent and --max-cost-usd reach the API; list and show name the
// agent and the cost cap.
func TestCLI_CreateWithAgentAndCostCap(t *testing.T) {
	g := startGateway(t, map[string]string{"CODEX_CLI_PATH": "/usr/local/bin/codex"})
	codex := strings.TrimSpace(g.ok("create", "--repo", "https://github.com/acme/app", "--request", "Port it", "--agent", "codex"))
	capped := strings.TrimSpace(g.ok("create", "--repo", "https://github.com/acme/app", "--request", "Fix it", "--max-cost-usd", "2.5"))

	var wo map[string]any
	if err := json.Unmarshal([]byte(g.ok("show", codex, "-o", "json")), &wo); err != nil || wo["agent"] != "codex" {
		t.Errorf("show %s -o json: agent %v (%v), want codex", codex, wo["agent"], err)
	}
	if show := g.ok("show", codex); !strings.Contains(show, "agent:") || !strings.Contains(show, "codex") {
		t.Errorf("show lacks the agent:\n%s", show)
	}
	show := g.ok("show", capped)
	for _, want := range []string{"claude", "cost cap:", "$2.50", "cost:", "$0.0000"} {
		if !strings.Contains(show, want) {
			t.Errorf("show of the capped work order lacks %q:\n%s", want, show)
		}
	}
	list := g.ok("list")
	if !strings.Contains(list, "AGENT") || !rowHas(list, codex, "codex") || !rowHas(list, capped, "claude") {
		t.Errorf("list does not name the agents:\n%s", list)
	}
	g.awo(nil, "create", "--repo", "https://github.com/acme/app", "--request", "x", "--agent", "gemini").want(t, exitError, "agent")
	g.awo(nil, "create", "--repo", "https://github.com/acme/app", "--request", "x", "--max-cost-usd", "-1").want(t, exitUsage, "max-cost-usd")
}

// rowHas reports whether the table row of id contains want.
func rowHas(table, id, want string) bool {
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, id) {
			return strings.Contains(line, want)
		}
	}
	return false
}

// A waiting work order shows until when and why; retry resumes it at once.
func TestCLI_WaitingWorkOrder_ShowsUntilWhenAndRetries(t *testing.T) {
	g := startGateway(t, map[string]string{})
	id := g.create("Wait for it")
	g.publish(id, "started", events.TypeStarted, &events.Started{})
	g.publish(id, "step.started", events.TypeStepStarted, &events.StepStarted{Step: workorder.StepExecute, Attempt: 1})
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	g.publish(id, "step.waiting", events.TypeStepWaiting, &events.StepWaiting{Step: workorder.StepExecute, Attempt: 1,
		WaitingUntil: until, Reason: events.WaitUsageLimit, Message: "Claude Code's usage limit"})

	want := "waiting until " + until.Local().Format(time.RFC3339) + ": Claude Code's usage limit"
	show := g.eventually(want, "show", id)
	if !strings.Contains(show, "running") {
		t.Errorf("show of a waiting work order:\n%s", show)
	}
	if list := g.ok("list"); !rowHas(list, id, "waiting until ") {
		t.Errorf("list does not say it waits:\n%s", list)
	}
	if out := g.ok("retry", id, "--reason", "the limit is lifted"); !strings.Contains(out, id+": retrying (running)") {
		t.Errorf("retry of a waiting work order: %q", out)
	}
}

// A cost the server does not know (an agent that reports tokens without a
// price) is "—", not $0.
func TestMoney_UnknownIsADash(t *testing.T) {
	c := 0.126
	for _, tc := range []struct {
		usd  *float64
		want string
	}{{nil, "—"}, {&c, "$0.13"}} {
		if got := money(tc.usd, 2); got != tc.want {
			t.Errorf("money(%v) = %q, want %q", tc.usd, got, tc.want)
		}
	}
}
