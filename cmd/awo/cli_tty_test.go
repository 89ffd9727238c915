package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// screen replays what a terminal shows for out: the escapes the view
// uses (carriage return, newline, cursor up, clear to the end) and text.
func screen(out string) []string {
	lines := []string{""}
	row := 0
	esc := regexp.MustCompile(`^\x1b\[(\d*)([AJ])`)
	for i := 0; i < len(out); {
		switch {
		case out[i] == '\r':
			i++
		case out[i] == '\n':
			row++
			if row == len(lines) {
				lines = append(lines, "")
			}
			i++
		case out[i] == 0x1b:
			m := esc.FindStringSubmatch(out[i:])
			if m == nil {
				i++
				continue
			}
			if m[2] == "A" {
				n, _ := strconv.Atoi(m[1])
				row -= n
			} else {
				lines = append(lines[:row], "") // the view clears from column 0
			}
			i += len(m[0])
		default:
			j := strings.IndexAny(out[i:], "\r\n\x1b")
			if j < 0 {
				j = len(out) - i
			}
			lines[row] += out[i : i+j]
			i += j
		}
	}
	return lines
}

// On a terminal (a pseudo-terminal from script(1)), watch draws a line per
// step with a spinner on the running one and its tool call underneath,
// then leaves each step's duration and cost and the PR URL on the screen.
func TestCLI_WatchOnATerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script(1) from util-linux is needed for the pseudo-terminal: ", err)
	}
	g := startGateway(t, map[string]string{})
	bin := filepath.Join(t.TempDir(), "awo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	id := g.create("Watch me")
	g.publish(id, "started", events.TypeStarted, &events.Started{})
	ok, cost := true, 0.125
	at := time.Now().UTC()
	entry := func(secs int, step workorder.Step, event, msg string) logentry.Entry {
		return logentry.Entry{Timestamp: at.Add(time.Duration(secs) * time.Second), Level: logentry.LevelInfo, Step: step,
			Event: event, Message: msg, WorkOrderID: workorder.ID(id), Attempt: 1}
	}
	started := entry(0, workorder.StepPlanning, logentry.EventStepStarted, "planning")
	started.Progress = "2/5"
	g.logs(started, entry(1, workorder.StepPlanning, logentry.EventToolCall, "Bash: go test ./..."))

	cmd := exec.Command(script, "-qefc", bin+" watch "+id, "/dev/null")
	cmd.Env = []string{"AWO_URL=" + g.url, "TERM=xterm", "PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // a few spinner frames
	finished := entry(4, workorder.StepPlanning, logentry.EventStepFinished, "done")
	finished.Success, finished.CostUSD = &ok, &cost
	g.logs(finished, entry(4, workorder.StepPlanning, logentry.EventStepCompleted, "planning completed"))
	g.publish(id, "completed", events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/app/pull/4"})
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("watch on a terminal: %v\n%q", err, out.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("watch did not end:\n%q", out.String())
	}

	raw := out.String()
	// While it ran: spinner frames on the step's line, the tool underneath.
	if !regexp.MustCompile(`[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] planning 2/5 .*\r?\n    Bash: go test ./...`).MatchString(raw) {
		t.Errorf("no running line with a spinner and the tool call under it:\n%q", raw)
	}
	if frames := regexp.MustCompile(`[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] planning`).FindAllString(raw, -1); len(frames) < 3 {
		t.Errorf("the spinner was drawn %d times, want it to turn", len(frames))
	}
	got := strings.Join(screen(raw), "\n")
	want := "✓ planning  4s  $0.1250\n" + id + " completed  $0.0000\npull request: https://github.com/acme/app/pull/4\n"
	if got != want {
		t.Errorf("final screen:\n%s\nwant:\n%s\n(raw %q)", got, want, raw)
	}
}
