package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The "done when": `awo create … --watch` against the running
// all-in-one shows each step as the real Claude Code CLI runs it, ends
// with the PR URL, and exits 0; the client needs only AWO_URL.
func TestCLI_CreateWatch_FollowsARealRunToThePR(t *testing.T) {
	const branch = "feat/add-greeting"
	w := newWorld(t, createBranch(branch), planning(), execute(writeGreeting), commit(branch))
	s := newStack(t, w)
	s.start()

	cmd := exec.Command(awoBinary, "create", "--repo", repoURL, "--request", "Add a greeting file", "--watch")
	cmd.Env = []string{"AWO_URL=" + s.base}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("create --watch did not end; so far:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr.String(), out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	id := lines[0]
	if !strings.HasPrefix(id, "wo-") {
		t.Fatalf("the first line is %q, want the id", id)
	}
	text := out.String()
	for _, want := range []string{"[1/5] … create-branch", "✓ create-branch", "✓ planning", "✓ execute", "✓ commit",
		"✓ create-pr", "printf 'hello, world", id + " completed", "pull request: https://github.com/acme/demo/pull/"} {
		if !strings.Contains(text, want) {
			t.Errorf("create --watch lacks %q:\n%s", want, text)
		}
	}
	t.Logf("awo create --watch:\n%s", text)
}
