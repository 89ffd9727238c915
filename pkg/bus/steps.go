package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// StartStep records step.started for a command a worker picked up, unless
// the command must not run: then it records nothing and says why (see
// stale). It returns the started event's sequence, the guard of the step's
// result (FinishStep).
//
// A command carrying its dispatch's sequence is proven fresh by the append
// itself, guarded by that sequence: it is stored only if nothing happened
// to the work order since the dispatch, so the command is neither
// cancelled, superseded nor completed. Only when that append conflicts, or
// finds the same start already stored (a redelivery), are the reads of
// stale needed. The event id is derived from the command, so a
// redelivered command picked up again inside the duplicate window does not
// record a second start.
func (b *Bus) StartStep(ctx context.Context, cmd events.RunStep, worker string) (seq uint64, why string, err error) {
	e := b.Event(cmd.ID()+".started", events.TypeStepStarted, cmd.WorkOrderID, &events.StepStarted{
		Step: cmd.Step, Attempt: cmd.Attempt, AgentName: cmd.Step.AgentName(), Worker: worker,
	})
	if cmd.DispatchSeq > 0 {
		ack, err := b.appendEvent(ctx, e, &cmd.DispatchSeq)
		switch {
		case err == nil && !ack.Duplicate:
			return ack.Sequence, "", nil
		case err != nil && !errors.Is(err, ErrConflict):
			return 0, "", err
		}
	}
	if why, err := b.stale(ctx, cmd); err != nil || why != "" {
		return 0, why, err
	}
	ack, err := b.appendEvent(ctx, e, nil)
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
func (b *Bus) FinishStep(ctx context.Context, cmd events.RunStep, r events.StepResult, started uint64) error {
	r.Step, r.Attempt, r.AgentName = cmd.Step, cmd.Attempt, cmd.Step.AgentName()
	typ, suffix := events.TypeStepCompleted, ".completed"
	if !r.Success {
		typ, suffix = events.TypeStepFailed, ".failed"
	}
	e := b.Event(cmd.ID()+suffix, typ, cmd.WorkOrderID, &r)
	if started > 0 {
		_, err := b.appendEvent(ctx, e, &started)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	_, err := b.appendEvent(ctx, e, nil)
	return err
}

// StepWorker describes a service that performs steps: the executor (agent
// steps) and the github service (gh operations).
type StepWorker struct {
	Service     string // "executor" or "github": the commands it takes and its durable consumer's name
	Description string
	Workers     int           // steps run at once
	AckWait     time.Duration // redelivery after this long without an ack or heartbeat
	MaxDeliver  int           // deliveries before the command is dead-lettered and its step failed
	// Grace is how long steps in progress may go on after ctx is cancelled;
	// then their context is cancelled and the command handed back.
	Grace  time.Duration
	Worker string // names this process in step.started; default host/pid
	Logger *slog.Logger
	// Observe is passed to Consume (ConsumeOptions.Observe); may be nil.
	Observe func(Observation)
	// Admit, when set, may refuse a command before its step starts (the
	// executor's disk guard): the error hands the command back like a
	// handler error, and no step.started is recorded.
	Admit func(ctx context.Context, cmd events.RunStep) error
	// OnCancelled, when set, cleans up after a cancelled work order (the
	// executor removes its sandbox); see OnCancelledFunc.
	OnCancelled OnCancelledFunc
}

// StepHandler performs one step command and reports its outcome; a failed
// step is a result with Success false and the reason. An error means the
// step could not be carried out now (a shutdown, a tool that could not be
// started): the command is handed back for redelivery, or dead-lettered
// after MaxDeliver (see Handler).
type StepHandler func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error)

// ConsumeSteps takes the worker's step commands from its durable consumer
// (created if missing) until ctx is cancelled, and keeps the step protocol:
// step.started, then the handler, then step.completed or step.failed. A
// command the wrapper gives up on is reported as step.failed with the
// reason, so the work order ends visibly instead of waiting forever.
func (b *Bus) ConsumeSteps(ctx context.Context, w StepWorker, h StepHandler) error {
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	cons, err := b.JS.CreateOrUpdateConsumer(ctx, StreamCommands, StepConsumerConfig(w))
	if err != nil {
		return fmt.Errorf("creating the %s consumer: %w", w.Service, err)
	}
	worker := WorkerID(w.Worker)
	stepCtx, stop := graceContext(ctx, w.Grace)
	defer stop()
	stopWatching, err := b.WatchAbandoned(ctx, w)
	if err != nil {
		return err
	}
	defer stopWatching()
	watch := newCancelWatch()
	unwatch, err := b.watchCancellations(stepCtx, watch, w.OnCancelled, log)
	if err != nil {
		return err
	}
	defer unwatch()
	return b.Consume(ctx, cons, func(dctx context.Context, d *Delivery) (err error) {
		cmd, ok := d.Event.Data.(*events.RunStep)
		if !ok {
			return Permanent(fmt.Errorf("expected a run_step command, got %s", d.Event.Type))
		}
		if cmd.Step.Service() != w.Service {
			return Permanent(fmt.Errorf("step %s is not run by the %s service", cmd.Step, w.Service))
		}
		slog := log.With("work_order_id", string(cmd.WorkOrderID), "step", string(cmd.Step), "attempt", cmd.Attempt)
		if ctx.Err() != nil {
			// Pulled before the shutdown began: another replica, or this one
			// after its restart, runs it.
			return fmt.Errorf("not starting %s: the %s service is shutting down", cmd.Step, w.Service)
		}
		// Registered before StartStep checks that the command may run, so
		// a cancel that arrives after the check still stops the step.
		cmdCtx, end, err := watch.begin(stepCtx, cmd.WorkOrderID)
		if err != nil {
			return err
		}
		defer end()
		if w.Admit != nil {
			if err := w.Admit(cmdCtx, *cmd); err != nil {
				// A command that must not run anyway is settled, not
				// handed back to be refused again until it is given up.
				if why, serr := b.stale(cmdCtx, *cmd); serr == nil && why != "" {
					slog.Info("skipping the step: " + why)
					return nil
				}
				slog.Warn("step refused; the command is handed back", "err", err, "delivered", d.NumDelivered())
				return err
			}
		}
		cmdCtx, span := traceStep(cmdCtx, dctx, w.Service, cmd)
		slog = tracing.Logger(cmdCtx, slog)
		var res events.StepResult
		started, why, err := b.StartStep(cmdCtx, *cmd, worker)
		if err != nil {
			endStep(span, res, err)
			return err
		}
		if why != "" {
			skipStep(span, why)
			slog.Info("skipping the step: " + why)
			return nil
		}
		defer func() { endStep(span, res, err) }()
		if d.NumDelivered() > 1 {
			slog.Warn("command redelivered: running the step again", "delivered", d.NumDelivered())
		}
		slog.Info("step started", "worker", worker)
		res, err = h(WithDelivered(cmdCtx, d.NumDelivered()), *cmd, slog)
		if cause := context.Cause(cmdCtx); errors.Is(cause, ErrWorkOrderCancelled) {
			// Not handed back: nothing of a cancelled work order runs again
			// unless it is retried, which sends a new command. The stop is
			// recorded so the step history shows where the work order ended.
			res = events.StepResult{ErrorMessage: "stopped: " + cause.Error(), DurationSeconds: res.DurationSeconds}
			if err := b.FinishStep(context.WithoutCancel(cmdCtx), *cmd, res, 0); err != nil {
				slog.Warn("recording the stopped step", "err", err)
			}
			slog.Info("step stopped: its work order was cancelled", "cause", cause)
			return nil
		}
		if err != nil {
			slog.Warn("step interrupted; the command is handed back", "err", err)
			return err
		}
		// The outcome is recorded even when the shutdown grace ran out
		// while it was being reached.
		if err := b.FinishStep(context.WithoutCancel(cmdCtx), *cmd, res, started); err != nil {
			return err
		}
		slog.Info("step finished", "success", res.Success, "duration_s", res.DurationSeconds, "error", res.ErrorMessage)
		return nil
	}, ConsumeOptions{
		Name:         w.Service,
		Workers:      w.Workers,
		PullWhenFree: true,
		AckWait:      w.AckWait,
		MaxDeliver:   w.MaxDeliver,
		Logger:       log,
		Observe:      w.Observe,
		OnGiveUp: func(ctx context.Context, d *Delivery, cause error) {
			cmd, ok := d.Event.Data.(*events.RunStep)
			if !ok {
				return
			}
			msg := giveUpMessage(w.Service, *cmd, d.NumDelivered(), cause)
			if err := b.FinishStep(ctx, *cmd, events.StepResult{ErrorMessage: msg}, 0); err != nil {
				log.Error("publishing the step failure after giving up", "work_order_id", string(cmd.WorkOrderID), "step", string(cmd.Step), "err", err)
			}
		},
	})
}

type deliveredKey struct{}

// WithDelivered tells the StepHandler called with the returned context
// that its command is being delivered for the n-th time.
func WithDelivered(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, deliveredKey{}, n)
}

// Delivered is how many times JetStream has delivered the command a
// StepHandler was called for, this delivery included: above 1, an earlier
// run of the same command may have been cut short half-way. 0 outside a
// StepHandler.
func Delivered(ctx context.Context) int {
	n, _ := ctx.Value(deliveredKey{}).(int)
	return n
}

// StepConsumerConfig is the durable consumer every replica of w shares.
// MaxAckPending stays at the server's default (1000): it bounds the whole
// fleet, not one replica, and every replica writes this config at start,
// so tying it to one replica's Workers would cap all replicas together at
// that number (and flip-flop when replicas differ). The per-replica bound
// is the wrapper's: PullWhenFree pulls only for an idle worker.
func StepConsumerConfig(w StepWorker) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       w.Service,
		Description:   w.Description,
		FilterSubject: CommandFilter(w.Service),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.AckWait,
		MaxDeliver:    w.MaxDeliver,
	}
}

// WorkerID names this process: the configured id, else host/pid.
func WorkerID(configured string) string {
	if configured != "" {
		return configured
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// graceContext is cancelled grace after parent is: work in hand outlives a
// shutdown request by that much.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() { stop(); cancel() }
}
