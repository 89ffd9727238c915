// Package e2e runs the built all-in-one binary the way a user does — HTTP
// in, a real Claude Code CLI, real git, embedded JetStream on disk — with
// only the outside world replaced: a scripted model server on 127.0.0.1, a
// local bare repository as https://github.com/acme/demo (git insteadOf),
// and a fake gh.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/claudecli"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
)

var (
	binDir    string
	awoBinary string
)

// serviceBinaries are the separate services, as production runs them.
var serviceBinaries = []string{"gateway", "orchestrator", "executor", "github"}

func TestMain(m *testing.M) {
	var err error
	binDir, err = os.MkdirTemp("", "awo-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	awoBinary = filepath.Join(binDir, "awo")
	pkgs := []string{"github.com/agentworkorders/awo/cmd/awo"}
	for _, s := range serviceBinaries {
		pkgs = append(pkgs, "github.com/agentworkorders/awo/services/"+s+"/cmd/"+s)
	}
	// Benchmarks time the binaries, so they get them without the race
	// detector's slowdown; tests get them with it.
	flag.Parse()
	// The parallel tests spend most of their time waiting (for a usage
	// limit to lift, for a killed executor's step to be redelivered), not
	// on the CPU: three at a time keeps make test well inside its budget.
	if f := flag.Lookup("test.parallel"); f != nil && !flagSet("test.parallel") {
		_ = f.Value.Set("3")
	}
	args := []string{"build", "-race", "-o", binDir + "/"}
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		args = slices.Delete(args, 1, 2)
	}
	build := exec.Command("go", append(args, pkgs...)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// flagSet reports whether the command line set the flag name.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// world is everything outside awo that one test scripts.
type world struct {
	Origin *gitfixture.Origin
	Model  *fakemodel.Server
	GH     *fakegh.FakeGH
	Claude string
}

func newWorld(t testing.TB, rules ...fakemodel.Rule) *world {
	t.Helper()
	return newWorldWithGH(t, fakegh.Options{}, rules...)
}

func newWorldWithGH(t testing.TB, gh fakegh.Options, rules ...fakemodel.Rule) *world {
	t.Helper()
	return &world{
		Origin: gitfixture.New(t),
		Model:  fakemodel.New(t, rules...),
		GH:     fakegh.Install(t, gh),
		Claude: claudecli.Path(t),
	}
}

// stack is one awo process and the directories it keeps across restarts.
type stack struct {
	t       testing.TB
	w       *world
	env     []string
	base    string
	logPath string
	cmd     *exec.Cmd
	exited  chan error
}

// ourVariables are dropped from the inherited environment: the test decides
// them, and a developer's NATS_URL must not point the test at a shared server.
var ourVariables = []string{"AWO_", "NATS_", "AGENT_WORK_ORDER", "CLAUDE_", "GH_", "GITHUB_TOKEN", "STATE_STORAGE_TYPE",
	"DATABASE_URL", "SUPABASE_", "FILE_STATE_DIRECTORY", "ANTHROPIC_", "ARCHON_", "LOG_LEVEL", "GIT_", "OTEL_"}

func newStack(t testing.TB, w *world, extra ...string) *stack {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range ourVariables {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	port := freePort(t)
	dir := t.TempDir()
	env = append(env, w.Origin.Env()...)
	env = append(env, claudecli.Env(w.Model.URL)...)
	env = append(env,
		"AGENT_WORK_ORDERS_PORT="+port,
		"AWO_DATA_DIR="+filepath.Join(dir, "data"),
		"AGENT_WORK_ORDER_TEMP_DIR="+filepath.Join(dir, "sandboxes"),
		"CLAUDE_CLI_PATH="+w.Claude,
		"GH_CLI_PATH="+w.GH.Path,
		"GH_TOKEN=test-token",
		"AWO_ACK_WAIT=3s",
		"AWO_SHUTDOWN_GRACE=2s",
		"LOG_LEVEL=DEBUG",
	)
	env = append(env, extra...)
	return &stack{t: t, w: w, env: env, base: "http://127.0.0.1:" + port, logPath: filepath.Join(dir, "awo.log")}
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// start runs awo and waits until it answers /health.
func (s *stack) start() {
	s.t.Helper()
	s.cmd, s.exited = s.spawn(awoBinary)
	cmd := s.cmd
	s.t.Cleanup(func() {
		if s.cmd == cmd {
			s.stop()
		}
	})
	s.waitHealthy()
}

// startServices runs each service as its own process against the NATS
// server at natsURL, as in production; s.cmd is the gateway.
func (s *stack) startServices(natsURL string) {
	s.t.Helper()
	s.env = append(s.env, "NATS_URL="+natsURL)
	for _, name := range serviceBinaries {
		cmd, exited := s.spawn(filepath.Join(binDir, name))
		if name == "gateway" {
			s.cmd, s.exited = cmd, exited
			s.t.Cleanup(func() {
				if s.cmd == cmd {
					s.stop()
				}
			})
			continue
		}
		s.t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					s.t.Errorf("%s did not exit cleanly on SIGTERM: %v", name, err)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				s.t.Errorf("%s did not stop within 30s of SIGTERM", name)
			}
		})
	}
	s.waitHealthy()
}

// service is one service process of a stack run as separate binaries.
type service struct {
	name    string
	cmd     *exec.Cmd
	exited  chan error
	stopped bool
}

// startService runs one service binary against the stack's NATS_URL with
// extra environment of its own; the test's end stops it with SIGTERM and
// expects a clean exit.
func (s *stack) startService(name string, extra ...string) *service {
	s.t.Helper()
	saved := s.env
	s.env = append(slices.Clip(saved), extra...)
	cmd, exited := s.spawn(filepath.Join(binDir, name))
	s.env = saved
	svc := &service{name: name, cmd: cmd, exited: exited}
	s.t.Cleanup(func() {
		if svc.stopped {
			return
		}
		if _, err := svc.terminate(30 * time.Second); err != nil {
			s.t.Errorf("%s: %v", name, err)
		}
	})
	return svc
}

// terminate sends SIGTERM and waits for the process to exit; it returns how
// long that took and an error unless the exit was clean and in time.
func (svc *service) terminate(within time.Duration) (time.Duration, error) {
	svc.stopped = true
	start := time.Now()
	_ = svc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-svc.exited:
		if err != nil {
			return time.Since(start), fmt.Errorf("did not exit cleanly on SIGTERM: %w", err)
		}
		return time.Since(start), nil
	case <-time.After(within):
		_ = svc.cmd.Process.Kill()
		return time.Since(start), fmt.Errorf("did not stop within %s of SIGTERM", within)
	}
}

// kill SIGKILLs the process, as a crash would, and waits for it to be gone.
func (svc *service) kill() {
	svc.stopped = true
	_ = svc.cmd.Process.Kill()
	<-svc.exited
}

// spawn starts binary with the stack's environment, its output appended to
// the stack's log (shown when the test fails).
func (s *stack) spawn(binary string) (*exec.Cmd, chan error) {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(binary)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	s.t.Cleanup(func() {
		if s.t.Failed() {
			b, _ := os.ReadFile(s.logPath)
			s.t.Logf("log of %s:\n%s", filepath.Base(binary), tail(string(b), 200))
		}
	})
	return cmd, exited
}

func (s *stack) waitHealthy() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exited:
			s.t.Fatalf("awo exited at start: %v", err)
		default:
		}
		if resp, err := http.Get(s.base + "/health"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("awo did not answer /health within 60s")
}

// stop sends SIGTERM, as Ctrl-C would, and expects a clean exit.
func (s *stack) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			s.t.Errorf("awo did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Error("awo did not stop within 30s of SIGTERM")
	}
	s.cmd = nil
}

// kill9 kills awo without giving it any chance to clean up.
func (s *stack) kill9() {
	s.t.Helper()
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *stack) do(method, path string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	s.authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// create POSTs a work order and returns its id.
func (s *stack) create(body map[string]any) string {
	s.t.Helper()
	code, out := s.do("POST", "/api/agent-work-orders/", body)
	if code != http.StatusCreated {
		s.t.Fatalf("POST: %d %s", code, out)
	}
	var r struct {
		ID     string `json:"agent_work_order_id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.ID == "" || r.Status != "pending" {
		s.t.Fatalf("POST answer %s (%v)", out, err)
	}
	return r.ID
}

type workOrder struct {
	ID             string  `json:"agent_work_order_id"`
	Status         string  `json:"status"`
	CurrentPhase   *string `json:"current_phase"`
	Branch         *string `json:"git_branch_name"`
	PRURL          *string `json:"github_pull_request_url"`
	CommitCount    int     `json:"git_commit_count"`
	FilesChanged   int     `json:"git_files_changed"`
	ErrorMessage   *string `json:"error_message"`
	AgentSessionID *string `json:"agent_session_id"`
	IssueNumber    *string `json:"github_issue_number"`
}

type step struct {
	Step         string  `json:"step"`
	AgentName    string  `json:"agent_name"`
	Success      bool    `json:"success"`
	Output       *string `json:"output"`
	ErrorMessage *string `json:"error_message"`
	Duration     float64 `json:"duration_seconds"`
	SessionID    *string `json:"session_id"`
}

func (s *stack) get(id string) workOrder {
	s.t.Helper()
	code, out := s.do("GET", "/api/agent-work-orders/"+id, nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", id, code, out)
	}
	var wo workOrder
	if err := json.Unmarshal(out, &wo); err != nil {
		s.t.Fatal(err)
	}
	return wo
}

func (s *stack) steps(id string) []step {
	s.t.Helper()
	code, out := s.do("GET", "/api/agent-work-orders/"+id+"/steps", nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET steps %s: %d %s", id, code, out)
	}
	var h struct {
		ID    string `json:"agent_work_order_id"`
		Steps []step `json:"steps"`
	}
	if err := json.Unmarshal(out, &h); err != nil || h.ID != id {
		s.t.Fatalf("steps answer %s (%v)", out, err)
	}
	return h.Steps
}

// waitFor polls the work order until cond holds.
func (s *stack) waitFor(id string, within time.Duration, what string, cond func(workOrder) bool) workOrder {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var wo workOrder
	for {
		// 503 means the read model is unavailable for now (a database
		// outage): keep waiting, it must come back.
		code, out := s.do("GET", "/api/agent-work-orders/"+id, nil)
		switch code {
		case http.StatusOK:
			if err := json.Unmarshal(out, &wo); err != nil {
				s.t.Fatal(err)
			}
			if cond(wo) {
				return wo
			}
		case http.StatusServiceUnavailable:
		default:
			s.t.Fatalf("GET %s: %d %s", id, code, out)
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("work order %s: %s not reached within %s; last seen %+v", id, what, within, wo)
		case err := <-s.exited:
			s.t.Fatalf("awo exited while waiting for %s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *stack) waitFinished(id string, within time.Duration) workOrder {
	return s.waitFor(id, within, "a final status", func(wo workOrder) bool {
		return wo.Status == "completed" || wo.Status == "failed" || wo.Status == "cancelled"
	})
}

// waitNoProcessWithEnv waits until no process has kv in its environment.
func waitNoProcessWithEnv(t *testing.T, kv string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pids := processesWithEnv(kv)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still running with %s: %v", kv, pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func processesWithEnv(kv string) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil {
			continue
		}
		for _, e := range bytes.Split(b, []byte{0}) {
			if string(e) == kv {
				pids = append(pids, filepath.Base(d))
				break
			}
		}
	}
	return pids
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// authorize adds the bearer token the stack's gateway asks for: the first
// of AWO_API_TOKENS when the test set it, none otherwise.
func (s *stack) authorize(req *http.Request) {
	var token string
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "AWO_API_TOKENS="); ok {
			token, _, _ = strings.Cut(v, ",")
		}
	}
	if token = strings.TrimSpace(token); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// envInt reads a whole-number setting of a long test from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, s)
	}
	return n
}
