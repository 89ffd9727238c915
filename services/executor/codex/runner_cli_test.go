package codex_test

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/testkit/fakeresponses"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/codex"
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

type recorder struct {
	mu   sync.Mutex
	msgs []agent.Message
}

func (r *recorder) add(m agent.Message) { r.mu.Lock(); r.msgs = append(r.msgs, m); r.mu.Unlock() }

func (r *recorder) all() []agent.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]agent.Message(nil), r.msgs...)
}

func newRunner(t *testing.T, prices config.Prices) *codex.Runner {
	return &codex.Runner{CLIPath: fakeresponses.CodexPath(t), Model: fakeresponses.Model, APIKey: fakeresponses.APIKey,
		Prices: prices, KillGrace: time.Second}
}

// TestRunShellAndResume: the real codex runs a scripted shell command in a
// real repository, reports a session, tokens, turns and the final text as
// the live log's messages and the result; cost is unknown without a price
// and computed with one; the session resumes for a second prompt.
func TestRunShellAndResume(t *testing.T) {
	srv := fakeresponses.New(t, fakeresponses.Rule{Name: "branch", Prompt: "Create the branch", Turns: []fakeresponses.Turn{
		fakeresponses.Shell("git checkout -q -b feat/codex && echo switched"),
		fakeresponses.Text("feat/codex"),
		fakeresponses.Text("still feat/codex"),
	}})
	dir, home := gitRepo(t), srv.Home(t)
	rec := &recorder{}
	req := agent.Request{Dir: dir, Prompt: "Create the branch feat/codex", SkipPermissions: true,
		Env: []string{"CODEX_HOME=" + home, fakeresponses.ShellHome(t)}, Timeout: time.Minute, OnMessage: rec.add}
	res, err := newRunner(t, nil).Run(context.Background(), req)
	if err != nil || !res.Success {
		t.Fatalf("run: %v %+v", err, res)
	}
	if res.ResultText != "feat/codex" || res.SessionID == "" || res.NumTurns != 2 || !res.CostUnknown || res.CostUSD != 0 {
		t.Errorf("result = %+v", res)
	}
	if res.Usage.InputTokens != 2*fakeresponses.InputTokens || res.Usage.OutputTokens != 2*fakeresponses.OutputTokens ||
		res.Usage.CacheReadInputTokens != 2*fakeresponses.CachedInputTokens {
		t.Errorf("usage = %+v", res.Usage)
	}
	if b, _ := exec.Command("git", "-C", dir, "branch", "--show-current").Output(); strings.TrimSpace(string(b)) != "feat/codex" {
		t.Errorf("branch = %q", b)
	}
	var kinds []string
	for _, m := range rec.all() {
		switch {
		case m.Init != nil:
			kinds = append(kinds, "init")
		case m.Result != nil:
			kinds = append(kinds, "result")
		case m.Type == agent.TypeAssistant:
			kinds = append(kinds, m.Content[0].Type)
		case m.Type == agent.TypeUser:
			kinds = append(kinds, "tool_result:"+strings.TrimSpace(m.ToolResults[0].Content))
		}
	}
	if got, want := strings.Join(kinds, " "), "init tool_use tool_result:switched text result"; got != want {
		t.Errorf("messages = %q, want %q", got, want)
	}

	// Resumed, with a price: the session's tokens so far (3 model calls).
	prices := config.Prices{fakeresponses.Model: {Input: 2, Output: 10, CachedInput: 1}}
	req.Resume, req.Prompt, req.OnMessage = res.SessionID, "Anything else?", nil
	res2, err := newRunner(t, prices).Run(context.Background(), req)
	if err != nil || !res2.Success || res2.SessionID != res.SessionID || res2.ResultText != "still feat/codex" {
		t.Fatalf("resume: %v %+v", err, res2)
	}
	in, cached, out := 3.0*fakeresponses.InputTokens, 3.0*fakeresponses.CachedInputTokens, 3.0*fakeresponses.OutputTokens
	want := ((in-cached)*2 + cached*1 + out*10) / 1e6
	if res2.CostUnknown || res2.CostUSD < want*0.999 || res2.CostUSD > want*1.001 {
		t.Errorf("resumed cost = %v (unknown %t), want %v", res2.CostUSD, res2.CostUnknown, want)
	}
}

// TestRunFailures: a usage limit is reported as such with its reset; a
// session codex does not have is a failed resume; a slow model is stopped
// at the timeout.
func TestRunFailures(t *testing.T) {
	srv := fakeresponses.New(t,
		fakeresponses.Rule{Name: "limit", Prompt: "limited", Turns: []fakeresponses.Turn{fakeresponses.UsageLimit(5 * time.Minute)}},
		fakeresponses.Rule{Name: "slow", Prompt: "slow", Turns: []fakeresponses.Turn{fakeresponses.Text("late").After(time.Minute)}},
	)
	dir, home := gitRepo(t), srv.Home(t)
	base := agent.Request{Dir: dir, SkipPermissions: true, Env: []string{"CODEX_HOME=" + home, fakeresponses.ShellHome(t)}, Timeout: time.Minute}
	run := func(mod func(*agent.Request)) agent.Result {
		req := base
		mod(&req)
		res, err := newRunner(t, nil).Run(context.Background(), req)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		return res
	}

	res := run(func(r *agent.Request) { r.Prompt = "limited" })
	if res.Success || !res.UsageLimited || !strings.Contains(res.ErrorMessage, "usage limit") {
		t.Errorf("usage limit: %+v", res)
	}
	if d := time.Until(res.ResetAt); d < 3*time.Minute || d > 7*time.Minute {
		t.Errorf("reset at %v (in %v), want about 5 minutes from now", res.ResetAt, d)
	}

	res = run(func(r *agent.Request) { r.Prompt, r.Resume = "hello", "01a24981-bd21-7450-b85b-2c29c243ff3d" })
	if res.Success || !res.ResumeFailed {
		t.Errorf("resume of an unknown session: %+v", res)
	}
	if testing.Verbose() {
		t.Logf("unknown session: %s", res.ErrorMessage)
	}

	start := time.Now()
	res = run(func(r *agent.Request) { r.Prompt, r.Timeout = "slow", 2*time.Second })
	if res.Success || !res.TimedOut || time.Since(start) > 15*time.Second {
		t.Errorf("timeout: %+v after %v", res, time.Since(start))
	}
}
