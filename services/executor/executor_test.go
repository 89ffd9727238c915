package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
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
	got    []agent.Request
}

func (f *fakeAgent) Run(ctx context.Context, req agent.Request) (agent.Result, error) {
	f.got = append(f.got, req)
	if f.do != nil {
		f.do(req.Dir)
	}
	return f.result, f.err
}

type fakeSandboxes struct {
	dir      string
	branch   string
	branchEr error
	pushed   []string
	pushErr  error
}

func (f *fakeSandboxes) Prepare(ctx context.Context, s sandbox.Spec) (sandbox.Sandbox, error) {
	return sandbox.Sandbox{Dir: f.dir, BaseBranch: "main"}, nil
}
func (f *fakeSandboxes) Progress(ctx context.Context, sb sandbox.Sandbox) (sandbox.Progress, error) {
	return sandbox.Progress{Branch: f.branch, CommitCount: 2, FilesChanged: 3, LatestCommitMessage: "feat: x"}, nil
}
func (f *fakeSandboxes) CurrentBranch(ctx context.Context, dir string) (string, error) {
	return f.branch, f.branchEr
}
func (f *fakeSandboxes) Push(ctx context.Context, sb sandbox.Sandbox, branch string) error {
	f.pushed = append(f.pushed, branch)
	return f.pushErr
}

func newTestExecutor(t *testing.T, a AgentRunner, s Sandboxes) *executor {
	t.Helper()
	p, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load(func(string) string { return "" })
	x, err := newExecutor(Deps{Config: cfg, Agent: a, Sandboxes: s, Prompts: p})
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
		done <- Run(runCtx, Deps{Config: cfg, Bus: env.Bus("awo/executor"), Prompts: p,
			Agent:     &fakeAgent{result: agent.Result{Success: true, ResultText: "implemented"}},
			Sandboxes: &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"}})
	}()
	c := cmd(workorder.StepExecute)
	if err := b.PublishCommand(ctx, c); err != nil {
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
