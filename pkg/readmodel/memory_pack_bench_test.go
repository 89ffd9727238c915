package readmodel

import (
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// benchRow is a finished work order of the history benchmark's shape:
// five steps, each with a few hundred bytes of output.
func benchRow() (WorkOrder, []StepRecord) {
	text := func(n int) *string {
		s := strings.Repeat("the login handler returns a stale token ", n/40+1)[:n]
		return &s
	}
	at := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	wo := WorkOrder{AgentWorkOrderID: "wo-0123abcd", RepositoryURL: "https://github.com/acme/service-01",
		SandboxIdentifier: "sandbox-wo-0123abcd", Status: workorder.StatusCompleted, CreatedAt: at, UpdatedAt: at,
		UserRequest: *text(120), SelectedCommands: workorder.DefaultSteps, GitBranchName: text(20),
		GitHubPullRequestURL: text(50), Agent: "claude", Version: 12345}
	var steps []StepRecord
	for i, s := range workorder.DefaultSteps {
		steps = append(steps, StepRecord{Step: s, AgentName: s.AgentName(), Success: true, Output: text(240),
			SessionID: text(36), Timestamp: at.Add(time.Duration(i) * time.Minute), Attempt: 1, Round: 1})
	}
	return wo, steps
}

func BenchmarkPack(b *testing.B) {
	wo, steps := benchRow()
	for b.Loop() {
		pack(wo, steps)
	}
}

func BenchmarkUnpackWorkOrder(b *testing.B) {
	wo, steps := benchRow()
	p := pack(wo, steps)
	for b.Loop() {
		if _, err := unpackWorkOrder(p, wo.RepositoryURL, wo.Status); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpackSteps(b *testing.B) {
	wo, steps := benchRow()
	p := pack(wo, steps)
	for b.Loop() {
		if _, err := unpackSteps(p); err != nil {
			b.Fatal(err)
		}
	}
}
