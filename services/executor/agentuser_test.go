package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/testkit/claudecli"
	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/unixuser"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

func TestBuild_UnknownAgentUserRefusesToStart(t *testing.T) {
	cfg, _ := config.Load(func(string) string { return "" })
	cfg.AgentUser = "awo-no-such-user"
	_, _, err := Build(t.Context(), cfg.Executor(), natstest.Start(t).Bus("awo/executor"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "AWO_AGENT_USER=awo-no-such-user") || !strings.Contains(err.Error(), "no user named") {
		t.Fatalf("err = %v, want one naming AWO_AGENT_USER and the unknown user", err)
	}
}

// A commit step run through the executor with the real CLI, whose agent
// runs as a throwaway user (AWO_AGENT_USER): it is that user, cannot read
// the embedded NATS store nor the executor's environment, and still
// commits in its worktree; the executor, root, pushes the commit.
func TestRunStep_AgentUser_RealCLI_SeparatedFromTheExecutorAndStillCommits(t *testing.T) {
	u := unixuser.New(t) // skips unless root
	o := gitfixture.New(t)

	// An executor data directory as `make run` has one, under a directory
	// the agent may enter: the embedded JetStream store (which nats-server
	// keeps 0700), and a file only root may read.
	base, err := os.MkdirTemp("", "awo-agentuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	unixuser.Reachable(t, base)
	dataDir := filepath.Join(base, "data")
	srv, err := natsembed.Start(natsembed.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	secret := filepath.Join(dataDir, "executor-only.conf")
	if err := os.WriteFile(secret, []byte("AWO_SECRET_FOR_ROOT_ONLY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tempDir := filepath.Join(base, "work")

	// The executor's environment, which the CLI inherits (with HOME and
	// USER replaced). No IS_SANDBOX: the CLI is not root, so it must not
	// need it; no CLAUDE_CONFIG_DIR: the CLI must find a writable HOME.
	model := fakemodel.New(t, fakemodel.Rule{Name: "agent", Turns: []fakemodel.Turn{
		fakemodel.Bash("id -u", "Who am I"),
		fakemodel.Bash("cat "+secret+"; ls "+filepath.Join(dataDir, "jetstream"), "Read the executor's files"),
		fakemodel.Bash(fmt.Sprintf("cat /proc/%d/environ", os.Getpid()), "Read the executor's environment"),
		fakemodel.Bash("git checkout --quiet -b feat/agent-user && echo hi > agent.txt && git add agent.txt"+
			" && git -c user.name=Agent -c user.email=agent@example.com commit --quiet -m 'Add agent.txt' && git log --format=%s -1", "Commit"),
		fakemodel.Text("Committed agent.txt"),
	}})
	for _, kv := range claudecli.Env(model.URL) {
		k, v, _ := strings.Cut(kv, "=")
		if k != "IS_SANDBOX" && k != "CLAUDE_CONFIG_DIR" {
			t.Setenv(k, v)
		}
	}
	for _, k := range []string{"IS_SANDBOX", "CLAUDE_CONFIG_DIR"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWO_EXECUTOR_SECRET_PROBE", "executor-env-"+strconv.Itoa(os.Getpid()))

	cfg, err := config.Load(func(k string) string {
		return map[string]string{"AWO_AGENT_USER": u.Name, "AGENT_WORK_ORDER_TEMP_DIR": tempDir, "AGENT_WORK_ORDER_TIMEOUT": "120",
			"AWO_CHECKPOINTS": "false"}[k] // no checkpoint stream on this server
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The runner and the sandbox manager Build makes, pointed at the test's
	// CLI and origin.
	nc, err := srv.Connect("awo-executor")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	built, closeLiveLog, err := Build(t.Context(), cfg.Executor(), bus.New(js, "awo/executor"), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeLiveLog)
	runner, sandboxes := built.Agent.(AgentRouter)[events.AgentClaude].(*agent.Runner), built.Sandboxes.(*sandbox.Manager)
	runner.CLIPath, sandboxes.Env = claudecli.Path(t), o.Env()
	x, err := newExecutor(Deps{Config: cfg.Executor(), Logger: log, Agent: runner, Sandboxes: sandboxes, Prompts: p,
		LiveLog: noLiveLog{}, FreeSpace: statfsFree})
	if err != nil {
		t.Fatal(err)
	}
	if runner.User == nil || sandboxes.Owner == nil || int(runner.User.UID) != u.UID {
		t.Fatalf("AWO_AGENT_USER not handed to the runner (%+v) and the sandboxes (%+v)", runner.User, sandboxes.Owner)
	}

	c := cmd(workorder.StepCommit)
	c.Args.BranchName = "feat/agent-user"
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := x.runStep(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}

	results := map[int]fakemodel.ToolResult{}
	for _, r := range model.Conversation("agent") {
		if len(r.ToolResults) == 1 {
			results[r.Turn] = r.ToolResults[0]
		}
	}
	for turn := 1; turn <= 4; turn++ {
		t.Logf("tool result of turn %d: %+v", turn, results[turn])
	}
	if got := strings.TrimSpace(results[1].Content); got != strconv.Itoa(u.UID) {
		t.Errorf("id -u in the agent's Bash: %q, want the agent user's uid %d", got, u.UID)
	}
	for turn, what := range map[int]string{2: "the executor's data directory", 3: "the executor's environment"} {
		r := results[turn]
		if !strings.Contains(r.Content, "Permission denied") || strings.Contains(r.Content, "AWO_SECRET_FOR_ROOT_ONLY") ||
			strings.Contains(r.Content, "executor-env-") || strings.Contains(r.Content, "streams") {
			t.Errorf("the agent read %s: %+v", what, r)
		}
	}
	if !strings.Contains(results[4].Content, "Add agent.txt") {
		t.Errorf("the agent's commit: %+v", results[4])
	}
	if !res.Success || res.BranchName != "feat/agent-user" || res.CommitCount == nil || *res.CommitCount != 1 {
		t.Fatalf("step result: %+v (error %q)", res, res.ErrorMessage)
	}
	if got := o.Git(t, "", "--git-dir", o.Dir, "show", "feat/agent-user:agent.txt"); got != "hi" {
		t.Fatalf("origin's feat/agent-user holds agent.txt = %q", got)
	}
}
