package executor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/nats-io/nats.go/jetstream"
)

var limitCfg = config.UsageLimits{Retry: 5 * time.Minute, RetryMax: time.Hour, Resume: true}

func TestNextLimit(t *testing.T) {
	now := time.Date(2026, 12, 6, 4, 30, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	flag := func(until time.Time, backoff time.Duration) *accountLimit {
		return &accountLimit{Until: until, BackoffSeconds: backoff.Seconds(), Reason: "429 rate_limit_error", Message: "earlier"}
	}
	tests := []struct {
		name        string
		prev        *accountLimit
		reset       time.Time
		wantUntil   time.Time
		wantBackoff time.Duration
		wantKnown   bool
	}{
		{"first limit: the first backoff", nil, time.Time{}, at(5 * time.Minute), 5 * time.Minute, false},
		{"a standing flag is the same limit: kept, not doubled", flag(at(3*time.Minute), 5*time.Minute), time.Time{}, at(3 * time.Minute), 5 * time.Minute, false},
		{"a standing flag moves to a later named reset", flag(at(3*time.Minute), 5*time.Minute), at(time.Hour), at(time.Hour), 5 * time.Minute, true},
		{"a standing flag keeps a named reset before it", flag(at(3*time.Minute), 5*time.Minute), at(time.Minute), at(3 * time.Minute), 5 * time.Minute, false},
		{"limited again right after the flag lifted: doubled", flag(at(-10*time.Second), 5*time.Minute), time.Time{}, at(10 * time.Minute), 10 * time.Minute, false},
		{"doubling stops at the maximum", flag(at(-time.Second), 40*time.Minute), time.Time{}, at(time.Hour), time.Hour, false},
		{"long after the last flag lifted: a new limit starts over", flag(at(-6*time.Minute), 5*time.Minute), time.Time{}, at(5 * time.Minute), 5 * time.Minute, false},
		{"a named reset wins over the backoff", nil, at(90 * time.Minute), at(90 * time.Minute), 5 * time.Minute, true},
		{"a named reset keeps the backoff for the next limit", flag(at(-time.Second), 20*time.Minute), at(2 * time.Minute), at(2 * time.Minute), 20 * time.Minute, true},
		{"a reset in the past is no reset", nil, at(-time.Minute), at(5 * time.Minute), 5 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := nextLimit(tt.prev, now, tt.reset, "429 rate_limit_error", limitCfg)
			if !l.Until.Equal(tt.wantUntil) || l.backoff() != tt.wantBackoff || l.ResetKnown != tt.wantKnown {
				t.Errorf("flag = until %s backoff %s known %t; want %s %s %t", l.Until, l.backoff(), l.ResetKnown, tt.wantUntil, tt.wantBackoff, tt.wantKnown)
			}
			if l.Reason != "429 rate_limit_error" || l.Message == "" {
				t.Errorf("reason %q, message %q", l.Reason, l.Message)
			}
		})
	}
}

// The backoff doubles limit after limit while runs keep hitting it, up
// to the maximum, and a success starts it over.
func TestNextLimit_DoublesInARow(t *testing.T) {
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	var prev *accountLimit
	var got []time.Duration
	for range 6 {
		l := nextLimit(prev, now, time.Time{}, "429 rate_limit_error", limitCfg)
		got = append(got, l.backoff())
		prev, now = &l, l.Until.Add(time.Second) // the parked steps run again as it lifts
	}
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs = %v, want %v", got, want)
		}
	}
}

func TestMessages(t *testing.T) {
	now := time.Date(2026, 12, 6, 4, 30, 0, 0, time.UTC)
	l := nextLimit(nil, now, time.Time{}, "429 rate_limit_error", limitCfg)
	if got, want := waitMessage("claude", workorder.StepExecute, l, now),
		"waiting for Claude Code's usage limit to reset: execute runs again at 04:35:00 UTC (429 rate_limit_error, no reset time given: backoff 5m)"; got != want {
		t.Errorf("wait message = %q\nwant %q", got, want)
	}
	if got, want := failMessage("claude", l, now, "claude CLI failed: API Error: Request rejected (429)"),
		"Claude Code's usage limit was reached (429 rate_limit_error) and AWO_RESUME_AFTER_USAGE_LIMIT=false, so the step fails instead of waiting: no reset time was given; retry after 04:35:00 UTC (backoff 5m) (claude CLI failed: API Error: Request rejected (429))"; got != want {
		t.Errorf("fail message = %q\nwant %q", got, want)
	}
	known := nextLimit(nil, now, time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC), "429 rate_limit_error", limitCfg)
	if got := failMessage("codex", known, now, ""); !strings.Contains(got, "Codex's usage limit") || !strings.Contains(got, "it resets at 2026-12-07 01:00:00 UTC") {
		t.Errorf("fail message with a known reset = %q", got)
	}
	for d, want := range map[time.Duration]string{5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m", 2 * time.Second: "2s", 2500 * time.Millisecond: "3s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func accountsKV(t *testing.T) AccountKV {
	t.Helper()
	env := natstest.Start(t)
	kv, err := OpenAccounts(t.Context(), env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// Executors that hit the limit at once store one flag: each
// compare-and-set that loses sees the winner's flag and keeps it.
func TestAccountFlags_ConcurrentLimitsStoreOneFlag(t *testing.T) {
	f := accountFlags{kv: accountsKV(t)}
	now := time.Now()
	var wg sync.WaitGroup
	results := make([]accountLimit, 8)
	for i := range results {
		wg.Go(func() {
			l, err := f.limit(t.Context(), "claude", func(prev *accountLimit) accountLimit {
				return nextLimit(prev, now, time.Time{}, "429 rate_limit_error", limitCfg)
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = l
		})
	}
	wg.Wait()
	stored, _, found, err := f.get(t.Context(), "claude")
	if err != nil || !found || stored.backoff() != 5*time.Minute {
		t.Fatalf("stored %+v, %t, %v; want one 5m flag", stored, found, err)
	}
	for _, r := range results {
		if !r.Until.Equal(stored.Until) {
			t.Errorf("a run got flag %+v, the bucket holds %+v", r, stored)
		}
	}
	// Another agent's account is not limited.
	if _, _, found, _ := f.get(t.Context(), "codex"); found {
		t.Error("codex flagged too")
	}
}

func TestAccountFlags_ClearOnlyAFlagOlderThanTheRun(t *testing.T) {
	f := accountFlags{kv: accountsKV(t)}
	set := func() accountLimit {
		l, err := f.limit(t.Context(), "claude", func(prev *accountLimit) accountLimit {
			return nextLimit(prev, time.Now(), time.Time{}, "429 rate_limit_error", limitCfg)
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := set()
	// A run that began before the flag was set may have had its last
	// answer before the limit: it clears nothing.
	if cleared, err := f.clear(t.Context(), "claude", l.SetAt.Add(-time.Second)); err != nil || cleared {
		t.Fatalf("clear by an older run = %t, %v", cleared, err)
	}
	if cleared, err := f.clear(t.Context(), "claude", l.SetAt.Add(time.Second)); err != nil || !cleared {
		t.Fatalf("clear by a newer run = %t, %v", cleared, err)
	}
	if _, _, found, _ := f.get(t.Context(), "claude"); found {
		t.Fatal("flag still there")
	}
	// Set again after a clear: the key was deleted, Create still works
	// and the backoff starts over.
	if l := set(); l.backoff() != 5*time.Minute {
		t.Errorf("after a clear: %+v", l)
	}
}

// countingKV counts the reads of the flags.
type countingKV struct {
	AccountKV
	gets atomic.Int64
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.gets.Add(1)
	return c.AccountKV.Get(ctx, key)
}

// While no flag has been seen, a successful run's clear reads nothing:
// it is on every step's path. Once this executor has seen a flag (read
// before a run, or set by one), the clear reads and lifts it.
func TestAccountFlags_ClearReadsOnlyAfterAFlagWasSeen(t *testing.T) {
	kv := &countingKV{AccountKV: accountsKV(t)}
	f := accountFlags{kv: kv, seen: &flagHints{}}
	if cleared, err := f.clear(t.Context(), "claude", time.Now()); err != nil || cleared || kv.gets.Load() != 0 {
		t.Fatalf("clear with no flag seen = %t, %v after %d reads; want nothing read", cleared, err, kv.gets.Load())
	}
	// Another executor sets the flag; this one reads it before a run.
	other := accountFlags{kv: kv.AccountKV}
	if _, err := other.limit(t.Context(), "claude", func(prev *accountLimit) accountLimit {
		return nextLimit(prev, time.Now().Add(-time.Minute), time.Time{}, "429 rate_limit_error", limitCfg)
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := f.get(t.Context(), "claude"); err != nil || !found {
		t.Fatalf("pre-run read: found %t, %v", found, err)
	}
	if cleared, err := f.clear(t.Context(), "claude", time.Now()); err != nil || !cleared {
		t.Fatalf("clear after a flag was seen = %t, %v; want it lifted", cleared, err)
	}
	reads := kv.gets.Load()
	if cleared, err := f.clear(t.Context(), "claude", time.Now()); err != nil || cleared || kv.gets.Load() != reads {
		t.Fatalf("clear after lifting it = %t, %v, %d more reads; want none", cleared, err, kv.gets.Load()-reads)
	}
}

func limitedExecutor(t *testing.T, a AgentRunner, kv AccountKV, cfg config.UsageLimits) *executor {
	t.Helper()
	x := newTestExecutor(t, a, &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
	x.usage = newUsageLimits(cfg, kv, nil)
	return x
}

func asWaiting(t *testing.T, err error) events.StepWaiting {
	t.Helper()
	w, ok := errors.AsType[*worker.Waiting](err)
	if !ok {
		t.Fatalf("err = %v, want a worker.Wait", err)
	}
	return w.StepWaiting
}

var limitedRun = agent.Result{ExitCode: 1, UsageLimited: true, LimitReason: "429 rate_limit_error", SessionID: "3982e70b-eb5b-4f3a-81d9-9d15c0d47978",
	CostUSD: 0.25, ErrorMessage: "claude CLI failed: API Error: Request rejected (429) · This request would exceed your account's rate limit."}

// A run that hits the limit parks its step and flags the account; the
// next step of that agent waits without running; a retry a client asked
// for runs anyway and, succeeding, clears the flag.
func TestRunStep_UsageLimit_ParksTheStepAndTheAccount(t *testing.T) {
	kv := accountsKV(t)
	a := &fakeAgent{result: limitedRun}
	x := limitedExecutor(t, a, kv, config.UsageLimits{Retry: 2 * time.Second, RetryMax: time.Minute, Resume: true})
	log := testLogger(t)
	start := time.Now()

	_, err := x.runStep(t.Context(), cmd(workorder.StepExecute), log)
	w := asWaiting(t, err)
	if w.Reason != events.WaitUsageLimit || w.Agent != "claude" || w.ResetKnown || w.SessionID != limitedRun.SessionID || w.CostUSD != 0.25 {
		t.Errorf("waiting = %+v", w)
	}
	if d := w.WaitingUntil.Sub(start); d < 2*time.Second || d > 3*time.Second {
		t.Errorf("waits %s, want the 2s backoff", d)
	}
	if !strings.HasPrefix(w.Message, "waiting for Claude Code's usage limit to reset: execute runs again at ") || !strings.Contains(w.Message, "(429 rate_limit_error, no reset time given: backoff 2s)") {
		t.Errorf("message = %q", w.Message)
	}
	flag, _, found, err := accountFlags{kv: kv}.get(t.Context(), "claude")
	if err != nil || !found || !flag.Until.Equal(w.WaitingUntil) {
		t.Fatalf("flag = %+v, %t, %v", flag, found, err)
	}

	// Another work order's step waits for the same flag, not run.
	other := cmd(workorder.StepReview)
	other.WorkOrderID = "wo-00000002"
	_, err = x.runStep(t.Context(), other, log)
	if w2 := asWaiting(t, err); !w2.WaitingUntil.Equal(w.WaitingUntil) || w2.CostUSD != 0 || !strings.Contains(w2.Message, "prp-review runs again at") {
		t.Errorf("second step waits %+v", w2)
	}
	if len(a.got) != 1 {
		t.Fatalf("the agent ran %d times, want once", len(a.got))
	}

	// A retry asked for while waiting runs now; it succeeds, which clears the flag.
	a.result = agent.Result{Success: true, ResultText: "implemented", SessionID: "s2"}
	retry := cmd(workorder.StepExecute)
	retry.Args.Waits, retry.Args.IgnoreAccountLimit = 1, true
	res, err := x.runStep(t.Context(), retry, log)
	if err != nil || !res.Success || len(a.got) != 2 {
		t.Fatalf("retry = %+v, %v (agent ran %d times)", res, err, len(a.got))
	}
	if _, _, found, _ := (accountFlags{kv: kv}).get(t.Context(), "claude"); found {
		t.Error("a successful run left the flag")
	}
	res, err = x.runStep(t.Context(), other, log)
	if err != nil || !res.Success {
		t.Errorf("after the clear: %+v, %v", res, err)
	}
}

// With AWO_RESUME_AFTER_USAGE_LIMIT=false the step fails, naming the
// limit and when to try again; so does a step started while the flag stands.
func TestRunStep_UsageLimit_ResumeOffFails(t *testing.T) {
	kv := accountsKV(t)
	a := &fakeAgent{result: limitedRun}
	x := limitedExecutor(t, a, kv, config.UsageLimits{Retry: time.Minute, RetryMax: time.Hour, Resume: false})
	res, err := x.runStep(t.Context(), cmd(workorder.StepExecute), testLogger(t))
	if err != nil || res.Success {
		t.Fatalf("result = %+v, %v; want a failed step", res, err)
	}
	for _, want := range []string{"Claude Code's usage limit was reached (429 rate_limit_error)", "AWO_RESUME_AFTER_USAGE_LIMIT=false", "no reset time was given; retry after ", "backoff 1m", "Request rejected (429)"} {
		if !strings.Contains(res.ErrorMessage, want) {
			t.Errorf("error %q lacks %q", res.ErrorMessage, want)
		}
	}
	if res.CostUSD != 0.25 {
		t.Errorf("cost = %v", res.CostUSD)
	}
	res, err = x.runStep(t.Context(), cmd(workorder.StepPlanning), testLogger(t))
	if err != nil || res.Success || !strings.Contains(res.ErrorMessage, "retry after") || len(a.got) != 1 {
		t.Errorf("step while flagged = %+v, %v (agent ran %d times)", res, err, len(a.got))
	}
}

// A reset time the agent names is the wait, and known.
func TestRunStep_UsageLimit_NamedResetWins(t *testing.T) {
	reset := time.Now().Add(42 * time.Minute).Truncate(time.Second).UTC()
	r := limitedRun
	r.ResetAt = reset
	x := limitedExecutor(t, &fakeAgent{result: r}, accountsKV(t), limitCfg)
	_, err := x.runStep(t.Context(), cmd(workorder.StepExecute), testLogger(t))
	w := asWaiting(t, err)
	if !w.WaitingUntil.Equal(reset) || !w.ResetKnown || !strings.Contains(w.Message, "reset time given by the agent") {
		t.Errorf("waiting = %+v", w)
	}
}

// A command sent again after a wait resumes the interrupted session with
// a note on the sandbox; a session that cannot be resumed here gets a
// fresh run.
func TestRunStep_AfterAWait_ResumesTheSessionOrStartsAfresh(t *testing.T) {
	c := cmd(workorder.StepExecute)
	c.Args.Waits, c.Args.WaitSessionID, c.Args.ResumeSessionCostUSD = 1, limitedRun.SessionID, 0.25

	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "implemented", CostUSD: 0.75, SessionID: limitedRun.SessionID}}
	x := limitedExecutor(t, a, accountsKV(t), limitCfg)
	res, err := x.runStep(t.Context(), c, testLogger(t))
	if err != nil || !res.Success || len(a.got) != 1 {
		t.Fatalf("resumed = %+v, %v (%d runs)", res, err, len(a.got))
	}
	if req := a.got[0]; req.Resume != limitedRun.SessionID || !strings.Contains(req.Prompt, "Do the whole step again") {
		t.Errorf("request resume %q, prompt %q", req.Resume, req.Prompt)
	}
	if res.CostUSD != 0.5 {
		t.Errorf("cost %v, want the session's 0.75 less the 0.25 it had cost", res.CostUSD)
	}

	runs := &seqAgent{results: []agent.Result{
		{ExitCode: 1, ResumeFailed: true, ErrorMessage: "No conversation found with session ID"},
		{Success: true, ResultText: "implemented", SessionID: "fresh"},
	}}
	x = limitedExecutor(t, runs, accountsKV(t), limitCfg)
	res, err = x.runStep(t.Context(), c, testLogger(t))
	if err != nil || !res.Success || res.SessionID != "fresh" || len(runs.got) != 2 {
		t.Fatalf("fresh = %+v, %v (%d runs)", res, err, len(runs.got))
	}
	if runs.got[0].Resume == "" || runs.got[1].Resume != "" || strings.Contains(runs.got[1].Prompt, "Do the whole step again") {
		t.Errorf("runs = %+v", runs.got)
	}
}

// The live log says the step waits and until when.
func TestRunStep_UsageLimit_LiveLogSaysUntilWhen(t *testing.T) {
	x := limitedExecutor(t, &fakeAgent{result: limitedRun}, accountsKV(t), limitCfg)
	rec := &recordingLog{}
	x.liveLog = rec
	_, err := x.runStep(t.Context(), cmd(workorder.StepExecute), testLogger(t))
	w := asWaiting(t, err)
	last := rec.entries[len(rec.entries)-1]
	if last.Event != eventStepWaiting || !strings.Contains(last.Message, w.WaitingUntil.UTC().Format(time.RFC3339)) || !strings.Contains(last.Message, "usage limit") {
		t.Errorf("last entry = %+v", last)
	}
}

// Through the worker protocol, as the mains run it: the limited step is
// recorded as step.waiting (no result), the command acked, and the flag
// is in the AWO_ACCOUNT bucket Build made.
func TestRun_UsageLimitedStepIsRecordedAsWaiting(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cfg, _ := config.Load(func(string) string { return "" })
	cfg.AckWait = 5 * time.Second
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runAsMains(runCtx, cfg.Executor(), env.Bus("awo/executor"), nil, func(d *Deps) {
			d.Agent = &fakeAgent{result: limitedRun}
			d.Sandboxes = &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
		})
	}()
	c := cmd(workorder.StepExecute)
	if err := worker.PublishCommand(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	var hist []events.Event
	for ctx.Err() == nil {
		h, err := b.History(ctx, c.WorkOrderID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if hist = h.Events; len(hist) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(hist) != 2 || hist[0].Type != events.TypeStepStarted || hist[1].Type != events.TypeStepWaiting || hist[1].ID != c.ID()+".waiting" {
		t.Fatalf("history %+v", hist)
	}
	w := hist[1].Data.(*events.StepWaiting)
	if w.Step != workorder.StepExecute || w.Attempt != 1 || w.Reason != events.WaitUsageLimit || w.SessionID != limitedRun.SessionID ||
		w.WaitingUntil.Sub(hist[1].Time) < 4*time.Minute || !strings.Contains(w.Message, "backoff 5m") {
		t.Errorf("step.waiting = %+v", w)
	}
	waitEmpty(t, ctx, env.JS)
	kv, err := env.JS.KeyValue(ctx, AccountBucket)
	if err != nil {
		t.Fatal(err)
	}
	if l, _, found, err := (accountFlags{kv: kv}).get(ctx, "claude"); err != nil || !found || !l.Until.Equal(w.WaitingUntil) {
		t.Errorf("flag = %+v, %t, %v", l, found, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A follow-up round sent again after a wait resumes the session the wait
// interrupted, and a limited follow-up waits like any step, its cost less
// what the session had cost before.
func TestRunStep_FollowUp_WaitsAndResumesTheInterruptedSession(t *testing.T) {
	const waitSession = "4b1d0c2e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
	c := followUpCmd(sessionID)
	c.Args.ResumeSessionCostUSD = 1
	limitedRound := limitedRun
	limitedRound.SessionID, limitedRound.CostUSD = sessionID, 1.25
	a := &seqAgent{results: []agent.Result{limitedRound}}
	x := limitedExecutor(t, a, accountsKV(t), limitCfg)
	_, err := x.runStep(t.Context(), c, testLogger(t))
	if w := asWaiting(t, err); w.SessionID != sessionID || w.CostUSD != 0.25 {
		t.Errorf("waiting = %+v; want the session and its 0.25 of this run", w)
	}

	c.Args.Waits, c.Args.WaitSessionID, c.Args.IgnoreAccountLimit = 1, waitSession, true
	a = &seqAgent{results: []agent.Result{{Success: true, ResultText: "Handled", SessionID: waitSession, CostUSD: 1.5}}}
	x = limitedExecutor(t, a, accountsKV(t), limitCfg)
	res, err := x.runStep(t.Context(), c, testLogger(t))
	if err != nil || !res.Success || res.CostUSD != 0.5 {
		t.Fatalf("resumed round = %+v, %v", res, err)
	}
	if req := a.got[0]; req.Resume != waitSession || !strings.Contains(req.Prompt, "Also handle the empty case") || !strings.Contains(req.Prompt, "Do the whole step again") {
		t.Errorf("request resume %q, prompt %q", req.Resume, req.Prompt)
	}
}

// With the flags watched (as Run does), the check before a run reads
// memory, not the bucket: a flag another executor sets parks this one's
// next step once the watch has delivered it, the executor's own flag
// parks its next step at once, and a clear lets the steps run again.
func TestRunStep_UsageLimit_WatchedFlags(t *testing.T) {
	env := natstest.Start(t)
	raw, err := OpenAccounts(t.Context(), env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.UsageLimits{Retry: time.Minute, RetryMax: time.Hour, Resume: true}
	watched := func(a AgentRunner) (*executor, *countingKV) {
		kv := &countingKV{AccountKV: raw}
		x := limitedExecutor(t, a, kv, cfg)
		x.usage.flags.watchFlags(t.Context(), raw, env.JS.Conn(), testLogger(t))
		for !x.usage.flags.watched.Current() {
			time.Sleep(time.Millisecond)
		}
		return x, kv
	}
	limited := &fakeAgent{result: limitedRun}
	fine := &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}
	x1, _ := watched(limited)
	x2, reads := watched(fine)
	log := testLogger(t)

	if res, err := x2.runStep(t.Context(), cmd(workorder.StepExecute), log); err != nil || !res.Success {
		t.Fatalf("with no flag: %+v, %v", res, err)
	}
	if n := reads.gets.Load(); n != 0 {
		t.Fatalf("the check before a run read the bucket %d times", n)
	}
	_, err = x1.runStep(t.Context(), cmd(workorder.StepExecute), log)
	asWaiting(t, err)
	// x1's own flag parks its next step at once.
	limited.result = agent.Result{Success: true}
	other := cmd(workorder.StepReview)
	other.WorkOrderID = "wo-00000002"
	if _, err := x1.runStep(t.Context(), other, log); err == nil {
		t.Fatal("the executor that set the flag ran its next step")
	} else {
		asWaiting(t, err)
	}
	// x2 sees it once its watch delivers it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := x2.runStep(t.Context(), other, log)
		if err != nil {
			asWaiting(t, err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("another executor's flag never parked this one's step")
		}
	}
	runs := len(fine.got)
	// A retry clears the flag; x2's steps run again.
	retry := cmd(workorder.StepExecute)
	retry.Args.Waits, retry.Args.IgnoreAccountLimit = 1, true
	if res, err := x1.runStep(t.Context(), retry, log); err != nil || !res.Success {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	for {
		res, err := x2.runStep(t.Context(), other, log)
		if err == nil && res.Success {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cleared flag still parks the step: %v", err)
		}
	}
	if len(fine.got) <= runs {
		t.Fatal("the agent did not run after the clear")
	}
}
