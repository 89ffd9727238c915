package executor

import (
	"context"
	"log/slog"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// eventStepWaiting is the live log entry of a step that waits.
const eventStepWaiting = "step_waiting"

// usageLimits is the executor's part in usage limits: the shared flags,
// the rules and the metrics.
type usageLimits struct {
	cfg config.UsageLimits
	// flags is nil without a bucket (tests that run steps without a bus):
	// each limit is then this run's alone and nothing is parked before a run.
	flags   *accountFlags
	metrics metrics.UsageLimits
	now     func() time.Time
}

func newUsageLimits(cfg config.UsageLimits, kv AccountKV, m *metrics.Metrics) usageLimits {
	if cfg.Retry <= 0 {
		cfg.Retry = config.DefaultUsageLimitRetry
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = config.DefaultUsageLimitRetryMax
	}
	u := usageLimits{cfg: cfg, metrics: m.UsageLimits(), now: time.Now}
	if kv != nil {
		u.flags = &accountFlags{kv: kv, seen: &flagHints{}}
	}
	return u
}

// accountLimited is asked before a step runs: while the agent's account
// is flagged as limited, the step waits (or fails, with resume off)
// without running, unless a client asked for this retry. stop says the
// step ends here with res or err. A flag that cannot be read lets the
// step run: the worst is a run that hits the limit itself.
func (x *executor) accountLimited(ctx context.Context, cmd events.RunStep, log *slog.Logger) (res events.StepResult, stop bool, err error) {
	u := x.usage
	if u.flags == nil {
		return events.StepResult{}, false, nil
	}
	name := agentOf(cmd)
	l, found, err := u.flags.peek(ctx, name)
	if err != nil {
		log.Warn("usage limit flag not read; running the step", "agent", name, "err", err)
		return events.StepResult{}, false, nil
	}
	now := u.now()
	if !found || !l.active(now) {
		return events.StepResult{}, false, nil
	}
	u.metrics.Until(name, l.Until)
	if cmd.Args.IgnoreAccountLimit {
		log.Info("the agent's account is flagged as limited; running anyway, as a retry was asked for", "agent", name, "until", l.Until)
		return events.StepResult{}, false, nil
	}
	if !u.cfg.Resume {
		log.Warn("step not run: the agent's account is limited and AWO_RESUME_AFTER_USAGE_LIMIT=false", "agent", name, "until", l.Until)
		res, _ := failed("%s", failMessage(name, l, now, ""))
		return res, true, nil
	}
	log.Info("step not run: the agent's account is limited", "agent", name, "until", l.Until, "reason", l.Reason)
	return events.StepResult{}, true, waitForFlag(cmd, name, l, now, cmd.Args.WaitSessionID, 0)
}

// agentOutcome is the step's result from the agent's run. A run that
// ended on the account's usage limit sets the shared flag and makes the
// step wait (worker.Wait), or fails it with AWO_RESUME_AFTER_USAGE_LIMIT=
// false; a run that succeeded clears the flag. priorCost is what a resumed
// session had cost before this run (the CLI reports the session's total).
func (x *executor) agentOutcome(ctx context.Context, cmd events.RunStep, ar agent.Result, priorCost float64, log *slog.Logger) (events.StepResult, error) {
	res := stepResult(ar)
	res.CostUSD = max(0, res.CostUSD-priorCost)
	name := agentOf(cmd)
	if !ar.UsageLimited {
		if ar.Success {
			x.usage.clear(ctx, name, time.Now().Add(-ar.Duration), log)
		}
		return res, nil
	}
	l := x.usage.limit(ctx, name, ar, log)
	now := x.usage.now()
	if !x.usage.cfg.Resume {
		res.Success, res.ErrorMessage = false, failMessage(name, l, now, ar.ErrorMessage)
		return res, nil
	}
	return events.StepResult{}, waitForFlag(cmd, name, l, now, ar.SessionID, res.CostUSD)
}

// limit records a run that hit the limit: the shared flag (compare-and-
// set), the metrics. When the bucket cannot be written the step still
// waits, by the flag this run would have set.
func (u usageLimits) limit(ctx context.Context, name string, ar agent.Result, log *slog.Logger) accountLimit {
	u.metrics.Limited(name)
	reason := ar.LimitReason
	if reason == "" {
		reason = "usage limit"
	}
	next := func(prev *accountLimit) accountLimit { return nextLimit(prev, u.now(), ar.ResetAt, reason, u.cfg) }
	l := next(nil)
	if u.flags != nil {
		stored, err := u.flags.limit(ctx, name, next)
		if err != nil {
			log.Warn("usage limit flag not stored: other runs of the agent are not parked", "agent", name, "err", err)
		} else {
			l = stored
		}
	}
	u.metrics.Until(name, l.Until)
	log.Warn("the agent's account hit its usage limit", "agent", name, "reason", reason,
		"until", l.Until, "reset_known", l.ResetKnown, "backoff", l.backoff())
	return l
}

// clear lifts the flag after a run that began at started succeeded.
func (u usageLimits) clear(ctx context.Context, name string, started time.Time, log *slog.Logger) {
	if u.flags == nil {
		return
	}
	cleared, err := u.flags.clear(ctx, name, started)
	if err != nil {
		log.Warn("usage limit flag not cleared", "agent", name, "err", err)
		return
	}
	if cleared {
		u.metrics.Until(name, time.Time{})
		log.Info("the agent's account works again: usage limit flag cleared", "agent", name)
	}
}

// waitForFlag is the error that makes the step wait for the flag l to lift.
func waitForFlag(cmd events.RunStep, name string, l accountLimit, now time.Time, session string, cost float64) error {
	return worker.Wait(events.StepWaiting{
		WaitingUntil: l.Until, ResetKnown: l.ResetKnown, Reason: events.WaitUsageLimit,
		Message: waitMessage(name, cmd.Step, l, now), Agent: name, SessionID: session, CostUSD: cost,
	})
}

// againNote tells an agent whose session is resumed after a wait what
// became of its sandbox.
const againNote = "\n\n## Again, after a wait\n\nYour earlier run of this step was cut short because the account hit its usage limit. " +
	"The sandbox has been put back where the step began (its last checkpoint), so what that run changed in it may be gone. " +
	"Do the whole step again, as asked above, checking the sandbox as it is now.\n"

// resumeAfterWait runs a step sent again after a wait in the session the
// wait interrupted (cmd.Args.WaitSessionID), so the agent remembers its
// work. resumed is false when the CLI could not resume that session here
// (sessions live on the executor that ran them): the caller then runs the
// step in a fresh session.
func (x *executor) resumeAfterWait(ctx context.Context, cmd events.RunStep, sb sandbox.Sandbox, prompt string, lb *logBuilder, log *slog.Logger) (res events.StepResult, resumed bool, err error) {
	session := cmd.Args.WaitSessionID
	ar, err := x.agent.Run(ctx, x.resumeRequest(cmd, sb, prompt+againNote, session, lb, log))
	if err != nil {
		return events.StepResult{}, false, err
	}
	if ar.ResumeFailed {
		log.Warn("the session the wait interrupted could not be resumed here; running the step in a fresh session", "session_id", session, "reason", ar.ErrorMessage)
		x.liveLog.Publish(lb.entry(time.Now(), logentry.LevelWarn, "session_not_resumed",
			lb.text("a fresh agent session runs the step: the session the wait interrupted could not be resumed here: "+ar.ErrorMessage, 500)))
		return events.StepResult{}, false, nil
	}
	log.Info("agent session resumed after the wait", "session_id", session)
	res, err = x.agentOutcome(ctx, cmd, ar, cmd.Args.ResumeSessionCostUSD, log)
	return res, true, err
}
