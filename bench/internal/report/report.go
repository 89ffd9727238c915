// Package report is the benchmark's result: the JSON written to disk and
// the table printed for people.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/agentworkorders/awo/bench/internal/cpuuse"
	"github.com/agentworkorders/awo/bench/internal/raw"
	"github.com/agentworkorders/awo/bench/internal/stats"
)

// Targets are the goals for this benchmark on a 2-core machine.
type Targets struct {
	HandoffP50OverRTT   float64 `json:"handoff_p50_over_raw_rtt_p50_at_most"`
	FakeWorkOrdersPerS  float64 `json:"fake_work_orders_per_sec_at_least"`
	GitWorkOrdersPerSec float64 `json:"git_work_orders_per_sec_at_least"`
}

// DefaultTargets are issue 17's numbers.
var DefaultTargets = Targets{HandoffP50OverRTT: 5, FakeWorkOrdersPerS: 500, GitWorkOrdersPerSec: 25}

// Report is everything one run measured.
type Report struct {
	StartedAt string          `json:"started_at"`
	Machine   map[string]any  `json:"machine"`
	Settings  map[string]any  `json:"settings"`
	Targets   Targets         `json:"targets"`
	Raw       raw.Result      `json:"raw_jetstream"`
	Phases    []Phase         `json:"pipeline"`
	Met       map[string]bool `json:"targets_met"`
	Notes     []string        `json:"notes,omitempty"`
}

// Phase is one pipeline configuration, driven twice: one work order at a
// time, for the hand-off latency the system adds on its own (the number to
// hold against the raw round trip), then with many in flight, for
// throughput (its hand-off latency includes queueing).
type Phase struct {
	Name          string `json:"name"` // "fake" (instant agent, no git) or "git"
	StepsPerOrder int    `json:"steps_per_work_order"`
	Idle          Run    `json:"one_at_a_time"`
	Loaded        Run    `json:"throughput"`
	// Profiles of the throughput run.
	CPUProfile      string   `json:"cpu_profile,omitempty"`
	CPUTop          []string `json:"cpu_profile_top,omitempty"`
	CPUTopCum       []string `json:"cpu_profile_top_cum,omitempty"`
	BlockProfile    string   `json:"block_profile,omitempty"`
	BlockTopCum     []string `json:"block_profile_top_cum,omitempty"`
	ProfileProblems []string `json:"profile_problems,omitempty"`
}

// Run is one drive of work orders through a pipeline.
type Run struct {
	WorkOrders     int           `json:"work_orders"`
	InFlight       int           `json:"in_flight"`
	ElapsedSeconds float64       `json:"elapsed_s"`
	WorkOrdersPerS float64       `json:"work_orders_per_sec"`
	EndToEnd       stats.Summary `json:"end_to_end"`
	HandoffPublish stats.Summary `json:"handoff_from_publish"`
	HandoffArrival stats.Summary `json:"handoff_from_arrival"`
	// HandoffToDispatch is the part of HandoffPublish up to the next
	// step's dispatch event (the orchestrator's guarded append) being
	// stored; the rest is the command's publish.
	HandoffToDispatch stats.Summary `json:"handoff_to_dispatch"`
	P50OverRawRTT     float64       `json:"handoff_p50_over_raw_rtt_p50"`
	P99OverRawRTT     float64       `json:"handoff_p99_over_raw_rtt_p99"`
	CPU               cpuuse.Usage  `json:"cpu"`
	// NATS messages the server received and sent per work order (the
	// benchmark's observer gets two of them per hand-off).
	MsgsInPerWO  float64 `json:"nats_msgs_in_per_work_order"`
	MsgsOutPerWO float64 `json:"nats_msgs_out_per_work_order"`
	// Unpaired says how many hand-offs could not be paired, when any.
	Unpaired string `json:"unpaired,omitempty"`
}

// Ratios fills the run's comparison with the raw round trip.
func (r *Run) Ratios(raw raw.Result) {
	if raw.RoundTrip.P50ms > 0 {
		r.P50OverRawRTT = r.HandoffPublish.P50ms / raw.RoundTrip.P50ms
	}
	if raw.RoundTrip.P99ms > 0 {
		r.P99OverRawRTT = r.HandoffPublish.P99ms / raw.RoundTrip.P99ms
	}
}

// Judge records which targets the run reached.
func (r *Report) Judge() {
	r.Met = map[string]bool{}
	for _, p := range r.Phases {
		switch p.Name {
		case "fake":
			r.Met["fake_handoff_p50_within_ratio"] = p.Idle.P50OverRawRTT > 0 && p.Idle.P50OverRawRTT <= r.Targets.HandoffP50OverRTT
			r.Met["fake_work_orders_per_sec"] = p.Loaded.WorkOrdersPerS >= r.Targets.FakeWorkOrdersPerS
		case "git":
			r.Met["git_work_orders_per_sec"] = p.Loaded.WorkOrdersPerS >= r.Targets.GitWorkOrdersPerSec
		}
	}
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// PrintTable writes the summary table.
func (r *Report) PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tp50 ms\tp99 ms\trate /s\tp50 ÷ raw\tp99 ÷ raw\t")
	rt := r.Raw.RoundTrip
	fmt.Fprintf(tw, "raw JetStream publish+consume round trip\t%.3f\t%.3f\t\t1.0\t1.0\t\n", rt.P50ms, rt.P99ms)
	fmt.Fprintf(tw, "raw JetStream sync publish (ack)\t%.3f\t%.3f\t%.0f\t\t\t\n", r.Raw.PublishAck.P50ms, r.Raw.PublishAck.P99ms, r.Raw.SyncPublishPerSec)
	for _, p := range r.Phases {
		for _, run := range []struct {
			label string
			r     Run
		}{{"1 in flight", p.Idle}, {fmt.Sprintf("%d in flight", p.Loaded.InFlight), p.Loaded}} {
			x := run.r
			fmt.Fprintf(tw, "%s, %s: step hand-off (completed published → next command)\t%.3f\t%.3f\t\t%.1f\t%.1f\t\n",
				p.Name, run.label, x.HandoffPublish.P50ms, x.HandoffPublish.P99ms, x.P50OverRawRTT, x.P99OverRawRTT)
			fmt.Fprintf(tw, "%s, %s:   of which completed published → dispatch appended\t%.3f\t%.3f\t\t%s\t%s\t\n",
				p.Name, run.label, x.HandoffToDispatch.P50ms, x.HandoffToDispatch.P99ms, ratio(x.HandoffToDispatch.P50ms, rt.P50ms), ratio(x.HandoffToDispatch.P99ms, rt.P99ms))
			fmt.Fprintf(tw, "%s, %s: step hand-off (completed seen → next command)\t%.3f\t%.3f\t\t%s\t%s\t\n",
				p.Name, run.label, x.HandoffArrival.P50ms, x.HandoffArrival.P99ms, ratio(x.HandoffArrival.P50ms, rt.P50ms), ratio(x.HandoffArrival.P99ms, rt.P99ms))
			fmt.Fprintf(tw, "%s, %s: %d work orders × %d steps, POST → completed in read store\t%.1f\t%.1f\t%.1f\t\t\t\n",
				p.Name, run.label, x.WorkOrders, p.StepsPerOrder, x.EndToEnd.P50ms, x.EndToEnd.P99ms, x.WorkOrdersPerS)
			fmt.Fprintf(tw, "%s, %s: CPU cores used by the process / by git; machine load average\t%.2f\t%.2f\t%s\t\t\t\n",
				p.Name, run.label, x.CPU.SelfCores, x.CPU.ChildrenCores, x.CPU.LoadAvg)
			fmt.Fprintf(tw, "%s, %s: NATS messages per work order into / out of the server\t%.0f\t%.0f\t\t\t\t\n",
				p.Name, run.label, x.MsgsInPerWO, x.MsgsOutPerWO)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntargets (issue 17): hand-off p50 ≤ %.0f× raw round trip, ≥ %.0f work orders/s without git, ≥ %.0f with git\n",
		r.Targets.HandoffP50OverRTT, r.Targets.FakeWorkOrdersPerS, r.Targets.GitWorkOrdersPerSec)
	for _, k := range []string{"fake_handoff_p50_within_ratio", "fake_work_orders_per_sec", "git_work_orders_per_sec"} {
		if v, ok := r.Met[k]; ok {
			fmt.Fprintf(w, "  %-32s %v\n", k, v)
		}
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", a/b)
}
