package fakeresponses_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/fakeresponses"
)

func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "init"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// runCodex runs the real codex CLI with prompt on stdin and returns its
// JSONL output.
func runCodex(t *testing.T, dir, prompt string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(fakeresponses.CodexPath(t), args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(prompt)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("codex stderr:\n%s", stderr.String())
	return stdout.String(), err
}

// TestCodexRunsShellCommands: the real codex CLI streams a function call
// from the fake, runs it in its working directory (a real git repository),
// sends back its output, and ends with the scripted text.
func TestCodexRunsShellCommands(t *testing.T) {
	srv := fakeresponses.New(t, fakeresponses.Rule{
		Name:   "branch",
		Prompt: "Create the branch",
		Turns: []fakeresponses.Turn{
			fakeresponses.Shell("git checkout -b feat/fake && echo hello > hello.txt && echo made-it"),
			fakeresponses.Text("feat/fake"),
		},
	})
	dir := gitRepo(t)
	out, err := runCodex(t, dir, "Create the branch feat/fake", srv.Env(t), "exec", "--json", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check",
		"-")
	t.Logf("codex stdout:\n%s", out)
	if err != nil {
		t.Fatalf("codex: %v", err)
	}
	cmd := exec.Command("git", "-C", dir, "branch", "--show-current")
	b, _ := cmd.Output()
	if got := strings.TrimSpace(string(b)); got != "feat/fake" {
		t.Errorf("branch = %q, want feat/fake", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello.txt")); err != nil {
		t.Errorf("hello.txt: %v", err)
	}
	conv := srv.Conversation("branch")
	if len(conv) != 2 {
		t.Fatalf("conversation has %d requests, want 2", len(conv))
	}
	if len(conv[1].Outputs) != 1 || !strings.Contains(conv[1].Outputs[0].Output, "made-it") {
		t.Errorf("second request's outputs = %+v, want the command's output", conv[1].Outputs)
	}
	if conv[0].Authorization != fakeresponses.APIKey {
		t.Errorf("authorization = %q", conv[0].Authorization)
	}
	if !strings.Contains(out, `"turn.completed"`) || !strings.Contains(out, "feat/fake") {
		t.Errorf("output lacks turn.completed or the final text")
	}
}

// TestCodexResumeAndUsageLimit: `codex exec resume <id>` continues the
// session from CODEX_HOME (the turn counts on), and a 429
// usage_limit_reached ends the run with the API's message.
func TestCodexResumeAndUsageLimit(t *testing.T) {
	srv := fakeresponses.New(t, fakeresponses.Rule{
		Name:   "talk",
		Prompt: "First question",
		Turns: []fakeresponses.Turn{
			fakeresponses.Text("first answer"),
			fakeresponses.Text("second answer"),
			fakeresponses.UsageLimit(90 * time.Second),
		},
	})
	dir := gitRepo(t)
	env := srv.Env(t)
	flags := []string{"--json", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check"}
	out, err := runCodex(t, dir, "First question", env, append(append([]string{"exec"}, flags...), "-")...)
	if err != nil {
		t.Fatalf("codex: %v\n%s", err, out)
	}
	var started struct {
		ThreadID string `json:"thread_id"`
	}
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &started)
	if started.ThreadID == "" {
		t.Fatalf("no thread id in %s", out)
	}
	out, err = runCodex(t, dir, "Second question", env, append(append([]string{"exec", "resume"}, flags...), started.ThreadID, "-")...)
	t.Logf("resume stdout:\n%s", out)
	if err != nil || !strings.Contains(out, "second answer") || !strings.Contains(out, started.ThreadID) {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	out, err = runCodex(t, dir, "Third question", env, append(append([]string{"exec", "resume"}, flags...), started.ThreadID, "-")...)
	t.Logf("usage-limited stdout:\n%s", out)
	if err == nil || !strings.Contains(out, `"turn.failed"`) {
		t.Fatalf("usage-limited run: err %v\n%s", err, out)
	}
}
