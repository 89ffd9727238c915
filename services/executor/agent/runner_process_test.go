package agent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests stand a shell script in for the CLI, to drive the process
// handling into corners the real CLI does not reach on its own.

func fakeCLI(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "claude")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func workDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// A CLI that ignores SIGTERM is killed after the grace period, together
// with a child that left the process group (as the CLI's Bash tool does).
func TestRun_TimeoutKillsACLIThatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	dir := workDir(t)
	cli := fakeCLI(t, `trap '' TERM
setsid sleep 3600 &
echo '{"type":"system","subtype":"init","session_id":"s-1"}'
while :; do sleep 1; done
`)
	r := &Runner{CLIPath: cli, Logger: testLogger(t), KillGrace: 300 * time.Millisecond}
	start := time.Now()
	res, err := r.Run(context.Background(), Request{Dir: dir, Prompt: "x", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.SessionID != "s-1" || res.ExitCode != -1 {
		t.Errorf("result = %+v", res)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %s, want about 1.3s", took)
	}
	requireNoProcessesIn(t, dir)
}

// A process the CLI leaves behind may keep its stdout open; Run must not
// wait for it. (Such a process, started in its own session and orphaned
// before the CLI exits, is out of the runner's reach: it is not killed.)
func TestRun_ReturnsWhenAnOrphanHoldsTheOutputOpen(t *testing.T) {
	t.Parallel()
	dir := workDir(t)
	// The orphan writes its pid once it is in its own session; the CLI
	// waits for that, or the runner's group kill would win the race.
	cli := fakeCLI(t, `setsid sh -c 'echo $$ > orphan.pid.tmp && mv orphan.pid.tmp orphan.pid && exec sleep 30' &
while [ ! -s orphan.pid ]; do sleep 0.01; done
echo '{"type":"result","subtype":"success","is_error":false,"result":"fine","num_turns":1,"session_id":"s-2"}'
`)
	t.Cleanup(func() {
		// The runner cannot find the orphan; the test does.
		if b, err := os.ReadFile(filepath.Join(dir, "orphan.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	r := &Runner{CLIPath: cli, Logger: testLogger(t)}
	start := time.Now()
	res, err := r.Run(context.Background(), Request{Dir: dir, Prompt: "x", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.ResultText != "fine" {
		t.Errorf("result = %+v", res)
	}
	if took := time.Since(start); took < drainTimeout || took > drainTimeout+2*time.Second {
		t.Errorf("took %s, want the drain timeout (%s) and little more", took, drainTimeout)
	}
}

func TestRun_FailureShowsExitCodeAndStderr(t *testing.T) {
	t.Parallel()
	cli := fakeCLI(t, `echo "Error: something broke" >&2
exit 3
`)
	res, err := (&Runner{CLIPath: cli, Logger: testLogger(t)}).Run(context.Background(), Request{Dir: workDir(t), Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "claude CLI exited with code 3: Error: something broke"; res.Success || res.ExitCode != 3 || res.ErrorMessage != want {
		t.Errorf("result = %+v, want message %q", res, want)
	}
}

// The prompt arrives on stdin, whole.
func TestRun_SendsThePromptOnStdin(t *testing.T) {
	t.Parallel()
	dir := workDir(t)
	cli := fakeCLI(t, `cat > prompt.txt
echo '{"type":"result","subtype":"success","is_error":false,"result":"ok"}'
`)
	prompt := strings.Repeat("a long prompt line with $1 and `quotes`\n", 5000) // > a pipe buffer
	res, err := (&Runner{CLIPath: cli, Logger: testLogger(t)}).Run(context.Background(), Request{Dir: dir, Prompt: prompt})
	if err != nil || !res.Success {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "prompt.txt"))
	if err != nil || string(got) != prompt {
		t.Errorf("stdin held %d bytes, want %d (%v)", len(got), len(prompt), err)
	}
}
