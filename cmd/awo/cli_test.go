package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway"
)

// testGateway is a real gateway (memory read store, embedded JetStream)
// on a random local port, as the client commands meet it in production.
type testGateway struct {
	t   *testing.T
	url string
	env *natstest.Env
}

var quietLog = slog.New(slog.DiscardHandler)

type accessible struct{}

func (accessible) Verify(context.Context, string) (repocheck.Result, error) {
	return repocheck.Result{Accessible: true, Name: "acme/app", Owner: "acme", DefaultBranch: "main"}, nil
}

// startGateway runs the gateway with the server variables in vars (e.g.
// AWO_API_TOKENS) until the test ends.
func startGateway(t *testing.T, vars map[string]string) *testGateway {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.ShutdownGrace = 5 * time.Second
	env := natstest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gateway.Serve(ctx, gateway.Deps{Config: cfg.Gateway(), Bus: env.Bus("awo/gateway"), NC: env.NC,
			Store: readmodel.NewMemory(), Logger: quietLog, Listener: ln, RepoVerifier: accessible{}})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the gateway did not stop")
		}
	})
	return &testGateway{t: t, url: "http://" + ln.Addr().String(), env: env}
}

// result is one command's outcome.
type result struct {
	code           int
	stdout, stderr string
}

// awo runs a client command in-process against g with the client
// environment env (AWO_URL is g's unless env sets it).
func (g *testGateway) awo(env map[string]string, args ...string) result {
	g.t.Helper()
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "AWO_URL" {
			return g.url
		}
		return ""
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := runCLI(ctx, args, getenv, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// ok runs a command that must succeed and returns its stdout.
func (g *testGateway) ok(args ...string) string {
	g.t.Helper()
	r := g.awo(nil, args...)
	if r.code != exitOK {
		g.t.Fatalf("awo %v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

func (r result) want(t *testing.T, code int, stderrHas string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, stderrHas) {
		t.Errorf("exit %d, stderr %q; want exit %d and stderr containing %q", r.code, r.stderr, code, stderrHas)
	}
}

// create makes a work order and returns its id.
func (g *testGateway) create(request string) string {
	g.t.Helper()
	id := strings.TrimSpace(g.ok("create", "--repo", "https://github.com/acme/app", "--request", request,
		"--steps", "create-branch,planning,execute", "--sandbox", "branch", "--issue", "7"))
	if _, err := workorder.ParseID(id); err != nil {
		g.t.Fatalf("create printed %q, want only the id: %v", id, err)
	}
	return id
}

// eventually reruns a command until its stdout has want: events the test
// publishes directly reach the read model a moment later.
func (g *testGateway) eventually(want string, args ...string) string {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := g.ok(args...)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("awo %v never showed %q; last:\n%s", args, want, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCLI_CreateListShow(t *testing.T) {
	g := startGateway(t, map[string]string{})
	first := g.create("Fix the flaky test\nsecond line")
	var created map[string]any
	out := g.ok("create", "--repo", "https://github.com/acme/other", "--request", "Add a README", "-o", "json",
		"--idempotency-key", "k-1")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created["status"] != "pending" {
		t.Fatalf("create -o json: %q (%v), want the API's answer", out, err)
	}
	// The same key again is the same work order (the header was sent).
	var again map[string]any
	_ = json.Unmarshal([]byte(g.ok("create", "--repo", "https://github.com/acme/other", "--request", "Add a README",
		"-o", "json", "--idempotency-key", "k-1")), &again)
	if again["agent_work_order_id"] != created["agent_work_order_id"] {
		t.Errorf("idempotent replay made %v, want %v", again["agent_work_order_id"], created["agent_work_order_id"])
	}

	list := g.ok("list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "STATUS") {
		t.Fatalf("list:\n%s\nwant a header and two rows", list)
	}
	// Newest first; the request's first line only.
	if !strings.HasPrefix(lines[1], created["agent_work_order_id"].(string)) || !strings.HasPrefix(lines[2], first) ||
		!strings.Contains(lines[2], "Fix the flaky test …") || strings.Contains(list, "second line") {
		t.Errorf("list rows:\n%s", list)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(g.ok("list", "-o", "json", "--repo", "https://github.com/acme/app")), &arr); err != nil ||
		len(arr) != 1 || arr[0]["agent_work_order_id"] != first {
		t.Errorf("list --repo -o json: %v %v", arr, err)
	}
	if out := g.ok("list", "--status", "completed"); !strings.Contains(out, "no work orders") {
		t.Errorf("list --status completed: %q", out)
	}
	if out := g.ok("list", "--limit", "1"); strings.Count(out, "\n") != 2 {
		t.Errorf("list --limit 1:\n%s", out)
	}

	show := g.ok("show", first)
	for _, want := range []string{"id:", first, "status:", "pending", "create-branch, planning, execute", "git_branch", "issue:", "7"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	var one map[string]any
	if err := json.Unmarshal([]byte(g.ok("show", first, "-o", "json")), &one); err != nil || one["github_issue_number"] != "7" {
		t.Errorf("show -o json: %v %v", one, err)
	}
}

// A refusal prints the API's detail and exits 1; so does an unreachable
// gateway.
func TestCLI_APIErrorsExit1WithTheDetail(t *testing.T) {
	g := startGateway(t, map[string]string{})
	g.awo(nil, "create", "--repo", "https://github.com/acme/app", "--request", "x", "--sandbox", "docker").
		want(t, exitError, "sandbox_type")
	g.awo(nil, "show", "wo-deadbeef").want(t, exitError, "Work order not found")
	g.awo(nil, "steps", "wo-deadbeef", "-o", "json").want(t, exitError, "404")
	g.awo(nil, "create", "--repo", "ftp://example.com/acme/app", "--request", "x").
		want(t, exitError, "repository_url")
	g.awo(nil, "list", "--status", "sleeping").want(t, exitError, "status")
	g.awo(map[string]string{"AWO_URL": "http://127.0.0.1:1"}, "list").want(t, exitError, "connection refused")
	id := g.create("retry me")
	g.awo(nil, "retry", id).want(t, exitError, "409")
	g.awo(nil, "prompt", id, "more").want(t, exitError, "409")
}

func TestCLI_UsageErrorsExit3(t *testing.T) {
	g := startGateway(t, map[string]string{})
	for _, args := range [][]string{
		{"create", "--request", "no repository"},
		{"create", "--repo", "https://github.com/acme/app", "--request", "x", "--bogus"},
		{"show"},
		{"show", "a", "b"},
		{"list", "-o", "yaml"},
		{"list", "--limit", "many"},
		{"repos"},
		{"repos", "frobnicate"},
		{"prompt", "wo-deadbeef"},
		{"frobnicate"},
		{"list", "--url", "ftp://example.com"},
	} {
		if r := g.awo(nil, args...); r.code != exitUsage || !strings.Contains(r.stderr, "usage") {
			t.Errorf("awo %v: exit %d, stderr %q; want 3 with the usage", args, r.code, r.stderr)
		}
	}
	if r := g.awo(nil, "help"); r.code != exitOK || !strings.Contains(r.stdout, "awo create --repo URL") {
		t.Errorf("help: %d %q", r.code, r.stdout)
	}
}

// --url, --token and -o may come before the command as well as among its
// flags; a command's own flag wins over the one before it.
func TestCLI_GlobalFlagsBeforeTheCommand(t *testing.T) {
	const token = "s3cret-global-token-0123456789"
	g := startGateway(t, map[string]string{"AWO_API_TOKENS": token})
	// AWO_URL points nowhere: only --url can reach the gateway.
	nowhere := map[string]string{"AWO_URL": "http://127.0.0.1:1"}
	id := strings.TrimSpace(g.awo(nowhere, "--url", g.url, "--token", token, "create",
		"--repo", "https://github.com/acme/app", "--request", "global flags").stdout)
	if _, err := workorder.ParseID(id); err != nil {
		t.Fatalf("create with global flags printed %q: %v", id, err)
	}
	var outputs []result
	r := g.awo(nowhere, "--url", g.url, "--token", token, "-o", "json", "list")
	outputs = append(outputs, r)
	var arr []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &arr); r.code != exitOK || err != nil || len(arr) != 1 || arr[0]["agent_work_order_id"] != id {
		t.Errorf("awo --url --token -o json list: exit %d, %q %q (%v)", r.code, r.stdout, r.stderr, err)
	}
	r = g.awo(nowhere, "--url="+g.url, "--token="+token, "--o=json", "show", id)
	outputs = append(outputs, r)
	var one map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &one); r.code != exitOK || err != nil || one["agent_work_order_id"] != id {
		t.Errorf("awo --url= --token= --o=json show: exit %d, %q %q (%v)", r.code, r.stdout, r.stderr, err)
	}
	r = g.awo(nil, "-o", "json", "--token", token, "list", "-o", "table")
	outputs = append(outputs, r)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "ID") {
		t.Errorf("awo -o json list -o table: exit %d %q, want the table (the command's flag wins)", r.code, r.stdout)
	}
	r = g.awo(nil, "--token", token, "-o", "json", "repos", "list")
	outputs = append(outputs, r)
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("awo -o json repos list: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// The global token is the one sent: a wrong one before the command is refused.
	g.awo(nil, "--token", "wrong-token-0123456789", "list").want(t, exitError, "401")

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--url"}, "flag needs an argument"},
		{[]string{"--bogus", "list"}, "-bogus"},
		{[]string{"-o", "yaml", "list"}, `-o "yaml"`},
		{[]string{"--url", g.url, "--token", token}, "a command is needed"},
		{[]string{"--url", g.url, "--token", token, "serve"}, "client commands"},
		{[]string{"--url", "ftp://example.com", "--token", token, "list"}, "usage"},
		{[]string{"--token", token, "frobnicate"}, "unknown command"},
	} {
		r := g.awo(nil, c.args...)
		outputs = append(outputs, r)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.says) {
			t.Errorf("awo %q: exit %d, stderr %q; want %d and %q", c.args, r.code, r.stderr, exitUsage, c.says)
		}
	}
	if r := g.awo(nil, "--token", token, "-h"); r.code != exitOK || !strings.Contains(r.stdout, "[--url URL]") {
		t.Errorf("awo --token T -h: exit %d %q", r.code, r.stdout)
	}
	for _, r := range outputs {
		if strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("the token was printed: %q %q", r.stdout, r.stderr)
		}
	}
}

// With AWO_API_TOKENS the token from AWO_API_TOKEN (or --token) is sent as
// a bearer token, and never printed, not even in errors or the usage.
func TestCLI_TokenSentAsBearerNeverPrinted(t *testing.T) {
	const token = "s3cret-cli-token-0123456789"
	g := startGateway(t, map[string]string{"AWO_API_TOKENS": token})
	g.awo(nil, "list").want(t, exitError, "401")
	var outputs []result
	for _, r := range []result{
		g.awo(map[string]string{"AWO_API_TOKEN": token}, "list"),
		g.awo(nil, "list", "--token", token, "-o", "json"),
	} {
		if r.code != exitOK {
			t.Errorf("with the token: exit %d %q", r.code, r.stderr)
		}
		outputs = append(outputs, r)
	}
	outputs = append(outputs,
		g.awo(map[string]string{"AWO_API_TOKEN": token}, "show", "wo-deadbeef"),
		g.awo(map[string]string{"AWO_API_TOKEN": token}, "list", "-h"),
		g.awo(map[string]string{"AWO_API_TOKEN": token}, "list", "--nope"),
		g.awo(map[string]string{"AWO_API_TOKEN": token, "AWO_URL": "http://127.0.0.1:1"}, "list"))
	for _, r := range outputs {
		if strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("the token was printed: %q %q", r.stdout, r.stderr)
		}
	}
	g.awo(map[string]string{"AWO_API_TOKEN": "wrong-token-0123456789"}, "list").want(t, exitError, "401")
}

// steps, logs and cancel show what the workers recorded (published here
// as the executor would).
func TestCLI_StepsLogsCancel(t *testing.T) {
	g := startGateway(t, map[string]string{})
	id := g.create("Fix it")
	b := g.env.Bus("awo/executor")
	e := b.Event(id+".step.1", events.TypeStepCompleted, workorder.ID(id), &events.StepResult{
		Step: workorder.StepCreateBranch, Attempt: 1, AgentName: "BranchGenerator", Success: true,
		DurationSeconds: 1.5, SessionID: "sess-1", CostUSD: 0.0123, BranchName: "feat/fix-it"})
	if _, err := b.PublishEvent(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}
	steps := g.eventually("create-branch", "steps", id)
	for _, want := range []string{"ROUND", "BranchGenerator", "ok", "1.5s", "$0.0123", "sess-1"} {
		if !strings.Contains(steps, want) {
			t.Errorf("steps lacks %q:\n%s", want, steps)
		}
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(g.ok("steps", id, "-o", "json")), &js); err != nil || js["agent_work_order_id"] != id {
		t.Errorf("steps -o json: %v %v", js, err)
	}

	p := logentry.NewPublisher(g.env.JS, quietLog, 0, nil)
	defer p.Close(context.Background())
	p.Publish(logentry.Entry{Timestamp: time.Now().UTC(), Level: logentry.LevelInfo, Step: workorder.StepPlanning,
		Event: logentry.EventAssistantText, Message: "Reading the code\x1b[2J now", WorkOrderID: workorder.ID(id), Attempt: 1})
	p.Publish(logentry.Entry{Timestamp: time.Now().UTC(), Level: logentry.LevelWarn, Step: workorder.StepPlanning,
		Event: logentry.EventAssistantText, Message: "Careful", WorkOrderID: workorder.ID(id), Attempt: 1})
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Flush(flushCtx); err != nil {
		t.Fatal(err)
	}
	logs := g.eventually("Careful", "logs", id)
	if !strings.Contains(logs, "Reading the code[2J now") || strings.Contains(logs, "\x1b") {
		t.Errorf("logs (control characters dropped):\n%q", logs)
	}
	if out := g.ok("logs", id, "--level", "warning"); strings.Contains(out, "Reading") || !strings.Contains(out, "Careful") {
		t.Errorf("logs --level warning:\n%s", out)
	}
	if out := g.ok("logs", id, "--step", "execute"); strings.Contains(out, "Careful") {
		t.Errorf("logs --step execute:\n%s", out)
	}

	if out := g.ok("cancel", id, "--reason", "not needed"); !strings.Contains(out, id+": cancel requested") {
		t.Errorf("cancel: %q", out)
	}
}

func TestCLI_Repos(t *testing.T) {
	g := startGateway(t, map[string]string{})
	if out := g.ok("repos", "list"); !strings.Contains(out, "no configured repositories") {
		t.Errorf("repos list, empty: %q", out)
	}
	added := g.ok("repos", "add", "https://github.com/acme/app")
	repoID := strings.Fields(added)[0]
	g.awo(nil, "repos", "add", "git@github.com:acme/app", "--no-verify").want(t, exitError, "409")
	list := g.ok("repos", "list")
	if !strings.Contains(list, repoID) || !strings.Contains(list, "true") {
		t.Errorf("repos list:\n%s", list)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(g.ok("repos", "list", "-o", "json")), &arr); err != nil || len(arr) != 1 || arr[0]["is_verified"] != true {
		t.Errorf("repos list -o json: %v %v", arr, err)
	}
	set := g.ok("repos", "set", repoID, "--sandbox", "branch", "--steps", "create-branch,planning")
	if !strings.Contains(set, "git_branch") || !strings.Contains(set, "create-branch,planning") {
		t.Errorf("repos set:\n%s", set)
	}
	g.awo(nil, "repos", "set", repoID, "--sandbox", "docker").want(t, exitError, "default_sandbox_type")
	g.awo(nil, "repos", "set", repoID).want(t, exitUsage, "--sandbox")
	if out := g.ok("repos", "verify", repoID); !strings.Contains(out, repoID+" accessible: true") {
		t.Errorf("repos verify: %q", out)
	}
	// A create for the repository takes its defaults.
	var wo map[string]any
	id := strings.TrimSpace(g.ok("create", "--repo", "https://github.com/acme/app", "--request", "defaults"))
	_ = json.Unmarshal([]byte(g.ok("show", id, "-o", "json")), &wo)
	if wo["sandbox_type"] != "git_branch" {
		t.Errorf("a create for the configured repository: %v", wo)
	}
	if out := g.ok("repos", "rm", repoID); !strings.Contains(out, "deleted "+repoID) {
		t.Errorf("repos rm: %q", out)
	}
	g.awo(nil, "repos", "rm", repoID).want(t, exitError, "Repository not found")
}

func TestCLI_Health(t *testing.T) {
	g := startGateway(t, map[string]string{})
	// The real probes run: no claude on this gateway's PATH makes it
	// degraded, which is a 200 and exit 0 (the body says what is wrong).
	out := g.ok("health")
	for _, want := range []string{"agent-work-orders", "storage memory", "claude_cli", "nats", "connected=true"} {
		if !strings.Contains(out, want) {
			t.Errorf("health lacks %q:\n%s", want, out)
		}
	}
	var h map[string]any
	if err := json.Unmarshal([]byte(g.ok("health", "-o", "json")), &h); err != nil || h["storage_type"] != "memory" {
		t.Errorf("health -o json: %v %v", h, err)
	}
}

// The built binary: client commands load no server configuration (an
// environment the server would refuse is no obstacle), and exit codes
// reach the shell.
func TestCLI_BinaryNeedsNoServerEnvironment(t *testing.T) {
	g := startGateway(t, map[string]string{})
	bin := filepath.Join(t.TempDir(), "awo")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(env []string, args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	// A port the server cannot parse: the all-in-one refuses to start.
	bad := []string{"AGENT_WORK_ORDERS_PORT=not-a-port", "AWO_URL=" + g.url}
	if code, out := run(bad, "serve"); code != 2 || !strings.Contains(out, "AGENT_WORK_ORDERS_PORT") {
		t.Errorf("serve with a bad port: exit %d %q, want the configuration refused", code, out)
	}
	if code, out := run(bad, "health"); code != exitOK || !strings.Contains(out, "storage memory") {
		t.Errorf("health: exit %d %q", code, out)
	}
	if code, out := run(bad, "show", "wo-deadbeef"); code != exitError || !strings.Contains(out, "Work order not found") {
		t.Errorf("show unknown: exit %d %q", code, out)
	}
	if code, out := run(bad, "frobnicate"); code != exitUsage || !strings.Contains(out, "awo create --repo URL") {
		t.Errorf("unknown command: exit %d %q, want %d with the usage", code, out, exitUsage)
	}
	if code, out := run([]string{"AWO_URL=http://127.0.0.1:1"}, "--url", g.url, "-o", "json", "health"); code != exitOK || !strings.Contains(out, `"storage_type": "memory"`) {
		t.Errorf("awo --url U -o json health: exit %d %q", code, out)
	}
	if code, out := run(bad, "--url", g.url, "serve"); code != exitUsage || !strings.Contains(out, "client commands") {
		t.Errorf("awo --url U serve: exit %d %q, want %d", code, out, exitUsage)
	}
	if code, _ := run(bad, "list", "-o", "xml"); code != exitUsage {
		t.Errorf("list -o xml: exit %d, want %d", code, exitUsage)
	}
}

// publish records one event of id as a worker would.
func (g *testGateway) publish(id, name, typ string, data any) {
	g.t.Helper()
	b := g.env.Bus("awo/orchestrator")
	if _, err := b.PublishEvent(context.Background(), b.Event(id+"."+name, typ, workorder.ID(id), data), nil); err != nil {
		g.t.Fatal(err)
	}
}

// logs -f prints entries as they come and returns when the work order
// ends, with how it ended; -o json prints one entry's JSON per line.
func TestCLI_LogsFollow(t *testing.T) {
	g := startGateway(t, map[string]string{})
	id := g.create("Follow me")
	g.publish(id, "started", events.TypeStarted, &events.Started{})
	p := logentry.NewPublisher(g.env.JS, quietLog, 0, nil)
	defer p.Close(context.Background())
	entry := func(msg string) {
		p.Publish(logentry.Entry{Timestamp: time.Now().UTC(), Level: logentry.LevelInfo, Step: workorder.StepPlanning,
			Event: logentry.EventAssistantText, Message: msg, WorkOrderID: workorder.ID(id), Attempt: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	entry("stored before the follow")

	follow := func(args ...string) chan result {
		done := make(chan result, 1)
		go func() { done <- g.awo(nil, append([]string{"logs", id, "-f"}, args...)...) }()
		return done
	}
	text, js := follow(), follow("-o", "json")
	time.Sleep(300 * time.Millisecond) // both are following: the next entry is live
	entry("live entry")
	g.publish(id, "failed", events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "planner gave up"})

	for name, ch := range map[string]chan result{"text": text, "json": js} {
		select {
		case r := <-ch:
			if r.code != exitOK {
				t.Fatalf("%s: exit %d %q", name, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "stored before the follow") || !strings.Contains(r.stdout, "live entry") ||
				!strings.Contains(r.stdout, "workflow_failed") {
				t.Errorf("%s follow:\n%s", name, r.stdout)
			}
			if name == "text" && !strings.HasSuffix(r.stdout, id+" failed\n") {
				t.Errorf("text follow does not end with how it ended:\n%s", r.stdout)
			}
			if name == "json" {
				for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil || m["work_order_id"] != id {
						t.Errorf("json line %q: %v", line, err)
					}
				}
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: logs -f did not return after the work order ended", name)
		}
	}
	g.awo(nil, "logs", "wo-deadbeef", "-f").want(t, exitError, "Work order not found")
}

// logs publishes entries as the executor does and waits until stored.
func (g *testGateway) logs(entries ...logentry.Entry) {
	g.t.Helper()
	p := logentry.NewPublisher(g.env.JS, quietLog, 0, nil)
	defer p.Close(context.Background())
	for _, e := range entries {
		p.Publish(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		g.t.Fatal(err)
	}
}

// watch and create --watch print a line per step, the PR at the end, and
// exit by how the work order ended: 0 completed, 1 failed, 2 cancelled.
func TestCLI_Watch(t *testing.T) {
	g := startGateway(t, map[string]string{})
	ok, no, cost := true, false, 0.25
	at := time.Now().UTC()
	entry := func(id string, secs int, step workorder.Step, event, msg string) logentry.Entry {
		return logentry.Entry{Timestamp: at.Add(time.Duration(secs) * time.Second), Level: logentry.LevelInfo, Step: step,
			Event: event, Message: msg, WorkOrderID: workorder.ID(id), Attempt: 1}
	}

	done := g.create("Finish it")
	g.publish(done, "started", events.TypeStarted, &events.Started{})
	started := entry(done, 0, workorder.StepPlanning, logentry.EventStepStarted, "planning")
	started.Progress = "2/5"
	finished := entry(done, 3, workorder.StepPlanning, logentry.EventStepFinished, "done")
	finished.Success, finished.CostUSD = &ok, &cost
	g.logs(started, entry(done, 1, workorder.StepPlanning, logentry.EventToolCall, "Bash: go test ./..."), finished,
		entry(done, 3, workorder.StepPlanning, logentry.EventStepCompleted, "planning completed"))
	g.publish(done, "completed", events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/app/pull/9"})
	r := g.awo(nil, "watch", done)
	for _, want := range []string{"[2/5] … planning", "      Bash: go test ./...", "✓ planning  3s  $0.2500",
		done + " completed", "pull request: https://github.com/acme/app/pull/9"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("watch lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != exitOK {
		t.Errorf("watch of a completed work order: exit %d %q", r.code, r.stderr)
	}

	failed := g.create("Fail it")
	g.publish(failed, "started", events.TypeStarted, &events.Started{})
	fin := entry(failed, 2, workorder.StepExecute, logentry.EventStepFinished, "tests did not pass")
	fin.Success = &no
	g.logs(entry(failed, 0, workorder.StepExecute, logentry.EventStepStarted, "execute"), fin)
	g.publish(failed, "failed", events.TypeFailed, &events.Failed{Step: workorder.StepExecute, ErrorMessage: "execute: tests did not pass"})
	r = g.awo(nil, "watch", failed)
	if r.code != exitFailed || !strings.Contains(r.stdout, "✗ execute failed after 2s: tests did not pass") ||
		!strings.Contains(r.stdout, "error: execute: tests did not pass") {
		t.Errorf("watch of a failed work order: exit %d\n%s", r.code, r.stdout)
	}

	// create --watch: the id first, then the progress until the cancel.
	res := make(chan result, 1)
	go func() {
		res <- g.awo(nil, "create", "--repo", "https://github.com/acme/app", "--request", "Cancel it", "--watch", "-o", "json")
	}()
	var id string
	g.eventually("Cancel it", "list")
	for _, line := range strings.Split(g.ok("list", "-o", "json"), "\n") {
		if strings.Contains(line, `"agent_work_order_id"`) {
			id = strings.Trim(strings.TrimSpace(strings.SplitN(line, ":", 2)[1]), `",`)
			break // newest first
		}
	}
	g.publish(id, "started", events.TypeStarted, &events.Started{})
	g.publish(id, "cancelled", events.TypeCancelled, &events.Cancelled{Reason: "not needed"})
	select {
	case r := <-res:
		if r.code != exitCancelled || !strings.Contains(r.stdout, `"status": "pending"`) ||
			!strings.Contains(r.stdout, `"status":"cancelled"`) {
			t.Errorf("create --watch -o json of a cancelled work order: exit %d %q\n%s", r.code, r.stderr, r.stdout)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("create --watch did not return after the cancel")
	}
}
