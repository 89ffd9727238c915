package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// Human-readable output of the client commands; -o json bypasses all of
// it. Free text (requests, messages) is cut to one line so a table stays a
// table, and control characters are dropped so an agent's output cannot
// drive the terminal.

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// oneLine is s's first line, without control characters, cut to n runes.
func oneLine(s string, n int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + " …"
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// age is how long ago t was, coarsely.
func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func printWorkOrders(w io.Writer, wos []apiclient.WorkOrder) {
	if len(wos) == 0 {
		fmt.Fprintln(w, "no work orders")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "ID\tSTATUS\tAGENT\tPHASE\tREPOSITORY\tCOST\tAGE\tREQUEST")
	for _, wo := range wos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", wo.AgentWorkOrderID, wo.Status, agentOf(wo), oneLine(phase(wo), 60),
			oneLine(wo.RepositoryURL, 50), money(totalCost(wo), 2), age(wo.CreatedAt), oneLine(wo.UserRequest, 50))
	}
	tw.Flush()
}

func printWorkOrder(w io.Writer, wo apiclient.WorkOrder) {
	tw := table(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("id", wo.AgentWorkOrderID)
	row("status", wo.Status)
	row("phase", phase(wo))
	row("agent", agentOf(wo))
	row("repository", wo.RepositoryURL)
	row("request", oneLine(wo.UserRequest, 200))
	row("steps", strings.Join(wo.SelectedCommands, ", "))
	row("sandbox", wo.SandboxType)
	row("branch", deref(wo.GitBranchName))
	row("issue", deref(wo.GitHubIssueNumber))
	row("pull request", deref(wo.GitHubPullRequestURL))
	row("commits", fmt.Sprintf("%d (%d files changed)", wo.GitCommitCount, wo.GitFilesChanged))
	row("cost", fmt.Sprintf("%s (%d in / %d out tokens)", money(totalCost(wo), 4), wo.InputTokens, wo.OutputTokens))
	if wo.MaxCostUSD != nil {
		row("cost cap", money(wo.MaxCostUSD, 2))
	}
	row("created", wo.CreatedAt.Format(time.RFC3339))
	row("updated", wo.UpdatedAt.Format(time.RFC3339))
	if wo.ErrorMessage != nil {
		row("error", oneLine(*wo.ErrorMessage, 500))
	}
	tw.Flush()
}

func printSteps(w io.Writer, steps []apiclient.Step) {
	if len(steps) == 0 {
		fmt.Fprintln(w, "no steps yet")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "ROUND\tSTEP\tATTEMPT\tAGENT\tRESULT\tDURATION\tCOST\tSESSION\tERROR")
	for _, s := range steps {
		result := "ok"
		if !s.Success {
			result = "failed"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%.1fs\t%s\t%s\t%s\n", s.Round, s.Step, s.Attempt, s.AgentName, result,
			s.DurationSeconds, money(s.CostUSD, 4), deref(s.SessionID), oneLine(deref(s.ErrorMessage), 80))
	}
	tw.Flush()
}

func printLogs(w io.Writer, logs apiclient.Logs) {
	for _, l := range logs.LogEntries {
		printLogEntry(w, l)
	}
	if shown := logs.Offset + len(logs.LogEntries); shown < logs.Total {
		fmt.Fprintf(w, "(%d of %d entries; --limit for more)\n", shown, logs.Total)
	}
}

func printLogEntry(w io.Writer, l apiclient.LogEntry) {
	step := l.Step
	if step == "" {
		step = "-"
	}
	fmt.Fprintf(w, "%s  %-7s %-14s %-15s %s\n", l.Timestamp.Local().Format("15:04:05"), l.Level, step, l.Event,
		oneLine(l.Message, 200))
}

func printRepositories(w io.Writer, repos []apiclient.Repository) {
	if len(repos) == 0 {
		fmt.Fprintln(w, "no configured repositories")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "ID\tREPOSITORY\tVERIFIED\tSANDBOX\tSTEPS")
	for _, r := range repos {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", r.ID, r.RepositoryURL, r.IsVerified, r.DefaultSandboxType,
			strings.Join(r.DefaultCommands, ","))
	}
	tw.Flush()
}

func printHealth(w io.Writer, h apiclient.Health) {
	fmt.Fprintf(w, "%s %s: %s (storage %s)\n", h.Service, h.Version, h.Status, h.StorageType)
	names := make([]string, 0, len(h.Dependencies))
	for n := range h.Dependencies {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := table(w)
	for _, n := range names {
		fields := h.Dependencies[n]
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+oneLine(string(fields[k]), 80))
		}
		fmt.Fprintf(tw, "  %s\t%s\n", n, strings.Join(parts, " "))
	}
	tw.Flush()
}

// money is usd to digits decimals, or "—" when the cost is unknown (an
// agent that reported tokens without a price for them).
func money(usd *float64, digits int) string {
	if usd == nil {
		return "—"
	}
	return fmt.Sprintf("$%.*f", digits, *usd)
}

// totalCost is what the work order's agent runs cost in all: total_cost_usd,
// or cost_usd from a server that predates it.
func totalCost(wo apiclient.WorkOrder) *float64 {
	if wo.TotalCostUSD != nil {
		return wo.TotalCostUSD
	}
	return wo.CostUSD
}

// agentOf is the work order's agent; a server that predates agents ran
// claude.
func agentOf(wo apiclient.WorkOrder) string {
	if wo.Agent == "" {
		return "claude"
	}
	return wo.Agent
}

// phase is the work order's current phase, or while its step waits,
// "waiting until <time>: <why>".
func phase(wo apiclient.WorkOrder) string {
	if wo.WaitingUntil == nil {
		return deref(wo.CurrentPhase)
	}
	out := "waiting until " + wo.WaitingUntil.Local().Format(time.RFC3339)
	if why := deref(wo.CurrentPhase); why != "" {
		out += ": " + why
	}
	return out
}
