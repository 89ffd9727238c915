package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Content Postgres refuses (a NUL byte in text or jsonb) is the event's
// fault: Apply reports ErrRejected, not an outage, and the checkpoint moves
// past it so that the projection goes on and a restart does not retry it.
func TestStore_Apply_RejectedContentSkipsTheEvent(t *testing.T) {
	ctx := context.Background()
	const id, other = workorder.ID("wo-0000dead"), workorder.ID("wo-0000beef")

	tests := []struct {
		name   string
		before []events.Event // applied fine first
		poison events.Event
		check  func(t *testing.T, s readmodel.Store)
	}{{
		name: "NULInUserRequest",
		poison: event(id, 1, events.TypeRequested, &events.Requested{
			WorkOrderID: id, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
			UserRequest: "Fix\u0000it", SelectedCommands: []workorder.Step{workorder.StepPlanning},
		}),
		check: func(t *testing.T, s readmodel.Store) {
			if _, err := s.Get(ctx, id); !errors.Is(err, readmodel.ErrNotFound) {
				t.Errorf("Get(poisoned work order) = %v, want ErrNotFound (nothing half-written)", err)
			}
		},
	}, {
		name:   "NULInStepOutput",
		before: []events.Event{requested(id, 1)},
		poison: event(id, 2, events.TypeStepCompleted, &events.StepResult{
			Step: workorder.StepPlanning, AgentName: workorder.StepPlanning.AgentName(), Attempt: 1,
			Success: true, Output: "plan\x00",
		}),
		check: func(t *testing.T, s readmodel.Store) {
			wo, err := s.Get(ctx, id)
			if err != nil || wo.Version != 1 {
				t.Errorf("row after a rejected step result: version %d, %v; want version 1 (rolled back)", wo.Version, err)
			}
			if steps, err := s.Steps(ctx, id); err != nil || len(steps) != 0 {
				t.Errorf("steps after a rejected step result: %d, %v; want none", len(steps), err)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, server.New(t))
			for _, e := range tt.before {
				mustApply(t, s, e)
			}
			err := s.Apply(ctx, tt.poison)
			if !errors.Is(err, readmodel.ErrRejected) || errors.Is(err, readmodel.ErrUnavailable) {
				t.Fatalf("Apply(poison) = %v, want ErrRejected and not ErrUnavailable", err)
			}
			if seq, err := s.AppliedSequence(ctx); err != nil || seq != tt.poison.Seq {
				t.Errorf("AppliedSequence = %d, %v; want %d (past the rejected event)", seq, err, tt.poison.Seq)
			}
			tt.check(t, s)

			// The next event is applied as usual, and the poison again
			// changes nothing (it is behind the checkpoint now).
			next := requested(other, tt.poison.Seq+1)
			mustApply(t, s, next)
			if _, err := s.Get(ctx, other); err != nil {
				t.Errorf("Get(next work order): %v", err)
			}
			if err := s.Apply(ctx, tt.poison); err != nil {
				t.Errorf("Apply(poison) again, behind the checkpoint = %v, want nil", err)
			}
		})
	}
}
