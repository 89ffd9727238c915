package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// show prints raw with -o json, otherwise calls table.
func (e *cmdEnv) show(raw json.RawMessage, table func()) error {
	if e.json() {
		return e.printJSON(raw)
	}
	table()
	return nil
}

func cmdCreate(e *cmdEnv, args []string) error {
	fs := e.flags("create")
	var req apiclient.CreateRequest
	var steps, key string
	var follow bool
	var maxCost float64
	fs.StringVar(&req.RepositoryURL, "repo", "", "repository URL (required)")
	fs.StringVar(&req.UserRequest, "request", "", "what to do (required)")
	fs.StringVar(&steps, "steps", "", "comma-separated steps, e.g. create-branch,planning,execute")
	fs.StringVar(&req.SandboxType, "sandbox", "", "worktree or branch")
	fs.StringVar(&req.GitHubIssueNumber, "issue", "", "GitHub issue number")
	fs.StringVar(&req.Agent, "agent", "", "claude or codex (default: the repository's default_agent, else the server's)")
	fs.Float64Var(&maxCost, "max-cost-usd", 0, "cap on what the work order's agent runs may cost, in USD (default: the server's AWO_MAX_COST_USD)")
	fs.StringVar(&key, "idempotency-key", "", "Idempotency-Key: retrying with the same key creates one work order")
	fs.BoolVar(&follow, "watch", false, "follow it to the end, as awo watch (exit 0 completed, 1 failed, 2 cancelled)")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if req.RepositoryURL == "" || req.UserRequest == "" {
		return usagef("--repo and --request are required")
	}
	if maxCost < 0 {
		return usagef("--max-cost-usd must be more than 0")
	}
	if maxCost > 0 {
		req.MaxCostUSD = &maxCost
	}
	if steps != "" {
		for _, s := range strings.Split(steps, ",") {
			req.SelectedCommands = append(req.SelectedCommands, strings.TrimSpace(s))
		}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	created, raw, err := c.Create(e.ctx, req, key)
	if err != nil {
		return err
	}
	if err := e.show(raw, func() { fmt.Fprintln(e.stdout, created.AgentWorkOrderID) }); err != nil || !follow {
		return err
	}
	return watch(e, c, created.AgentWorkOrderID)
}

func cmdList(e *cmdEnv, args []string) error {
	fs := e.flags("list")
	var o apiclient.ListOptions
	fs.StringVar(&o.Status, "status", "", "pending, running, completed, failed or cancelled")
	fs.StringVar(&o.RepositoryURL, "repo", "", "only this repository URL (exact)")
	fs.IntVar(&o.Limit, "limit", 0, "at most this many (1-1000)")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	wos, raw, err := c.List(e.ctx, o)
	if err != nil {
		return err
	}
	return e.show(raw, func() { printWorkOrders(e.stdout, wos) })
}

// withID is the shape of show, steps and retry: one work order id, no
// flags of their own but the shared ones (and retry's --reason).
func withID(e *cmdEnv, name string, args []string, extra func(*flag.FlagSet)) (*apiclient.Client, string, error) {
	fs := e.flags(name)
	if extra != nil {
		extra(fs)
	}
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return nil, "", err
	}
	c, err := e.client()
	return c, pos[0], err
}

func cmdShow(e *cmdEnv, args []string) error {
	c, id, err := withID(e, "show", args, nil)
	if err != nil {
		return err
	}
	wo, raw, err := c.Get(e.ctx, id)
	if err != nil {
		return err
	}
	return e.show(raw, func() { printWorkOrder(e.stdout, wo) })
}

func cmdSteps(e *cmdEnv, args []string) error {
	c, id, err := withID(e, "steps", args, nil)
	if err != nil {
		return err
	}
	steps, raw, err := c.Steps(e.ctx, id)
	if err != nil {
		return err
	}
	return e.show(raw, func() { printSteps(e.stdout, steps.Steps) })
}

func cmdLogs(e *cmdEnv, args []string) error {
	var o apiclient.LogOptions
	var follow bool
	c, id, err := withID(e, "logs", args, func(f *flag.FlagSet) {
		f.StringVar(&o.Level, "level", "", "debug, info, warning or error: this level and above")
		f.StringVar(&o.Step, "step", "", "only this step's entries")
		f.IntVar(&o.Limit, "limit", 0, "at most this many entries (1-1000, default 100)")
		f.BoolVar(&follow, "f", false, "follow the live log until the work order ends")
	})
	if err != nil {
		return err
	}
	if follow {
		return followLogs(e, c, id, o)
	}
	logs, raw, err := c.Logs(e.ctx, id, o)
	if err != nil {
		return err
	}
	return e.show(raw, func() { printLogs(e.stdout, logs) })
}

// followLogs prints the live log as it comes (-o json: one entry's JSON
// per line) and, at the end, how the work order ended.
func followLogs(e *cmdEnv, c *apiclient.Client, id string, o apiclient.LogOptions) error {
	end, err := c.StreamLogs(e.ctx, id, o, "", func(l apiclient.LogEntry, raw json.RawMessage) error {
		if e.json() {
			_, err := fmt.Fprintf(e.stdout, "%s\n", raw)
			return err
		}
		printLogEntry(e.stdout, l)
		return nil
	})
	if err != nil {
		return err
	}
	if !e.json() {
		fmt.Fprintf(e.stdout, "%s %s\n", end.AgentWorkOrderID, end.Status)
	}
	return nil
}

func cmdCancel(e *cmdEnv, args []string) error {
	var reason string
	c, id, err := withID(e, "cancel", args, func(f *flag.FlagSet) {
		f.StringVar(&reason, "reason", "", "why (default \"cancelled by the user\")")
	})
	if err != nil {
		return err
	}
	wo, raw, err := c.Cancel(e.ctx, id, reason)
	return e.acted(wo, raw, err, "cancel requested")
}

func cmdRetry(e *cmdEnv, args []string) error {
	var reason string
	c, id, err := withID(e, "retry", args, func(f *flag.FlagSet) {
		f.StringVar(&reason, "reason", "", "why")
	})
	if err != nil {
		return err
	}
	wo, raw, err := c.Retry(e.ctx, id, reason)
	return e.acted(wo, raw, err, "retrying")
}

func cmdPrompt(e *cmdEnv, args []string) error {
	fs := e.flags("prompt")
	pos, err := e.parse(fs, args, 2)
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	wo, raw, err := c.Prompt(e.ctx, pos[0], pos[1])
	return e.acted(wo, raw, err, "follow-up round started")
}

// acted prints the answer of cancel, retry and prompt: the work order
// and its status now.
func (e *cmdEnv) acted(wo apiclient.WorkOrder, raw json.RawMessage, err error, what string) error {
	if err != nil {
		return err
	}
	return e.show(raw, func() { fmt.Fprintf(e.stdout, "%s: %s (%s)\n", wo.AgentWorkOrderID, what, wo.Status) })
}

func cmdHealth(e *cmdEnv, args []string) error {
	fs := e.flags("health")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	h, raw, err := c.Health(e.ctx)
	if err != nil {
		return err
	}
	return e.show(raw, func() { printHealth(e.stdout, h) })
}
