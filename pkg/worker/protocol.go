package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// CommandSubject is where step's command is queued:
// workorders.commands.<service>.<step>.
func CommandSubject(step workorder.Step) string {
	return bus.CommandSubject(step.Service(), string(step))
}

// CommandPublisher sends events to a subject; *bus.Bus is one.
type CommandPublisher interface {
	Event(id, typ string, wo workorder.ID, data any) events.Event
	Publish(ctx context.Context, subject string, e events.Event) error
}

// PublishCommand queues a step command for the service that performs it.
// The command id is deterministic, so re-emitting one inside the duplicate
// window is dropped by JetStream.
func PublishCommand(ctx context.Context, b CommandPublisher, cmd events.RunStep) error {
	return b.Publish(ctx, CommandSubject(cmd.Step), b.Event(cmd.ID(), events.TypeRunStep, cmd.WorkOrderID, cmd))
}

// StartStep records step.started for a command a worker picked up, unless
// the command must not run: then it records nothing and says why (see
// Stale). It returns the started event's sequence, the guard of the step's
// result (FinishStep).
//
// A command carrying its dispatch's sequence is proven fresh by the append
// itself, guarded by that sequence: it is stored only if nothing happened
// to the work order since the dispatch, so the command is neither
// cancelled, superseded nor completed. Only when that append conflicts, or
// finds the same start already stored (a redelivery), are the reads of
// Stale needed. The event id is derived from the command, so a
// redelivered command picked up again inside the duplicate window does not
// record a second start.
func StartStep(ctx context.Context, b *bus.Bus, cmd events.RunStep, worker string) (seq uint64, why string, err error) {
	e := b.Event(cmd.ID()+".started", events.TypeStepStarted, cmd.WorkOrderID, &events.StepStarted{
		Step: cmd.Step, Attempt: cmd.Attempt, AgentName: cmd.Step.AgentName(), Worker: worker,
	})
	if cmd.DispatchSeq > 0 {
		ack, err := b.Append(ctx, e, &cmd.DispatchSeq)
		switch {
		case err == nil && !ack.Duplicate:
			return ack.Sequence, "", nil
		case err != nil && !errors.Is(err, bus.ErrConflict):
			return 0, "", err
		}
	}
	if why, err := Stale(ctx, b, cmd); err != nil || why != "" {
		return 0, why, err
	}
	ack, err := b.Append(ctx, e, nil)
	if err != nil {
		return 0, "", err
	}
	return ack.Sequence, "", nil
}

// FinishStep records step.completed or step.failed (by r.Success) for a
// command. Step, attempt and agent name are filled from the command. With
// started set (the sequence StartStep returned), the append is guarded by
// it, so the stored result tells its readers that it directly follows the
// start; should something have come between (a cancel), it is appended
// unguarded. 0: unguarded.
func FinishStep(ctx context.Context, b *bus.Bus, cmd events.RunStep, r events.StepResult, started uint64) error {
	r.Step, r.Attempt, r.AgentName = cmd.Step, cmd.Attempt, cmd.Step.AgentName()
	typ, suffix := events.TypeStepCompleted, ".completed"
	if !r.Success {
		typ, suffix = events.TypeStepFailed, ".failed"
	}
	e := b.Event(cmd.ID()+suffix, typ, cmd.WorkOrderID, &r)
	if started > 0 {
		_, err := b.Append(ctx, e, &started)
		if !errors.Is(err, bus.ErrConflict) {
			return err
		}
	}
	_, err := b.Append(ctx, e, nil)
	return err
}

// WaitStep records step.waiting for a command whose step could not run now
// and waits (see events.StepWaiting), guarded like FinishStep. Step,
// attempt and agent name are filled from the command.
func WaitStep(ctx context.Context, b *bus.Bus, cmd events.RunStep, w events.StepWaiting, started uint64) error {
	w.Step, w.Attempt, w.AgentName = cmd.Step, cmd.Attempt, cmd.Step.AgentName()
	e := b.Event(cmd.ID()+".waiting", events.TypeStepWaiting, cmd.WorkOrderID, &w)
	if started > 0 {
		_, err := b.Append(ctx, e, &started)
		if !errors.Is(err, bus.ErrConflict) {
			return err
		}
	}
	_, err := b.Append(ctx, e, nil)
	return err
}

// Cancelled reports whether wo stands cancelled: its latest
// workorder.cancelled is newer than its latest retry request. Two direct
// gets, cheap enough to ask before every step.
func Cancelled(ctx context.Context, b *bus.Bus, wo workorder.ID) (bool, error) {
	c, ok, err := b.LastEvent(ctx, wo, events.TypeCancelled)
	if err != nil || !ok {
		return false, err
	}
	r, ok, err := b.LastEvent(ctx, wo, events.TypeRetryRequested)
	if err != nil {
		return false, err
	}
	return !ok || c.Seq > r.Seq, nil
}

// Stale says why cmd must not run, or "" when it may: its work order stands
// cancelled, a later dispatch superseded it (a command left in the queue by
// a cancel, then overtaken by the retry's new attempt, must not run beside
// it in the same sandbox), another command of its attempt started after it
// (sent again after a wait), a retry or a wait of its step came since it
// was sent (overtaken), or it has already completed (its worker died
// between recording the result and acking: running it again would redo the
// step on top of its own work, maybe beside the next step).
func Stale(ctx context.Context, b *bus.Bus, cmd events.RunStep) (string, error) {
	cancelled, err := Cancelled(ctx, b, cmd.WorkOrderID)
	if err != nil || cancelled {
		return "its work order is cancelled", err
	}
	last, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeStepDispatched)
	if err != nil || !ok {
		return "", err
	}
	if d, _ := last.Data.(*events.StepDispatched); d != nil && (d.Step != cmd.Step || d.Attempt != cmd.Attempt) {
		return fmt.Sprintf("superseded by the dispatch of %s attempt %d", d.Step, d.Attempt), nil
	}
	if why, err := restarted(ctx, b, cmd); err != nil || why != "" {
		return why, err
	}
	if why, err := overtaken(ctx, b, cmd); err != nil || why != "" {
		return why, err
	}
	done, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeStepCompleted)
	if err != nil || !ok {
		return "", err
	}
	if r, _ := done.Data.(*events.StepResult); r != nil && r.Step == cmd.Step && r.Attempt == cmd.Attempt {
		return "it has already completed", nil
	}
	return "", nil
}

// restarted says why cmd must not run when another command of the same
// step and attempt started after cmd was sent: one sent again after the
// step waited (step.waiting), or at once by a retry while it waited, left
// cmd behind in the queue. Running both would run the step twice side by
// side in one sandbox.
func restarted(ctx context.Context, b *bus.Bus, cmd events.RunStep) (string, error) {
	last, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeStepStarted)
	if err != nil || !ok || last.ID == cmd.ID()+".started" || last.Seq <= cmd.DispatchSeq {
		return "", err
	}
	if s, _ := last.Data.(*events.StepStarted); s != nil && s.Step == cmd.Step && s.Attempt == cmd.Attempt {
		return fmt.Sprintf("superseded by a later command of %s attempt %d (%s)", cmd.Step, cmd.Attempt, last.ID), nil
	}
	return "", nil
}

// overtaken says why cmd must not run when, since it was sent, a retry
// was asked for or its step waited: the retry sent a command of its own
// (of a waiting step, the same attempt marked to run past the account
// limit), and a wait means a command of this attempt ran since, after
// which the orchestrator sends the next. Without this, a timer's command
// taken before the retry's would run without the retry's mark, wait again
// on the account flag, and then supersede the retry's command (restarted):
// the user's retry lost. A command without its dispatch's sequence (an
// older orchestrator's) cannot be placed and is left to the other checks.
func overtaken(ctx context.Context, b *bus.Bus, cmd events.RunStep) (string, error) {
	if cmd.DispatchSeq == 0 {
		return "", nil
	}
	r, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeRetryRequested)
	if err != nil {
		return "", err
	}
	if ok && r.Seq > cmd.DispatchSeq {
		// A retry that came while cmd itself ran (its start is before the
		// retry) was refused by the orchestrator: the step did not wait.
		// cmd, redelivered after its worker died, must still run.
		s, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeStepStarted)
		if err != nil {
			return "", err
		}
		if !ok || s.ID != cmd.ID()+".started" || s.Seq > r.Seq {
			return fmt.Sprintf("superseded by a later retry request (%s)", r.ID), nil
		}
	}
	w, ok, err := b.LastEvent(ctx, cmd.WorkOrderID, events.TypeStepWaiting)
	if err != nil || !ok || w.Seq <= cmd.DispatchSeq {
		return "", err
	}
	if d, _ := w.Data.(*events.StepWaiting); d != nil && d.Step == cmd.Step && d.Attempt == cmd.Attempt {
		return fmt.Sprintf("%s attempt %d waited since it was sent (%s): the command sent after that wait runs it", cmd.Step, cmd.Attempt, w.ID), nil
	}
	return "", nil
}

// steps records a step's start and result; recorder is the real one, the
// middleware tests fake it.
type steps interface {
	start(ctx context.Context, cmd events.RunStep, worker string) (seq uint64, why string, err error)
	finish(ctx context.Context, cmd events.RunStep, r events.StepResult, started uint64) error
	wait(ctx context.Context, cmd events.RunStep, w events.StepWaiting, started uint64) error
}

// recorder records the step protocol's events on a bus.
type recorder struct{ b *bus.Bus }

func (r recorder) start(ctx context.Context, cmd events.RunStep, worker string) (uint64, string, error) {
	return StartStep(ctx, r.b, cmd, worker)
}

func (r recorder) finish(ctx context.Context, cmd events.RunStep, res events.StepResult, started uint64) error {
	return FinishStep(ctx, r.b, cmd, res, started)
}

func (r recorder) wait(ctx context.Context, cmd events.RunStep, w events.StepWaiting, started uint64) error {
	return WaitStep(ctx, r.b, cmd, w, started)
}
