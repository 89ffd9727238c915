package executor

import (
	"fmt"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Usage limits. When an agent's account hits its usage or rate limit, every
// run of that agent fails the same way until the limit resets. The first
// executor to see it sets a shared flag (accountLimit, in the AWO_ACCOUNT
// bucket); while the flag stands, executors park the agent's steps
// (step.waiting) instead of running them, and the orchestrator sends them
// again once it lifts. See docs/usage-limits.md.

// accountLimit is the shared flag of one agent's account: the value of key
// limit.<agent> in AWO_ACCOUNT. No key, or an Until in the past, is an
// account that is not limited.
type accountLimit struct {
	// Until is when the agent's runs may start again.
	Until time.Time `json:"until"`
	// BackoffSeconds is the wait this limit was given when the agent
	// named no reset: the next limit in a row waits twice as long.
	BackoffSeconds float64 `json:"backoff_seconds"`
	// ResetKnown says Until is the reset the agent named, not a backoff.
	ResetKnown bool `json:"reset_known"`
	// Reason is the API's answer that set the flag: "429 rate_limit_error".
	Reason string `json:"reason"`
	// Message says what the limit was and how Until was chosen, e.g.
	// "429 rate_limit_error, no reset time given: backoff 5m".
	Message string `json:"message"`
	// SetAt is when the flag was set: a run that succeeds clears only a
	// flag set before it began.
	SetAt time.Time `json:"set_at"`
}

// same reports whether l says what o does (written again, it would
// change nothing).
func (l accountLimit) same(o accountLimit) bool {
	return l.Until.Equal(o.Until) && l.BackoffSeconds == o.BackoffSeconds && l.ResetKnown == o.ResetKnown &&
		l.Reason == o.Reason && l.Message == o.Message && l.SetAt.Equal(o.SetAt)
}

func (l accountLimit) active(now time.Time) bool { return now.Before(l.Until) }

func (l accountLimit) backoff() time.Duration {
	return time.Duration(l.BackoffSeconds * float64(time.Second))
}

// nextLimit is the flag after a run of the agent ended on a limit at now:
// reason is the API's answer ("429 rate_limit_error"), reset the time the
// agent named (zero: none). prev is the flag as stored, nil for none.
//
//   - A flag still standing is the same limit seen by another run: it is
//     kept (a later named reset moves it on), not doubled.
//   - A named reset wins over any backoff.
//   - Otherwise the wait is cfg.Retry, or twice the last one when the last
//     flag lifted no longer than one backoff ago (the limit is still there
//     when the parked steps ran again), at most cfg.RetryMax.
func nextLimit(prev *accountLimit, now, reset time.Time, reason string, cfg config.UsageLimits) accountLimit {
	if !reset.After(now) {
		reset = time.Time{}
	}
	if prev != nil && prev.active(now) {
		l := *prev
		if !reset.IsZero() && reset.After(l.Until) {
			l.Until, l.ResetKnown, l.Reason, l.Message = reset, true, reason, reason+", reset time given by the agent"
		}
		return l
	}
	backoff := cfg.Retry
	if prev != nil && prev.backoff() > 0 && now.Sub(prev.Until) <= prev.backoff() {
		backoff = min(2*prev.backoff(), max(cfg.RetryMax, cfg.Retry))
	}
	l := accountLimit{Until: now.Add(backoff), BackoffSeconds: backoff.Seconds(), SetAt: now, Reason: reason,
		Message: fmt.Sprintf("%s, no reset time given: backoff %s", reason, shortDuration(backoff))}
	if !reset.IsZero() {
		l.Until, l.ResetKnown, l.Message = reset, true, reason+", reset time given by the agent"
		if prev != nil {
			l.BackoffSeconds = prev.BackoffSeconds // a known reset says nothing about the next backoff
		}
	}
	return l
}

// agentDisplayName is how messages for people name an agent.
func agentDisplayName(agent string) string {
	switch agent {
	case events.AgentClaude:
		return "Claude Code"
	case events.AgentCodex:
		return "Codex"
	}
	return agent
}

// agentOf is the agent a step runs with ("" is claude).
func agentOf(cmd events.RunStep) string {
	if cmd.Args.Agent == "" {
		return events.AgentClaude
	}
	return cmd.Args.Agent
}

// waitMessage is the work order's current_phase while its step waits, e.g.
// "waiting for Claude Code's usage limit to reset: execute runs again at
// 04:35:00 UTC (429 rate_limit_error, no reset time given: backoff 5m)".
func waitMessage(agent string, step workorder.Step, l accountLimit, now time.Time) string {
	return fmt.Sprintf("waiting for %s's usage limit to reset: %s runs again at %s (%s)",
		agentDisplayName(agent), step, clock(l.Until, now), l.Message)
}

// failMessage is the error of a step that hit the limit with
// AWO_RESUME_AFTER_USAGE_LIMIT=false: the limit, and when it resets or,
// with no reset given, when trying again makes sense.
func failMessage(agent string, l accountLimit, now time.Time, agentError string) string {
	when := fmt.Sprintf("it resets at %s", clock(l.Until, now))
	if !l.ResetKnown {
		when = fmt.Sprintf("no reset time was given; retry after %s (backoff %s)", clock(l.Until, now), shortDuration(l.backoff()))
	}
	msg := fmt.Sprintf("%s's usage limit was reached (%s) and AWO_RESUME_AFTER_USAGE_LIMIT=false, so the step fails instead of waiting: %s",
		agentDisplayName(agent), l.Reason, when)
	if agentError != "" {
		msg += " (" + agentError + ")"
	}
	return msg
}

// clock is t for people: the time of day in UTC, with the date when t is
// not today.
func clock(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05 UTC")
	}
	return t.Format("2006-01-02 15:04:05 UTC")
}

// shortDuration is d without the zero units time.Duration prints: 5m, 1h,
// 1h30m, 2s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	for _, cut := range []struct{ suffix, keep string }{{"h0m0s", "h"}, {"m0s", "m"}} {
		if len(s) > len(cut.suffix) && s[len(s)-len(cut.suffix):] == cut.suffix {
			return s[:len(s)-len(cut.suffix)] + cut.keep
		}
	}
	return s
}
