package bus

import (
	"context"

	"github.com/agentworkorders/awo/pkg/events"
)

// StepStarted publishes step.started for a command a worker picked up. The
// event id is derived from the command, so a redelivered command that is
// picked up again inside the duplicate window does not record a second start.
func (b *Bus) StepStarted(ctx context.Context, cmd events.RunStep, worker string) error {
	e := b.Event(cmd.ID()+".started", events.TypeStepStarted, cmd.WorkOrderID, &events.StepStarted{
		Step: cmd.Step, Attempt: cmd.Attempt, AgentName: cmd.Step.AgentName(), Worker: worker,
	})
	_, err := b.PublishEvent(ctx, e, nil)
	return err
}

// StepFinished publishes step.completed or step.failed (by r.Success) for a
// command. Step, attempt and agent name are filled from the command.
func (b *Bus) StepFinished(ctx context.Context, cmd events.RunStep, r events.StepResult) error {
	r.Step, r.Attempt, r.AgentName = cmd.Step, cmd.Attempt, cmd.Step.AgentName()
	typ, suffix := events.TypeStepCompleted, ".completed"
	if !r.Success {
		typ, suffix = events.TypeStepFailed, ".failed"
	}
	_, err := b.PublishEvent(ctx, b.Event(cmd.ID()+suffix, typ, cmd.WorkOrderID, &r), nil)
	return err
}
