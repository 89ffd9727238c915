package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// progressView is how watch shows a work order's progress: stepLines
// (one line per event) or ttyView (redrawn in place on a terminal).
type progressView interface {
	entry(l apiclient.LogEntry)
	finish()
}

// isTerminal reports whether w is a terminal that can redraw: watch then
// draws in place; a pipe or file gets plain lines.
func isTerminal(w io.Writer, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	if !ok || getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// stepRow is one step's line.
type stepRow struct {
	name, progress string
	start          time.Time
	state          string // running, done, failed
	took, detail   string
	cost           float64
}

// ttyView keeps one line per step, a spinner on the running one with the
// current tool call underneath, and redraws the block in place (cursor up,
// clear to the end) on each entry and each spinner tick.
type ttyView struct {
	mu    sync.Mutex
	out   io.Writer
	rows  []*stepRow
	tool  string
	drawn int // lines the last draw wrote
	frame int
	stop  chan struct{}
	done  chan struct{}
}

func newTTYView(out io.Writer) *ttyView {
	v := &ttyView{out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go v.tick()
	return v
}

func (v *ttyView) tick() {
	defer close(v.done)
	t := time.NewTicker(120 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			v.frame++
			v.draw()
			v.mu.Unlock()
		}
	}
}

func (v *ttyView) row(step string) *stepRow {
	for _, r := range v.rows {
		if r.name == step {
			return r
		}
	}
	r := &stepRow{name: step, state: "running"}
	v.rows = append(v.rows, r)
	return r
}

func (v *ttyView) entry(l apiclient.LogEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch l.Event {
	case "step_started":
		r := v.row(l.Step)
		r.progress, r.start, r.state, v.tool = l.Progress, l.Timestamp, "running", ""
	case "tool_call":
		v.tool = l.Message
	case "step_finished":
		r := v.row(l.Step)
		if l.CostUSD != nil {
			r.cost = *l.CostUSD
		}
		if l.Success != nil && !*l.Success {
			r.state, r.took, r.detail = "failed", since(r.start, l.Timestamp), l.Message
		}
	case "step_completed":
		r := v.row(l.Step)
		r.state, r.took, v.tool = "done", since(r.start, l.Timestamp), ""
	default:
		return
	}
	v.draw()
}

func since(start, end time.Time) string {
	if start.IsZero() {
		return "?"
	}
	return end.Sub(start).Round(100 * time.Millisecond).String()
}

// draw rewrites the block; the caller holds mu.
func (v *ttyView) draw() {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", v.drawn)
	}
	b.WriteString("\r\x1b[J")
	lines := 0
	for _, r := range v.rows {
		switch r.state {
		case "done":
			fmt.Fprintf(&b, "✓ %s  %s  $%.4f\n", r.name, r.took, r.cost)
		case "failed":
			fmt.Fprintf(&b, "✗ %s failed after %s: %s\n", r.name, r.took, oneLine(r.detail, 60))
		default:
			fmt.Fprintf(&b, "%s %s %s  %s\n", spinner[v.frame%len(spinner)], r.name, r.progress,
				time.Since(r.start).Truncate(time.Second))
			if v.tool != "" {
				fmt.Fprintf(&b, "    %s\n", oneLine(v.tool, 70))
				lines++
			}
		}
		lines++
	}
	v.drawn = lines
	_, _ = io.WriteString(v.out, b.String())
}

// finish stops the spinner and leaves the last drawing: every row done or
// failed, no tool line.
func (v *ttyView) finish() {
	close(v.stop)
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tool = ""
	v.draw()
}
