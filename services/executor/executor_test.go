package executor

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// fakeAgent answers every run with the scripted result and can touch the
// sandbox like a real agent would.
type fakeAgent struct {
	result agent.Result
	err    error
	do     func(dir string)
	lines  [][]byte // stream-json handed to OnMessage, as the CLI would print it
	got    []agent.Request
}

func (f *fakeAgent) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	f.got = append(f.got, req)
	if f.do != nil {
		f.do(req.Dir)
	}
	for _, l := range f.lines {
		m, _ := agent.ParseLine(l)
		if req.OnMessage != nil {
			req.OnMessage(m)
		}
	}
	return f.result, f.err
}

type fakeSandboxes struct {
	dir       string
	branch    string
	branchEr  error
	pushed    []string
	rerunFrom []string // per push
	pushErr   error
	// noCommits: the branch holds nothing beyond the base branch.
	noCommits bool

	// followup_test.go
	caughtUp   []string
	catchUpErr error
	diff       string
	diffErr    error

	// checkpoint_test.go
	marker        string
	checkpoints   int
	unchanged     bool // the next snapshot is the same as the last
	bundles       int
	restored      []string
	checkpointErr error
	leftOut       []sandbox.LeftOut // what each snapshot leaves out
	restoreErr    error
	marked        int               // sandboxes taken on the marker's word
	removed       chan sandbox.Spec // told about every Remove, when set
}

func (f *fakeSandboxes) Prepare(ctx context.Context, s sandbox.Spec) (sandbox.Sandbox, error) {
	return sandbox.Sandbox{Dir: f.dir, BaseBranch: "main"}, nil
}
func (f *fakeSandboxes) Progress(ctx context.Context, sb sandbox.Sandbox) (sandbox.Progress, error) {
	if f.noCommits {
		return sandbox.Progress{Branch: f.branch}, nil
	}
	return sandbox.Progress{Branch: f.branch, CommitCount: 2, FilesChanged: 3, LatestCommitMessage: "feat: x"}, nil
}
func (f *fakeSandboxes) CurrentBranch(ctx context.Context, dir string) (string, error) {
	return f.branch, f.branchEr
}
func (f *fakeSandboxes) Remove(ctx context.Context, s sandbox.Spec) error {
	if f.removed != nil {
		f.removed <- s
	}
	return nil
}
func (f *fakeSandboxes) Push(ctx context.Context, sb sandbox.Sandbox, branch, rerunFrom string) error {
	f.pushed = append(f.pushed, branch)
	f.rerunFrom = append(f.rerunFrom, rerunFrom)
	return f.pushErr
}

// The rest of Sandboxes: no step needs the sandbox held against a
// housekeeper that finds nothing to list.
func (f *fakeSandboxes) Use(ctx context.Context, s sandbox.Spec) (func(), error) {
	return func() {}, nil
}
func (f *fakeSandboxes) List(ctx context.Context) ([]sandbox.Entry, error) { return nil, nil }
func (f *fakeSandboxes) RemoveIf(ctx context.Context, e sandbox.Entry, decide func(context.Context) (bool, error)) (bool, error) {
	return false, nil
}

// noLiveLog is the live log of a test that does not look at it.
type noLiveLog struct{}

func (noLiveLog) Publish(logentry.Entry)      {}
func (noLiveLog) Flush(context.Context) error { return nil }

// runAsMains runs the executor as the mains do, Build then Run, with the
// test's doubles put in place of what Build made by fake; the live log is
// closed once Run returns.
func runAsMains(ctx context.Context, cfg config.Executor, b *bus.Bus, log *slog.Logger, fake func(*Deps)) error {
	d, closeLiveLog, err := Build(ctx, cfg, b, log, nil)
	if err != nil {
		return err
	}
	fake(&d)
	err = Run(ctx, d)
	closeLiveLog()
	return err
}

func newTestExecutor(t *testing.T, a AgentRunner, s Sandboxes) *executor {
	t.Helper()
	p, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load(func(string) string { return "" })
	x, err := newExecutor(Deps{Config: cfg.Executor(), Agent: a, Sandboxes: s, Prompts: p, LiveLog: noLiveLog{}, FreeSpace: statfsFree})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func cmd(step workorder.Step) events.RunStep {
	return events.RunStep{WorkOrderID: "wo-00000001", Step: step, Attempt: 1, RepositoryURL: "https://github.com/acme/demo",
		SandboxType: workorder.SandboxWorktree, SandboxIdentifier: "sandbox-wo-00000001",
		Args: events.StepArgs{UserRequest: "add a greeting", BranchName: "feat/greeting", PlanFile: "PRPs/features/greeting.md"}}
}

func TestRunStep_CreateBranch_RecordsTheBranchTheAgentCheckedOut(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "feat/greeting", SessionID: "s1"}}, sb)
	res, err := x.runStep(context.Background(), cmd(workorder.StepCreateBranch), x.log)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.BranchName != "feat/greeting" || res.BaseBranch != "main" || res.SessionID != "s1" {
		t.Fatalf("result %+v", res)
	}
}

func TestRunStep_CreateBranch_FailsWhenStillOnTheBaseBranch(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "main"}
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "feat/x"}}, sb)
	res, _ := x.runStep(context.Background(), cmd(workorder.StepCreateBranch), x.log)
	if res.Success || !strings.Contains(res.ErrorMessage, "still on the base branch") {
		t.Fatalf("result %+v", res)
	}
}

func TestRunStep_Planning_NeedsAPlanFileThatExists(t *testing.T) {
	dir := t.TempDir()
	write := func(d string) {
		_ = os.MkdirAll(filepath.Join(d, "PRPs/features"), 0o755)
		_ = os.WriteFile(filepath.Join(d, "PRPs/features/greeting.md"), []byte("# plan"), 0o644)
	}
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "The plan is at `PRPs/features/greeting.md`."}, do: write},
		&fakeSandboxes{dir: dir, branch: "feat/greeting"})
	res, _ := x.runStep(context.Background(), cmd(workorder.StepPlanning), x.log)
	if !res.Success || res.PlanFile != "PRPs/features/greeting.md" {
		t.Fatalf("result %+v", res)
	}

	x = newTestExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "PRPs/features/missing.md"}},
		&fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
	res, _ = x.runStep(context.Background(), cmd(workorder.StepPlanning), x.log)
	if res.Success || !strings.Contains(res.ErrorMessage, "no plan file") {
		t.Fatalf("result %+v", res)
	}
}

func TestRunStep_Commit_PushesTheBranchAndReportsProgress(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "feat: greeting"}}, sb)
	res, _ := x.runStep(context.Background(), cmd(workorder.StepCommit), x.log)
	if !res.Success || len(sb.pushed) != 1 || sb.pushed[0] != "feat/greeting" {
		t.Fatalf("result %+v, pushed %v", res, sb.pushed)
	}
	if res.CommitCount == nil || *res.CommitCount != 2 || res.FilesChanged == nil || *res.FilesChanged != 3 {
		t.Fatalf("progress not recorded: %+v", res)
	}

	sb.pushErr = errors.New("remote rejected")
	res, _ = x.runStep(context.Background(), cmd(workorder.StepCommit), x.log)
	if res.Success || !strings.Contains(res.ErrorMessage, "pushing branch feat/greeting to origin: remote rejected") {
		t.Fatalf("result %+v", res)
	}
}

// The commit step hands the repository's pull request template on to
// create-pr, redacted like everything else it reports.
func TestRunStep_Commit_CarriesThePRTemplate(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
	const token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	tmpl := "## Description\n\n<!-- what and why -->\n\n## Checklist\n\n- [ ] Tests (token " + token + ")\n"
	if err := os.MkdirAll(filepath.Join(sb.dir, ".github"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb.dir, ".github", "PULL_REQUEST_TEMPLATE.md"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "feat: greeting"}}, sb)
	res, _ := x.runStep(context.Background(), cmd(workorder.StepCommit), x.log)
	if !res.Success || !strings.HasPrefix(res.PRTemplate, "## Description\n\n<!-- what and why -->") ||
		!strings.Contains(res.PRTemplate, "- [ ] Tests") || strings.Contains(res.PRTemplate, token) {
		t.Fatalf("result %+v; want the template, without the token", res)
	}
	res, _ = x.runStep(context.Background(), cmd(workorder.StepExecute), x.log)
	if res.PRTemplate != "" {
		t.Fatalf("execute carried the template: %+v", res)
	}
}

// An agent that says it committed but left nothing beyond the base branch
// fails the step: pushing would make a branch with no change to propose.
func TestRunStep_Commit_FailsWhenNothingWasCommitted(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting", noCommits: true}
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "feat: greeting"}}, sb)
	res, _ := x.runStep(context.Background(), cmd(workorder.StepCommit), x.log)
	if res.Success || !strings.Contains(res.ErrorMessage, "branch feat/greeting has no commit beyond origin/main") {
		t.Fatalf("result %+v", res)
	}
	if len(sb.pushed) != 0 {
		t.Errorf("pushed %v although nothing was committed", sb.pushed)
	}
}

func TestRunStep_AgentFailureIsAStepFailureWithItsReason(t *testing.T) {
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{Success: false, ErrorMessage: "timed out after 3s", TimedOut: true}},
		&fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
	res, err := x.runStep(context.Background(), cmd(workorder.StepExecute), x.log)
	if err != nil || res.Success || res.ErrorMessage != "timed out after 3s" {
		t.Fatalf("result %+v, err %v", res, err)
	}
}

func TestRunStep_PromptCarriesTheStepArguments(t *testing.T) {
	fa := &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}
	x := newTestExecutor(t, fa, &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
	if _, err := x.runStep(context.Background(), cmd(workorder.StepExecute), x.log); err != nil {
		t.Fatal(err)
	}
	if len(fa.got) != 1 || !strings.Contains(fa.got[0].Prompt, "PRPs/features/greeting.md") || fa.got[0].Model != "sonnet" || fa.got[0].Timeout != time.Hour {
		t.Fatalf("agent request %+v", fa.got)
	}
}

func TestRun_ConsumesACommandAndPublishesStartedAndCompleted(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, _ := config.Load(func(string) string { return "" })
	cfg.AckWait = 5 * time.Second
	p, _ := prompts.Load("")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runAsMains(runCtx, cfg.Executor(), env.Bus("awo/executor"), nil, func(d *Deps) {
			d.Prompts = p
			d.Agent = &fakeAgent{result: agent.Result{Success: true, ResultText: "implemented"}, lines: readLines(t, "bash-tool-success.jsonl")}
			d.Sandboxes = &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}
		})
	}()
	c := cmd(workorder.StepExecute)
	if err := worker.PublishCommand(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	var hist []events.Event
	for ctx.Err() == nil {
		h, err := b.History(ctx, c.WorkOrderID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) == 2 {
			hist = h.Events
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(hist) != 2 || hist[0].Type != events.TypeStepStarted || hist[1].Type != events.TypeStepCompleted {
		t.Fatalf("history %+v", hist)
	}
	r := hist[1].Data.(*events.StepResult)
	if r.Step != workorder.StepExecute || r.AgentName != "Implementor" || r.Output != "implemented" || !r.Success {
		t.Fatalf("result %+v", r)
	}
	// The live log was stored before the result was published, so it is
	// complete by the time step.completed is.
	entries, err := logentry.Read(ctx, env.Bus("awo/test"), c.WorkOrderID)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventNames(entries); !slices.Equal(got, []string{"step_started", "session_started", "tool_call", "tool_result", "assistant_text", "result", "step_finished", "step_completed"}) {
		t.Fatalf("live log events = %v", got)
	}
	// The command was acknowledged: the work queue is empty.
	waitEmpty(t, ctx, env.JS)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitEmpty(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	for ctx.Err() == nil {
		s, err := js.Stream(ctx, bus.StreamCommands)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("command never acknowledged")
}

func TestFindPlanFile(t *testing.T) {
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "PRPs/features"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "PRPs/features/a.md"), []byte("x"), 0o644)
	cases := map[string]string{
		"PRPs/features/a.md":                        "PRPs/features/a.md",
		"./PRPs/features/a.md":                      "PRPs/features/a.md",
		"Plan written to `PRPs/features/a.md`.":     "PRPs/features/a.md",
		filepath.Join(dir, "PRPs/features/a.md"):    "PRPs/features/a.md",
		"PRPs/features/a.md and README.md (absent)": "PRPs/features/a.md",
	}
	for in, want := range cases {
		if got, ok := findPlanFile(dir, in); !ok || got != want {
			t.Errorf("findPlanFile(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "no plan", "PRPs/features/b.md", "../etc/passwd.md", "/etc/x.md"} {
		if got, ok := findPlanFile(dir, in); ok {
			t.Errorf("findPlanFile(%q) = %q, want none", in, got)
		}
	}
}

func readLines(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("agent", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out = append(out, []byte(l))
	}
	return out
}

func eventNames(es []logentry.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Event)
	}
	return out
}

// recordingLog is a live log that keeps what it is given.
type recordingLog struct {
	entries []logentry.Entry
	flushes int
}

func (r *recordingLog) Publish(e logentry.Entry) { r.entries = append(r.entries, e) }
func (r *recordingLog) Flush(context.Context) error {
	r.flushes++
	return nil
}

var t0 = time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)

func TestLogBuilder_RealCLIOutput_BecomesToolCallsResultsTextAndCost(t *testing.T) {
	b := newLogBuilder(cmd(workorder.StepExecute), nil)
	var got []logentry.Entry
	for _, l := range readLines(t, "bash-tool-success.jsonl") {
		m, err := agent.ParseLine(l)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.fromMessage(m, t0)...)
	}
	if names := eventNames(got); !slices.Equal(names, []string{"session_started", "tool_call", "tool_result", "assistant_text", "result"}) {
		t.Fatalf("events = %v", names)
	}
	for _, e := range got {
		if e.WorkOrderID != "wo-00000001" || e.Step != workorder.StepExecute || e.Attempt != 1 || !e.Timestamp.Equal(t0) {
			t.Errorf("%s lacks the step's identity: %+v", e.Event, e)
		}
	}
	call, result, text, final := got[1], got[2], got[3], got[4]
	if call.Tool != "Bash" || call.InputSummary != "echo made > made.txt && ls" || call.Message != "Bash: echo made > made.txt && ls" || call.ToolUseID != "toolu_01" {
		t.Errorf("tool_call = %+v", call)
	}
	if result.Tool != "Bash" || result.Message != "made.txt" || result.IsError == nil || *result.IsError || result.Level != logentry.LevelInfo {
		t.Errorf("tool_result = %+v", result)
	}
	if text.Message != "hello world" {
		t.Errorf("assistant_text = %+v", text)
	}
	if final.CostUSD == nil || math.Abs(*final.CostUSD-0.00014) > 1e-12 || final.NumTurns == 0 || final.SessionID != "d48b44f0-213a-4622-b116-4f9467ed3712" || final.Level != logentry.LevelInfo {
		t.Errorf("result = %+v", final)
	}
}

func TestLogBuilder_FromMessage(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	tests := []struct {
		name      string
		line      string
		wantEvent string
		wantLevel logentry.Level
		check     func(t *testing.T, e logentry.Entry)
	}{
		{
			name:      "failed tool result is a warning",
			line:      `{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"x","content":"boom","is_error":true}]}}`,
			wantEvent: "tool_result", wantLevel: logentry.LevelWarn,
			check: func(t *testing.T, e logentry.Entry) {
				if e.IsError == nil || !*e.IsError || e.Message != "boom" {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name:      "long tool result is cut to the summary size",
			line:      `{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"x","content":"` + long + `"}]}}`,
			wantEvent: "tool_result", wantLevel: logentry.LevelInfo,
			check: func(t *testing.T, e logentry.Entry) {
				if len(e.Message) > logentry.MaxSummaryBytes+len("…") {
					t.Errorf("message is %d bytes", len(e.Message))
				}
			},
		},
		{
			name:      "long text is cut to the text size",
			line:      `{"type":"assistant","message":{"content":[{"type":"text","text":"` + long + `"}]}}`,
			wantEvent: "assistant_text", wantLevel: logentry.LevelInfo,
			check: func(t *testing.T, e logentry.Entry) {
				if len(e.Message) > logentry.MaxTextBytes+len("…") || !strings.HasSuffix(e.Message, "…") {
					t.Errorf("message is %d bytes", len(e.Message))
				}
			},
		},
		{
			name:      "thinking is debug",
			line:      `{"type":"assistant","message":{"content":[{"type":"thinking","thinking":"hmm"}]}}`,
			wantEvent: "thinking", wantLevel: logentry.LevelDebug,
		},
		{
			name:      "API failure result is a warning with the reason (the work order's failure is the error)",
			line:      `{"type":"result","subtype":"success","is_error":true,"result":"API Error: 400 bad","terminal_reason":"api_error","num_turns":1,"total_cost_usd":0}`,
			wantEvent: "result", wantLevel: logentry.LevelWarn,
			check: func(t *testing.T, e logentry.Entry) {
				if e.Message != "agent failed (api_error): API Error: 400 bad" || e.IsError == nil || !*e.IsError {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name:      "max turns names the errors",
			line:      `{"type":"result","subtype":"error_max_turns","is_error":true,"errors":["Reached maximum number of turns (1)"],"terminal_reason":"max_turns"}`,
			wantEvent: "result", wantLevel: logentry.LevelWarn,
			check: func(t *testing.T, e logentry.Entry) {
				if !strings.Contains(e.Message, "Reached maximum number of turns") {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name:      "other system lines are debug",
			line:      `{"type":"system","subtype":"api_retry","attempt":2}`,
			wantEvent: "cli_system", wantLevel: logentry.LevelDebug,
			check: func(t *testing.T, e logentry.Entry) {
				if e.Message != "system/api_retry" {
					t.Errorf("%+v", e)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := agent.ParseLine([]byte(tt.line))
			if err != nil {
				t.Fatal(err)
			}
			got := newLogBuilder(cmd(workorder.StepPlanning), nil).fromMessage(m, t0)
			if len(got) != 1 {
				t.Fatalf("%d entries: %+v", len(got), got)
			}
			if got[0].Event != tt.wantEvent || got[0].Level != tt.wantLevel {
				t.Errorf("event %s level %s, want %s %s", got[0].Event, got[0].Level, tt.wantEvent, tt.wantLevel)
			}
			if tt.check != nil {
				tt.check(t, got[0])
			}
		})
	}
}

func TestLogBuilder_BlankTextAndUnknownBlocksAreSkipped(t *testing.T) {
	m, err := agent.ParseLine([]byte(`{"type":"assistant","message":{"content":[{"type":"text","text":"  \n"},{"type":"image"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := newLogBuilder(cmd(workorder.StepPlanning), nil).fromMessage(m, t0); len(got) != 0 {
		t.Errorf("entries %+v", got)
	}
}

func TestRunStep_LiveLog_FramesTheAgentsActivityWithStepBoundaries(t *testing.T) {
	live := &recordingLog{}
	a := &fakeAgent{result: agent.Result{Success: true, ResultText: "implemented", CostUSD: 0.5, NumTurns: 3, SessionID: "s1"},
		lines: readLines(t, "bash-tool-success.jsonl")}
	x := newTestExecutor(t, a, &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
	x.liveLog = live
	c := cmd(workorder.StepExecute)
	c.Args.SelectedStep = workorder.DefaultSteps // create-branch, planning, execute, commit, create-pr
	if _, err := x.runStep(context.Background(), c, x.log); err != nil {
		t.Fatal(err)
	}
	names := eventNames(live.entries)
	if !slices.Equal(names, []string{"step_started", "session_started", "tool_call", "tool_result", "assistant_text", "result", "step_finished", "step_completed"}) {
		t.Fatalf("events = %v", names)
	}
	// Archon's UI reads the step's place in the plan off step_started.
	start := live.entries[0]
	if start.StepNumber != 3 || start.TotalSteps != 5 || start.Progress != "3/5" || start.ProgressPct == nil || *start.ProgressPct != 40 {
		t.Errorf("step_started = %+v, want step 3 of 5, 40%% done before it", start)
	}
	fin := live.entries[len(live.entries)-2]
	if fin.Level != logentry.LevelInfo || fin.Success == nil || !*fin.Success || *fin.CostUSD != 0.5 || fin.NumTurns != 3 || fin.SessionID != "s1" {
		t.Errorf("step_finished = %+v", fin)
	}
	done := live.entries[len(live.entries)-1]
	if done.Level != logentry.LevelInfo || done.StepNumber != 3 || done.TotalSteps != 5 || *done.ProgressPct != 60 || !*done.Success {
		t.Errorf("step_completed = %+v, want step 3 of 5, 60%% done", done)
	}
	for _, e := range live.entries {
		if e.Level == logentry.LevelError {
			t.Errorf("an error entry in a step that succeeded: %+v", e)
		}
	}
	if live.flushes != 1 {
		t.Errorf("flushed %d times, want once before reporting", live.flushes)
	}
}

// A failed step is a warning: Archon's UI takes any error entry for the
// work order failing, which is the orchestrator's call (workflow_failed).
func TestRunStep_LiveLog_FailedStepEndsWithAWarning(t *testing.T) {
	live := &recordingLog{}
	x := newTestExecutor(t, &fakeAgent{result: agent.Result{ErrorMessage: "API Error: 400"}}, &fakeSandboxes{dir: t.TempDir()})
	x.liveLog = live
	if _, err := x.runStep(context.Background(), cmd(workorder.StepPlanning), x.log); err != nil {
		t.Fatal(err)
	}
	fin := live.entries[len(live.entries)-1]
	if fin.Event != "step_finished" || fin.Level != logentry.LevelWarn || fin.Message != "step planning failed: API Error: 400" || *fin.Success {
		t.Errorf("step_finished = %+v", fin)
	}
}

func TestRunStep_LiveLog_InterruptedStepSaysItWillRunAgain(t *testing.T) {
	live := &recordingLog{}
	x := newTestExecutor(t, &fakeAgent{err: context.Canceled}, &fakeSandboxes{dir: t.TempDir()})
	x.liveLog = live
	if _, err := x.runStep(context.Background(), cmd(workorder.StepPlanning), x.log); err == nil {
		t.Fatal("want the agent's error")
	}
	fin := live.entries[len(live.entries)-1]
	if fin.Level != logentry.LevelWarn || !strings.Contains(fin.Message, "interrupted, to be run again") {
		t.Errorf("step_finished = %+v", fin)
	}
}

func TestRunStep_LiveLog_CancelledStepSaysItStopped(t *testing.T) {
	live := &recordingLog{}
	x := newTestExecutor(t, &fakeAgent{err: &worker.CancelledError{Reason: "wrong repository"}}, &fakeSandboxes{dir: t.TempDir()})
	x.liveLog = live
	if _, err := x.runStep(context.Background(), cmd(workorder.StepPlanning), x.log); err == nil {
		t.Fatal("want the agent's error")
	}
	fin := live.entries[len(live.entries)-1]
	if fin.Level != logentry.LevelWarn || fin.Message != "step planning stopped: the work order was cancelled: wrong repository" || *fin.Success {
		t.Errorf("step_finished = %+v", fin)
	}
}

// Run builds nothing itself: a part missing from Deps is an error naming it.
func TestRun_MissingPartIsAnErrorNamingIt(t *testing.T) {
	env := natstest.Start(t)
	p, _ := prompts.Load("")
	cfg, _ := config.Load(func(string) string { return "" })
	err := Run(t.Context(), Deps{Config: cfg.Executor(), Bus: env.Bus("awo/executor"), Prompts: p, Agent: &fakeAgent{},
		Sandboxes: &fakeSandboxes{}, FreeSpace: statfsFree})
	if err == nil || !strings.Contains(err.Error(), "Deps.LiveLog") {
		t.Fatalf("err = %v, want one naming Deps.LiveLog", err)
	}
	if err := Run(t.Context(), Deps{}); err == nil || !strings.Contains(err.Error(), "Deps.Bus") {
		t.Fatalf("err = %v, want one naming Deps.Bus", err)
	}
}
