package executor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/testkit/claudecli"
	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// A follow-up round with the real Claude Code CLI against the scripted
// model, in real sandboxes of a local bare origin, with checkpoints kept as
// the executor keeps them (none after the round's last sandbox step).

// lockedLog is a live log safe to read while the CLI's reader writes.
type lockedLog struct {
	mu      sync.Mutex
	entries []logentry.Entry
}

func (l *lockedLog) Publish(e logentry.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}
func (l *lockedLog) Flush(context.Context) error { return nil }
func (l *lockedLog) all() []logentry.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logentry.Entry(nil), l.entries...)
}

const (
	executePrompt  = "Implement the plan in"
	commitPrompt   = "Commit all the work in this repository"
	followUpPrompt = "A reviewer read the work on branch"
	reviewerAsks   = "Also handle the empty case"
)

// executeTurns is round 1's agent work (a branch, a plan, a file), then,
// in the same session resumed, round 2's.
var executeTurns = []fakemodel.Turn{
	fakemodel.Bash("git checkout -q -b feat/greeting && mkdir -p PRPs && printf '# Plan: greet\\n' > PRPs/plan.md && echo hello > greeting.txt", "Write the greeting"),
	fakemodel.Text("Wrote greeting.txt"),
	fakemodel.Bash("echo 'empty: none' >> greeting.txt", "Handle the empty case"),
	fakemodel.Text("Handled the empty case in greeting.txt"),
}

var commitTurns = []fakemodel.Turn{
	fakemodel.Bash(`git add -A && git commit -q -m "change $(git rev-list --count HEAD)" && git log --format=%s -1`, "Commit"),
	fakemodel.Text("Committed"),
}

type followUpRig struct {
	o     *gitfixture.Origin
	m     *sandbox.Manager
	x     *executor
	live  *lockedLog
	model *fakemodel.Server
	plan  []workorder.Step
}

func newFollowUpRig(t *testing.T, rules ...fakemodel.Rule) *followUpRig {
	t.Helper()
	o := gitfixture.New(t)
	model := fakemodel.New(t, rules...)
	for _, kv := range append(claudecli.Env(model.URL), o.Env()...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"AGENT_WORK_ORDER_TEMP_DIR": t.TempDir(), "AGENT_WORK_ORDER_TIMEOUT": "120"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	m := &sandbox.Manager{Root: t.TempDir(), Env: o.Env(), Logger: log}
	live := &lockedLog{}
	x, err := newExecutor(Deps{Config: cfg.Executor(), Logger: log, Agent: &agent.Runner{CLIPath: claudecli.Path(t), Logger: log},
		Sandboxes: m, Prompts: p, LiveLog: live, Checkpoints: &bundleStore{}, FreeSpace: statfsFree})
	if err != nil {
		t.Fatal(err)
	}
	return &followUpRig{o: o, m: m, x: x, live: live, model: model,
		plan: []workorder.Step{workorder.StepExecute, workorder.StepCommit, workorder.StepCreatePR}}
}

func (r *followUpRig) step(t *testing.T, step workorder.Step, args events.StepArgs) events.StepResult {
	t.Helper()
	c := cmd(step)
	c.RepositoryURL, c.Args = r.o.URL, args
	ctx, cancel := context.WithTimeout(worker.WithDelivered(t.Context(), 1), 2*time.Minute)
	defer cancel()
	res, err := r.x.runStep(ctx, c, r.x.log)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if !res.Success {
		t.Fatalf("%s failed: %s", step, res.ErrorMessage)
	}
	return res
}

// roundOne runs execute and commit, which pushes feat/greeting with one
// commit, and returns execute's session. Round 2 starts from the
// checkpoint after execute, from before the commit (none is stored after
// the plan's last sandbox step): the sandbox here is marked as changed
// since, or, with elsewhere, removed, as on another executor or after
// housekeeping.
func (r *followUpRig) roundOne(t *testing.T, elsewhere bool) string {
	t.Helper()
	args := events.StepArgs{UserRequest: "add a greeting", PlanFile: "PRPs/plan.md", SelectedStep: r.plan}
	exec := r.step(t, workorder.StepExecute, args)
	args.BranchName = "feat/greeting"
	r.step(t, workorder.StepCommit, args)
	if n := r.o.CommitCount(t, "feat/greeting"); n != 2 {
		t.Fatalf("origin's feat/greeting after round 1 has %d commits, want 2", n)
	}
	if !elsewhere {
		return exec.SessionID
	}
	spec := sandbox.Spec{WorkOrderID: cmd("").WorkOrderID, RepositoryURL: r.o.URL, Type: workorder.SandboxWorktree, Identifier: cmd("").SandboxIdentifier}
	if err := r.m.Remove(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	return exec.SessionID
}

// roundTwo runs the follow-up and the round's commit, and checks that the
// commit went onto origin's branch as a second commit.
func (r *followUpRig) roundTwo(t *testing.T, session string) events.StepResult {
	t.Helper()
	plan := []workorder.Step{workorder.StepFollowUp, workorder.StepCommit, workorder.StepCommentPR}
	args := events.StepArgs{UserRequest: "add a greeting", PlanFile: "PRPs/plan.md", BranchName: "feat/greeting",
		SelectedStep: plan, Round: 2, FollowUpPrompt: reviewerAsks, ResumeSessionID: session}
	res := r.step(t, workorder.StepFollowUp, args)
	commit := r.step(t, workorder.StepCommit, args)
	if n := r.o.CommitCount(t, "feat/greeting"); n != 3 {
		t.Errorf("origin's feat/greeting after round 2 has %d commits, want 3 (a second one of the work order)", n)
	}
	if got, _ := r.o.File(t, "feat/greeting", "greeting.txt"); got != "hello\nempty: none\n" {
		t.Errorf("origin's greeting.txt = %q", got)
	}
	if commit.CommitCount == nil || *commit.CommitCount != 2 || commit.BranchName != "feat/greeting" {
		t.Errorf("round 2 commit: %+v", commit)
	}
	return res
}

func TestFollowUp_RealCLI_ResumesTheSessionAndPushesASecondCommit(t *testing.T) {
	r := newFollowUpRig(t,
		fakemodel.Rule{Name: "execute", Prompt: executePrompt, Turns: executeTurns},
		fakemodel.Rule{Name: "commit", Prompt: commitPrompt, Turns: commitTurns},
	)
	session := r.roundOne(t, false)
	res := r.roundTwo(t, session)
	if res.SessionID != session || res.Output != "Handled the empty case in greeting.txt" {
		t.Errorf("follow-up: session %q, output %q; want session %s resumed", res.SessionID, res.Output, session)
	}
	// The model saw one conversation go on: the round-2 request carries
	// round 1's prompt and turns, then the reviewer's prompt.
	conv := r.model.Conversation("execute")
	if len(conv) != 4 {
		t.Fatalf("execute conversation: %d requests, want 4", len(conv))
	}
	if c := conv[2]; c.Turn != 2 || !strings.Contains(c.Prompt, executePrompt) || !strings.Contains(c.LatestPrompt, reviewerAsks) ||
		!strings.Contains(c.LatestPrompt, "feat/greeting") {
		t.Errorf("round 2's first request: turn %d, prompt %q…, latest prompt %q", c.Turn, c.Prompt[:40], c.LatestPrompt)
	}
	for _, e := range r.live.all() {
		if e.Event == "session_not_resumed" {
			t.Errorf("live log says the session was not resumed: %+v", e)
		}
	}
}

// The session is not on this machine (another executor ran round 1): the
// CLI refuses to resume it, and a fresh session gets the plan and the diff.
func TestFollowUp_RealCLI_FreshSessionWithThePlanAndTheDiffWhenResumeFails(t *testing.T) {
	r := newFollowUpRig(t,
		fakemodel.Rule{Name: "execute", Prompt: executePrompt, Turns: executeTurns[:2]},
		fakemodel.Rule{Name: "commit", Prompt: commitPrompt, Turns: commitTurns},
		fakemodel.Rule{Name: "fresh", Prompt: followUpPrompt, Turns: executeTurns[2:]},
	)
	session := r.roundOne(t, true)
	elsewhere := "5d1f6c1e-7a0b-4b8e-9f62-2c4e1a7b9d03"
	if elsewhere == session {
		t.Fatal("the made-up session is the real one")
	}
	res := r.roundTwo(t, elsewhere)
	if res.SessionID == elsewhere || res.SessionID == session || res.Output != "Handled the empty case in greeting.txt" {
		t.Errorf("follow-up: session %q, output %q; want a new session's answer", res.SessionID, res.Output)
	}
	conv := r.model.Conversation("fresh")
	if len(conv) != 2 {
		t.Fatalf("fresh conversation: %d requests, want 2", len(conv))
	}
	p := conv[0].Prompt
	for _, want := range []string{reviewerAsks, "The work so far", "# Plan: greet", "+hello", "greeting.txt"} {
		if !strings.Contains(p, want) {
			t.Errorf("fresh session's prompt lacks %q:\n%s", want, p)
		}
	}
	var notes int
	for _, e := range r.live.all() {
		if e.Event == "session_not_resumed" {
			notes++
		}
		if e.Level == logentry.LevelError {
			t.Errorf("error entry in the live log of a follow-up that succeeded: %+v", e)
		}
	}
	if notes != 1 {
		t.Errorf("%d session_not_resumed entries in the live log, want 1", notes)
	}
}
