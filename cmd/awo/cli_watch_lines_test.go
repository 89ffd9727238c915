package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// A watched work order's waits and the checkpoint's left-out output are
// shown as lines, not dropped: both explain what the user sees next (a
// pause, a sandbox another executor restores without node_modules).
func TestStepLines_ShowWaitsAndLeftOutOutput(t *testing.T) {
	var out bytes.Buffer
	s := &stepLines{e: &cmdEnv{stdout: &out}, started: map[string]time.Time{}, cost: map[string]float64{}}
	s.entry(apiclient.LogEntry{Event: "step_waiting", Step: "execute",
		Message: "waiting for Claude Code's usage limit to reset: execute runs again at 04:35:00 UTC"})
	s.entry(apiclient.LogEntry{Event: "checkpoint_left_out", Step: "execute",
		Message: "the checkpoint leaves out 200 MB of untracked output: node_modules/"})
	s.entry(apiclient.LogEntry{Event: "text", Step: "execute", Message: "thinking"})
	got := out.String()
	for _, want := range []string{
		"… execute waits: waiting for Claude Code's usage limit to reset: execute runs again at 04:35:00 UTC\n",
		"! execute: the checkpoint leaves out 200 MB of untracked output: node_modules/\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	if strings.Count(got, "\n") != 2 {
		t.Errorf("output %q: want exactly the two lines", got)
	}
}
