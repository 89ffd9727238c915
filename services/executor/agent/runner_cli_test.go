package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/claudecli"
	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// These tests run the real Claude Code CLI against a scripted model in a
// temporary git repository.

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newRunner(t *testing.T) *Runner {
	return &Runner{CLIPath: claudecli.Path(t), Logger: testLogger(t)}
}

// newRepo makes a git repository with one commit on main.
func newRepo(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# demo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "--quiet", "--initial-branch=main")
	git(t, dir, "add", ".")
	git(t, dir, "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "--quiet", "-m", "initial")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func request(srv *fakemodel.Server, dir, prompt string, timeout time.Duration) Request {
	return Request{
		Dir: dir, Prompt: prompt, Model: "sonnet", MaxTurns: 10, SkipPermissions: true,
		Timeout: timeout, Env: claudecli.Env(srv.URL),
	}
}

// processesIn lists the live processes whose working directory is dir or
// below it: the CLI and every command its tools run there.
func processesIn(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, fmt.Sprintf("%s: %s", e.Name(), strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return out
}

// requireNoProcessesIn fails unless every process working in dir is gone.
// SIGKILL is delivered asynchronously, hence the short wait.
func requireNoProcessesIn(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := processesIn(dir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left running in %s:\n%s", dir, strings.Join(left, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// messageLog collects what OnMessage saw.
type messageLog struct {
	mu   sync.Mutex
	msgs []Message
}

func (l *messageLog) add(m Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
}

func (l *messageLog) all() []Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// maxStopTime is the longest a run stopped after limit may take: the CLI's
// start on a busy machine, the SIGTERM grace and the output drain. The CLI
// usually exits within 1.5s of SIGTERM.
func maxStopTime(limit time.Duration) time.Duration {
	return limit + 2*time.Second + defaultKillGrace + drainTimeout
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestRun_ScriptedBashCallChangesTheRepository(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{
		Name:   "greet",
		Prompt: "create the greeting file",
		Turns: []fakemodel.Turn{
			fakemodel.Bash("echo hello > greeting.txt && git status --short", "Create the greeting file"),
			fakemodel.Text("Created greeting.txt"),
		},
	})
	var seen messageLog
	req := request(srv, dir, "Please create the greeting file.", time.Minute)
	req.OnMessage = seen.add

	start := time.Now()
	res, err := newRunner(t).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.ExitCode != 0 || res.TimedOut || res.ErrorMessage != "" {
		t.Fatalf("result = %+v", res)
	}
	if res.ResultText != "Created greeting.txt" {
		t.Errorf("ResultText = %q", res.ResultText)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "greeting.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("greeting.txt = %q, %v", b, err)
	}
	if !uuidPattern.MatchString(res.SessionID) {
		t.Errorf("SessionID = %q, want a uuid", res.SessionID)
	}
	if res.NumTurns != 2 {
		t.Errorf("NumTurns = %d, want 2", res.NumTurns)
	}
	if res.Usage.InputTokens != 2*fakemodel.InputTokens || res.Usage.OutputTokens != 2*fakemodel.OutputTokens {
		t.Errorf("Usage = %+v, want 2 turns of %d in / %d out", res.Usage, fakemodel.InputTokens, fakemodel.OutputTokens)
	}
	if res.CostUSD <= 0 {
		t.Errorf("CostUSD = %v, want > 0", res.CostUSD)
	}

	// The live stream saw the whole conversation, in order.
	var kinds []string
	for _, m := range seen.all() {
		switch {
		case m.Init != nil:
			kinds = append(kinds, "init")
			if m.SessionID != res.SessionID {
				t.Errorf("init session %q != result session %q", m.SessionID, res.SessionID)
			}
		case m.Type == TypeAssistant && len(m.Content) > 0 && m.Content[0].Type == "tool_use":
			kinds = append(kinds, "tool_use:"+m.Content[0].ToolName)
		case m.Type == TypeAssistant:
			kinds = append(kinds, "text:"+m.Text())
		case m.Type == TypeUser && len(m.ToolResults) == 1:
			kinds = append(kinds, "tool_result:"+strings.TrimSpace(m.ToolResults[0].Content))
		case m.Result != nil:
			kinds = append(kinds, "result")
		}
	}
	want := []string{"init", "tool_use:Bash", "tool_result:?? greeting.txt", "text:Created greeting.txt", "result"}
	if !slices.Equal(kinds, want) {
		t.Errorf("messages = %q, want %q", kinds, want)
	}

	conv := srv.Conversation("greet")
	if len(conv) != 2 || len(conv[1].ToolResults) != 1 || !strings.Contains(conv[1].ToolResults[0].Content, "greeting.txt") {
		t.Errorf("model saw %+v", conv)
	}
	if len(conv) > 0 {
		t.Logf("CLI start overhead: %d ms from Run to the first model request; whole run %d ms",
			conv[0].Time.Sub(start).Milliseconds(), res.Duration.Milliseconds())
	}
	requireNoProcessesIn(t, dir)
}

func TestRun_APIErrorFailsQuicklyWithTheAPIMessage(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Error(400, "model sonnet-x does not exist"),
	}})
	start := time.Now()
	res, err := newRunner(t).Run(context.Background(), request(srv, dir, "Do something.", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || res.TimedOut || res.ExitCode != 1 {
		t.Errorf("result = %+v", res)
	}
	if want := "claude CLI failed: API Error: 400 model sonnet-x does not exist"; res.ErrorMessage != want {
		t.Errorf("ErrorMessage = %q, want %q", res.ErrorMessage, want)
	}
	// Retrying would take minutes; the bound leaves room for a loaded
	// machine, where the CLI alone can take seconds to start.
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s; a 4xx should end the run at once", took)
	}
}

// A 5xx is retried by the CLI for minutes unless the answer says not to.
func TestRun_ServerErrorWithoutRetryFailsQuickly(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Error(529, "overloaded right now").WithoutRetry(),
	}})
	start := time.Now()
	res, err := newRunner(t).Run(context.Background(), request(srv, dir, "Do something.", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || !strings.Contains(res.ErrorMessage, "API Error: 529 overloaded right now") {
		t.Errorf("result = %+v", res)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestRun_MaxTurnsReached(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Bash("true", "first"),
		fakemodel.Bash("true", "second"),
		fakemodel.Text("never reached"),
	}})
	req := request(srv, dir, "Loop.", time.Minute)
	req.MaxTurns = 1
	res, err := newRunner(t).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || res.ErrorMessage != "claude CLI failed: Reached maximum number of turns (1)" {
		t.Errorf("result = %+v", res)
	}
}

func TestRun_TimeoutStopsASlowModel(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Text("too late").After(time.Minute),
	}})
	start := time.Now()
	res, err := newRunner(t).Run(context.Background(), request(srv, dir, "Think hard.", 3*time.Second))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Success || res.ErrorMessage != "claude CLI timed out after 3s and was stopped" {
		t.Errorf("result = %+v", res)
	}
	if took < 3*time.Second || took > maxStopTime(3*time.Second) {
		t.Errorf("took %s, want a little over 3s", took)
	}
	requireNoProcessesIn(t, dir)
}

// The CLI runs Bash commands in a session of their own, out of reach of a
// signal to the CLI's process group; a timeout must stop them too.
func TestRun_TimeoutStopsTheCommandTheAgentRuns(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	// Not "sleep 3600": the CLI refuses a standalone long sleep.
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Bash("tail -f /dev/null", "Wait for a long time"),
		fakemodel.Text("done"),
	}})
	// Generous: the CLI must reach the tool call before the timeout, and a
	// busy 2-core machine can take seconds to start it.
	const timeout = 10 * time.Second
	var toolCalls, earlyResults int
	start := time.Now()
	req := request(srv, dir, "Run the slow command.", timeout)
	req.OnMessage = func(m Message) {
		if len(m.Content) > 0 && m.Content[0].ToolName == "Bash" {
			toolCalls++
		}
		// On SIGTERM the CLI kills the command and reports "Exit code 137"
		// before exiting; a result before the timeout means it never ran.
		if len(m.ToolResults) > 0 && time.Since(start) < timeout {
			earlyResults++
			t.Logf("tool result before the timeout: %+v", m.ToolResults)
		}
	}
	res, err := newRunner(t).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if toolCalls != 1 || earlyResults != 0 {
		t.Fatalf("saw %d tool calls and %d results before the timeout, want the one call still running", toolCalls, earlyResults)
	}
	if !res.TimedOut {
		t.Errorf("result = %+v", res)
	}
	if took := time.Since(start); took > maxStopTime(timeout) {
		t.Errorf("took %s", took)
	}
	requireNoProcessesIn(t, dir)
}

func TestRun_CallerCancellationReturnsAnError(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Text("too late").After(time.Minute),
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := request(srv, dir, "Think hard.", time.Minute)
	req.OnMessage = func(m Message) {
		if m.Init != nil {
			time.AfterFunc(300*time.Millisecond, cancel)
		}
	}
	start := time.Now()
	res, err := newRunner(t).Run(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res.Success || res.TimedOut {
		t.Errorf("result = %+v", res)
	}
	if took := time.Since(start); took > maxStopTime(0) {
		t.Errorf("took %s", took)
	}
	requireNoProcessesIn(t, dir)
}

func TestRun_AlreadyCancelledContextStartsNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newRunner(t).Run(ctx, Request{Dir: t.TempDir(), Prompt: "x"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRun_MissingCLI(t *testing.T) {
	t.Parallel()
	r := &Runner{CLIPath: filepath.Join(t.TempDir(), "claude"), Logger: testLogger(t)}
	res, err := r.Run(context.Background(), Request{Dir: t.TempDir(), Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "claude CLI not found at " + r.CLIPath + ": set CLAUDE_CLI_PATH"; res.Success || res.ErrorMessage != want {
		t.Errorf("ErrorMessage = %q, want %q", res.ErrorMessage, want)
	}
}

func TestRun_MissingWorkingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "gone")
	res, err := newRunner(t).Run(context.Background(), Request{Dir: dir, Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || !strings.Contains(res.ErrorMessage, dir) {
		t.Errorf("ErrorMessage = %q, want it to name %s", res.ErrorMessage, dir)
	}
}

// As root the CLI refuses --dangerously-skip-permissions without
// IS_SANDBOX=1; the runner says so before starting it. Both halves are
// checked, so a CLI that changes this rule fails the test.
func TestRun_RootWithoutSandboxFlag(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the CLI only refuses root; this process is not root")
	}
	dir := newRepo(t)
	srv := fakemodel.New(t)
	env := append(claudecli.Env(srv.URL), "IS_SANDBOX=")

	req := request(srv, dir, "x", time.Minute)
	req.Env = env
	res, err := newRunner(t).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || !strings.Contains(res.ErrorMessage, "set IS_SANDBOX=1") || res.ExitCode != -1 {
		t.Errorf("result = %+v", res)
	}

	cmd := exec.Command(claudecli.Path(t), "--print", "--dangerously-skip-permissions")
	cmd.Dir, cmd.Env, cmd.Stdin = dir, append(os.Environ(), env...), strings.NewReader("x")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot be used with root/sudo privileges") {
		t.Errorf("the CLI itself: err=%v, output %q; the fail-fast check may be out of date", err, out)
	}
}

// BenchmarkRun_OneTextTurn measures what a step pays for the CLI itself:
// start, one model round trip to a local server, exit.
func BenchmarkRun_OneTextTurn(b *testing.B) {
	srv := fakemodel.New(b, fakemodel.Rule{Turns: []fakemodel.Turn{fakemodel.Text("done")}})
	dir := b.TempDir()
	r := &Runner{CLIPath: claudecli.Path(b), Logger: slog.New(slog.DiscardHandler)}
	var firstRequest time.Duration
	for b.Loop() {
		before := len(srv.Requests())
		start := time.Now()
		res, err := r.Run(context.Background(), request(srv, dir, "Say done.", time.Minute))
		if err != nil || !res.Success {
			b.Fatalf("res = %+v, err = %v", res, err)
		}
		firstRequest += srv.Requests()[before].Time.Sub(start)
	}
	b.ReportMetric(float64(firstRequest.Milliseconds())/float64(b.N), "ms-to-first-request/op")
}

func TestRun_TimeoutNamesItsLimit(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Text("too late").After(time.Minute),
	}})
	req := request(srv, dir, "Think hard.", 2*time.Second)
	req.TimeoutLimit = "AWO_STEP_TIMEOUTS planning=2s"
	res, err := newRunner(t).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.ErrorMessage != "claude CLI timed out after 2s (AWO_STEP_TIMEOUTS planning=2s) and was stopped" {
		t.Errorf("result = %+v", res)
	}
}

// --max-budget-usd: the CLI stops after the answer that took the run over
// it, failing, with what it cost so far.
func TestRun_MaxBudgetStopsTheRun(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Bash("true", "first"),
		fakemodel.Text("never reached"),
	}})
	req := request(srv, dir, "Do it.", time.Minute)
	req.MaxBudgetUSD = 0.0001
	res, err := newRunner(t).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || res.CostUSD <= 0.0001 || !strings.Contains(res.ErrorMessage, "maximum budget") || res.NumTurns != 1 {
		t.Errorf("result = %+v, want a failed run over the budget after one answer", res)
	}
}
