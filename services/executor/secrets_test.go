package executor

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/prompts"
)

const ghp = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"

func executorWith(t *testing.T, vars map[string]string, a AgentRunner, s Sandboxes) *executor {
	t.Helper()
	p, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	x, err := newExecutor(Deps{Config: cfg.Executor(), Agent: a, Sandboxes: s, Prompts: p, Redactor: cfg.Redactor(), LiveLog: noLiveLog{}, FreeSpace: statfsFree})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// The GitHub token goes to the commit step's agent only (the one table,
// stepUsesGitHub, decides); AWO_AGENT_ENV reaches every step.
func TestRunStep_GitHubCredentialsOnlyForTheStepsThatPush(t *testing.T) {
	for _, step := range []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute, workorder.StepReview, workorder.StepCommit} {
		t.Run(string(step), func(t *testing.T) {
			fa := &fakeAgent{result: agent.Result{Success: true, ResultText: "feat/greeting"}}
			x := executorWith(t, map[string]string{"GH_TOKEN": ghp, "AWO_AGENT_ENV": "GOPATH"}, fa, &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
			if _, err := x.runStep(context.Background(), cmd(step), x.log); err != nil {
				t.Fatal(err)
			}
			want := step == workorder.StepCommit
			req := fa.got[0]
			if req.GitHub != want || slices.Contains(req.Env, "GH_TOKEN="+ghp) != want || !slices.Equal(req.PassEnv, []string{"GOPATH"}) {
				t.Errorf("request GitHub=%t Env=%q PassEnv=%q; want GitHub=%t", req.GitHub, req.Env, req.PassEnv, want)
			}
		})
	}
}

// What the agent printed is redacted in the step's output and error and in
// every live-log entry, before the entry is cut to size: a token across the
// cut leaves no head behind.
func TestRunStep_RedactsOutputErrorAndLiveLog(t *testing.T) {
	toolResult := strings.Repeat("x", 480) + " GH_TOKEN=" + ghp + " DB=db-password-0123"
	line, err := json.Marshal(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": []any{
		map[string]any{"tool_use_id": "toolu_01", "type": "tool_result", "content": toolResult, "is_error": false}}}})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := json.Marshal(map[string]any{"type": "assistant", "message": map[string]any{"role": "assistant", "content": []any{
		map[string]any{"type": "text", "text": "the password is db-password-0123"},
		map[string]any{"type": "tool_use", "id": "toolu_02", "name": "Bash", "input": map[string]string{"command": "curl -H 'Authorization: Bearer db-password-0123' x"}}}}})
	fa := &fakeAgent{result: agent.Result{Success: false, ResultText: "found " + ghp, ErrorMessage: "failed with db-password-0123"},
		lines: [][]byte{text, line}}
	live := &recordingLog{}
	x := executorWith(t, map[string]string{"DATABASE_URL": "postgres://awo:db-password-0123@db/awo"}, fa, &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting"})
	x.liveLog = live
	res, err := x.runStep(context.Background(), cmd(workorder.StepExecute), x.log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "found [REDACTED]" || res.ErrorMessage != "failed with [REDACTED]" {
		t.Errorf("result output %q error %q", res.Output, res.ErrorMessage)
	}
	for _, e := range live.entries {
		b, _ := json.Marshal(e)
		for _, leak := range []string{"ghp_", "db-password"} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%q in live entry %s", leak, b)
			}
		}
	}
	if len(live.entries) < 4 {
		t.Fatalf("entries: %+v", live.entries)
	}
}
