package worker

import (
	"context"
	"errors"
	"log/slog"

	"github.com/agentworkorders/awo/pkg/events"
)

// admission asks admit (the executor's disk guard) before a command may
// start; nil admits everything. A refused command is handed back, unless it
// must not run anyway (stale says why): that one is settled, not handed
// back to be refused again until it is given up on.
func admission(admit func(context.Context, events.RunStep) error, stale func(context.Context, events.RunStep) (string, error)) Middleware {
	return func(next Handler) Handler {
		if admit == nil {
			return next
		}
		return func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
			if err := admit(ctx, cmd); err != nil {
				if why, serr := stale(ctx, cmd); serr == nil && why != "" {
					log.Info("skipping the step: " + why)
					return events.StepResult{}, skipped{why}
				}
				log.Warn("step refused; the command is handed back", "err", err, "delivered", Delivered(ctx))
				return events.StepResult{}, err
			}
			return next(ctx, cmd, log)
		}
	}
}

// startFinish records step.started before next and the step's result
// after it, guarded by the start. A command that must not run (StartStep
// says why) is skipped; a handler error hands the command back with no
// result recorded. The result is recorded even when the shutdown grace ran
// out while it was being reached.
func startFinish(s steps, worker string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error) {
			started, why, err := s.start(ctx, cmd, worker)
			if err != nil {
				return events.StepResult{}, err
			}
			if why != "" {
				log.Info("skipping the step: " + why)
				return events.StepResult{}, skipped{why}
			}
			if n := Delivered(ctx); n > 1 {
				log.Warn("command redelivered: running the step again", "delivered", n)
			}
			log.Info("step started", "worker", worker)
			res, err := next(ctx, cmd, log)
			if errors.Is(err, errStopped) {
				return res, err
			}
			if w, ok := errors.AsType[*Waiting](err); ok {
				if err := s.wait(context.WithoutCancel(ctx), cmd, w.StepWaiting, started); err != nil {
					return res, err
				}
				log.Info("step waits", "until", w.WaitingUntil, "reason", w.Reason, "message", w.Message)
				return res, errWaited
			}
			if err != nil {
				log.Warn("step interrupted; the command is handed back", "err", err)
				return res, err
			}
			if err := s.finish(context.WithoutCancel(ctx), cmd, res, started); err != nil {
				return res, err
			}
			log.Info("step finished", "success", res.Success, "duration_s", res.DurationSeconds, "error", res.ErrorMessage)
			return res, nil
		}
	}
}
