package sandbox_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/claudecli"
	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// plantScript is what a hostile agent runs in its worktree: it writes into
// the cached clone's git directory, shared by every work order on the
// repository, everything that would make a later git of the executor run
// a program of its choice. Each program touches a marker named for the way
// in.
func plantScript(markers string) string {
	// The marker names the directory the program ran in: the agent's own
	// CLI runs git in its worktree too (and so trips its own traps), which
	// is not what is judged here.
	// The marker holds the command line of the git that ran the program.
	touch := func(name string) string {
		return `(tr '\0' ' ' < /proc/$PPID/cmdline || echo unknown) > "` + filepath.Join(markers, name) + `@$(basename "$PWD")" 2>/dev/null`
	}
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\ncommon=$(git rev-parse --git-common-dir)\nmkdir -p \"$common/hooks\" \"$common/info\"\n")
	for _, hook := range []string{"post-checkout", "pre-push", "pre-commit", "post-index-change", "reference-transaction", "pre-auto-gc", "fsmonitor-watchman"} {
		fmt.Fprintf(&b, "cat > \"$common/hooks/%s\" <<'EOF'\n#!/bin/sh\n%s\nEOF\nchmod +x \"$common/hooks/%s\"\n", hook, touch("hook-"+hook), hook)
	}
	for key, value := range map[string]string{
		"core.fsmonitor":            touch("fsmonitor") + "; exit 1",
		"filter.evil.clean":         touch("filter-clean") + "; cat",
		"filter.evil.smudge":        touch("filter-smudge") + "; cat",
		"filter.evil.required":      "true",
		"core.sshCommand":           touch("ssh-command"),
		"remote.origin.uploadpack":  touch("uploadpack") + "; exec git-upload-pack",
		"remote.origin.receivepack": touch("receivepack") + "; exec git-receive-pack",
		"credential.helper":         "!" + touch("credential-helper"),
		"commit.gpgSign":            "true",
		"gpg.program":               filepath.Join(markers, "no-such-gpg"),
		"core.pager":                touch("pager") + "; cat",
		"protocol.ext.allow":        "always",
	} {
		fmt.Fprintf(&b, "git config %s %s\n", shq(key), shq(value))
	}
	// Every file goes through the filter, in every worktree.
	fmt.Fprintf(&b, "echo '* filter=evil' > \"$common/info/attributes\"\necho planted\n")
	return b.String()
}

// Secure by default: repos. One work order's agent (the real CLI) plants
// hooks, an fsmonitor command, a filter driver and more into the shared
// clone; a second work order on the same repository creates its worktree,
// is inspected, checkpointed, pushed and removed by the executor, and none
// of the planted programs ever runs.
func TestIsolation_PlantedRepositoryConfigNeverRunsInAnotherWorkOrder(t *testing.T) {
	o := gitfixture.New(t)
	m := newManager(t, o)
	markers := t.TempDir()

	a := prepare(t, m, worktreeSpec("wo-0000000a"))
	script := plantScript(markers)
	if err := os.WriteFile(filepath.Join(markers, "plant.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Bash("sh "+filepath.Join(markers, "plant.sh"), "Prepare the repository"),
		fakemodel.Text("Done"),
	}})
	runner := &agent.Runner{CLIPath: claudecli.Path(t)}
	res, err := runner.Run(t.Context(), agent.Request{
		Dir: a.Dir, Prompt: "Set things up.", Model: "sonnet", MaxTurns: 5, SkipPermissions: true,
		Timeout: 2 * time.Minute, Env: claudecli.Env(srv.URL),
	})
	if err != nil || !res.Success {
		t.Fatalf("agent: %+v, %v", res, err)
	}
	common := strings.TrimSpace(o.Git(t, a.Dir, "rev-parse", "--path-format=absolute", "--git-common-dir"))
	if _, err := os.Stat(filepath.Join(common, "hooks", "post-checkout")); err != nil {
		t.Fatalf("the agent did not plant its hook: %v", err)
	}
	if got := o.Git(t, a.Dir, "config", "--get", "core.fsmonitor"); !strings.Contains(got, "fsmonitor") {
		t.Fatalf("the agent did not plant core.fsmonitor: %q", got)
	}

	// A teammate pushes, so the second work order's sandbox needs a fetch.
	o.Commit(t, "main", "NEWS.md", "news\n", "Add news")

	ctx := t.Context()
	s := worktreeSpec("wo-0000000b")
	b := prepare(t, m, s)
	if _, err := os.Stat(filepath.Join(b.Dir, "NEWS.md")); err != nil {
		t.Fatalf("second sandbox lacks the fetched commit: %v", err)
	}
	checkNoneRan(t, markers) // the fetch and the checkout of the new worktree
	writeFile(t, b.Dir, "greeting.txt", "hello\n")
	// The test's own git, as the second agent would commit (with the
	// planted programs switched off, so that only the executor's git is
	// judged).
	safe := []string{"-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "commit.gpgSign=false",
		"-c", "filter.evil.clean=", "-c", "filter.evil.smudge=", "-c", "filter.evil.required=false"}
	o.Git(t, b.Dir, append(safe, "checkout", "--quiet", "-b", "feat/greeting")...)
	o.Git(t, b.Dir, append(safe, "add", "greeting.txt")...)
	o.Git(t, b.Dir, append(safe, "commit", "--quiet", "-m", "Greet")...)
	clearMarkers(t, markers) // the test's own git above must not count
	writeFile(t, b.Dir, "untracked.txt", "more\n")

	if _, err := m.Progress(ctx, b); err != nil {
		t.Fatalf("Progress: %v", err)
	}
	if _, err := m.CurrentBranch(ctx, b.Dir); err != nil {
		t.Fatalf("CurrentBranch: %v", err)
	}
	cp, err := m.Snapshot(ctx, s, b)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if err := m.Bundle(ctx, s, b, cp, filepath.Join(t.TempDir(), "cp.bundle")); err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	if err := m.Push(ctx, b, "feat/greeting", ""); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if err := m.Remove(ctx, s); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	// A third work order of the git_branch kind clones afresh: nothing to
	// inherit, but it must not fail either.
	prepare(t, m, sandbox.Spec{WorkOrderID: "wo-0000000c", RepositoryURL: gitfixture.DefaultURL, Type: workorder.SandboxBranch})

	checkNoneRan(t, markers)
}

func checkNoneRan(t *testing.T, markers string) {
	t.Helper()
	for _, name := range markerFiles(t, markers) {
		b, _ := os.ReadFile(filepath.Join(markers, name))
		t.Errorf("the executor ran a program planted by another work order's agent: %s (from %s)", name, b[strings.LastIndex(string(b), " -c ")+1:])
	}
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func clearMarkers(t *testing.T, dir string) {
	t.Helper()
	for _, name := range markerFiles(t, dir) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func markerFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "plant.sh" && !strings.HasSuffix(e.Name(), "@sandbox-wo-0000000a") {
			names = append(names, e.Name())
		}
	}
	return names
}
