package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// Exit codes of watch (and create --watch): how the work order ended.
const (
	exitFailed    = 1
	exitCancelled = 2
)

// exitCode ends a command with a given code and message (empty: nothing
// more to say).
type exitCode struct {
	code int
	msg  string
}

func (e exitCode) Error() string { return e.msg }

func cmdWatch(e *cmdEnv, args []string) error {
	c, id, err := withID(e, "watch", args, nil)
	if err != nil {
		return err
	}
	return watch(e, c, id)
}

// watch follows a work order to its end, one line per step event (the
// plain form: also what a terminal gets for now), then the PR URL or the
// error. -o json prints each log entry's JSON, then the work order's.
func watch(e *cmdEnv, c *apiclient.Client, id string) error {
	var w progressView = &stepLines{e: e, started: map[string]time.Time{}, cost: map[string]float64{}}
	if !e.json() && isTerminal(e.stdout, e.getenv) {
		w = newTTYView(e.stdout)
	}
	end, err := c.StreamLogs(e.ctx, id, apiclient.LogOptions{}, "", func(l apiclient.LogEntry, raw json.RawMessage) error {
		if e.json() {
			_, err := fmt.Fprintf(e.stdout, "%s\n", raw)
			return err
		}
		w.entry(l)
		return nil
	})
	w.finish()
	if err != nil {
		return err
	}
	wo, raw, err := settled(e, c, id, end.Status)
	if err != nil {
		return err
	}
	if e.json() {
		var buf []byte
		if buf, err = json.Marshal(raw); err == nil {
			_, err = fmt.Fprintf(e.stdout, "%s\n", buf)
		}
		if err != nil {
			return err
		}
	} else {
		summary(e, wo)
	}
	switch end.Status {
	case "completed":
		return nil
	case "cancelled":
		return exitCode{code: exitCancelled}
	}
	return exitCode{code: exitFailed}
}

// settled reads the work order once the read model shows the status the
// stream ended with: the stream is rendered from the events, the read
// model applies them a moment later (and the PR URL, the error are there).
func settled(e *cmdEnv, c *apiclient.Client, id, status string) (apiclient.WorkOrder, json.RawMessage, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		wo, raw, err := c.Get(e.ctx, id)
		if err != nil || wo.Status == status || time.Now().After(deadline) {
			return wo, raw, err
		}
		select {
		case <-e.ctx.Done():
			return wo, raw, e.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stepLines turns log entries into progress lines.
type stepLines struct {
	e       *cmdEnv
	started map[string]time.Time
	cost    map[string]float64
}

func (s *stepLines) entry(l apiclient.LogEntry) {
	out := s.e.stdout
	switch l.Event {
	case "step_started":
		s.started[l.Step] = l.Timestamp
		progress := ""
		if l.Progress != "" {
			progress = "[" + l.Progress + "] "
		}
		fmt.Fprintf(out, "%s… %s\n", progress, l.Step)
	case "tool_call":
		fmt.Fprintf(out, "      %s\n", oneLine(l.Message, 100))
	case "step_finished":
		if l.CostUSD != nil {
			s.cost[l.Step] = *l.CostUSD
		}
		if l.Success != nil && !*l.Success {
			fmt.Fprintf(out, "✗ %s failed after %s: %s\n", l.Step, s.took(l), oneLine(l.Message, 200))
		}
	case "step_completed":
		fmt.Fprintf(out, "✓ %s  %s  $%.4f\n", l.Step, s.took(l), s.cost[l.Step])
	case "workflow_started":
		fmt.Fprintf(out, "%s started\n", l.WorkOrderID)
	case "step_waiting": // a usage limit or the daily budget: it runs again by itself
		fmt.Fprintf(out, "… %s waits: %s\n", l.Step, oneLine(l.Message, 200))
	case "checkpoint_left_out": // untracked output over AWO_CHECKPOINT_MAX_BYTES
		fmt.Fprintf(out, "! %s: %s\n", l.Step, oneLine(l.Message, 200))
	}
}

// took is how long l's step has run since its step_started.
func (s *stepLines) took(l apiclient.LogEntry) string {
	start, ok := s.started[l.Step]
	if !ok {
		return "?"
	}
	return l.Timestamp.Sub(start).Round(100 * time.Millisecond).String()
}

func (s *stepLines) finish() {}

// summary says how the work order ended: status, cost, PR or error.
func summary(e *cmdEnv, wo apiclient.WorkOrder) {
	out := e.stdout
	fmt.Fprintf(out, "%s %s  %s\n", wo.AgentWorkOrderID, wo.Status, money(totalCost(wo), 4))
	if wo.GitHubPullRequestURL != nil {
		fmt.Fprintf(out, "pull request: %s\n", *wo.GitHubPullRequestURL)
	}
	if wo.ErrorMessage != nil && wo.Status != "completed" {
		fmt.Fprintf(out, "error: %s\n", oneLine(*wo.ErrorMessage, 500))
	}
}
