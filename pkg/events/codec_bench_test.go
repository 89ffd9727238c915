package events_test

import (
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// BenchmarkDecode is what every delivery to every service costs before
// its handler runs: a step's result, and a command with its arguments.
func BenchmarkDecode(b *testing.B) {
	wo := workorder.ID("wo-0000abcd")
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	for _, c := range []struct {
		name string
		e    events.Event
	}{
		{"step.completed", events.New(string(wo)+".execute.1.completed", events.TypeStepCompleted, "awo/executor", wo, at,
			&events.StepResult{Step: workorder.StepExecute, Attempt: 1, Success: true, Output: "done", SessionID: "s", CostUSD: 0.01, NumTurns: 3})},
		{"run_step", events.New(string(wo)+".execute.1", events.TypeRunStep, "awo/orchestrator", wo, at,
			&events.RunStep{WorkOrderID: wo, Step: workorder.StepExecute, Attempt: 1, RepositoryURL: "https://github.com/acme/demo",
				SandboxType: workorder.SandboxWorktree, SandboxIdentifier: "sandbox-" + string(wo), DispatchSeq: 42,
				Args: events.StepArgs{UserRequest: "Fix the authentication bug", BranchName: "feat/fix-auth", BaseBranch: "main", PlanFile: "PRPs/fix-auth.md",
					StepOutputs: map[workorder.Step]string{workorder.StepPlanning: "PRPs/fix-auth.md"}}})},
	} {
		c.e.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		msg, err := events.Encode(c.e, "workorders.events."+string(wo)+".x")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := events.Decode(msg.Header, msg.Data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
