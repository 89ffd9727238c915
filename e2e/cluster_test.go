package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// sharedSandboxes is the one switch for where executors keep sandboxes.
// true: every executor uses the same AGENT_WORK_ORDER_TEMP_DIR, as replicas
// on one machine do, so a step redelivered to another executor finds the
// worktree the first one left. false: each executor has a directory of its
// own, as on separate machines; a step that moves to another executor
// restores the work order's sandbox from its checkpoint. The fault and
// chaos tests run the harder case.
const sharedSandboxes = false

// cluster is the system as production runs it: each service its own
// process (one gateway, two orchestrators, two executors, one github by
// default) against a NATS server embedded in the test, so any of them can
// be killed and restarted while the broker stays up.
type cluster struct {
	*stack // the test, the world, env and HTTP helpers; its cmd is unused
	js     jetstream.JetStream
	bus    *bus.Bus
	procs  map[string]*proc
	order  []string // start order: gateway, orchestrators, executors, githubs
}

// proc is one service process that the test may kill and restart. Its
// output goes to its own log, which is kept across restarts.
type proc struct {
	name    string
	binary  string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error    // the exit status, once
	dead   chan struct{} // closed when the process has exited
	starts int
	kills  int
	// expected is set before the test kills or stops the process; an exit
	// without it is a crash: the service gave up on its own.
	expected atomic.Bool
	crashes  []string
}

// clusterSize says how many replicas of each service to run.
type clusterSize struct{ Orchestrators, Executors, GitHubs int }

func newCluster(t *testing.T, w *world, size clusterSize, extra ...string) *cluster {
	t.Helper()
	broker := natstest.StartListening(t, "awo-e2e-observer")
	return newClusterOn(t, w, size, broker.Server.ClientURL(), broker.JS, extra...)
}

// newClusterOn is newCluster against NATS servers the test runs itself:
// natsURL is the services' NATS_URL (one server or a cluster's list) and
// js the test's own view of them.
func newClusterOn(t *testing.T, w *world, size clusterSize, natsURL string, js jetstream.JetStream, extra ...string) *cluster {
	t.Helper()
	dir := t.TempDir()
	s := newStack(t, w, append([]string{"NATS_URL=" + natsURL}, extra...)...)
	c := &cluster{stack: s, js: js, bus: bus.New(js, "awo/e2e"), procs: map[string]*proc{}}

	add := func(service string, n int) {
		for i := 1; i <= n; i++ {
			name := service
			if service != "gateway" {
				name = fmt.Sprintf("%s-%d", service, i)
			}
			env := append(append([]string(nil), s.env...), "AWO_WORKER_ID="+name)
			if service == "executor" && !sharedSandboxes {
				env = append(env, "AGENT_WORK_ORDER_TEMP_DIR="+filepath.Join(dir, "sandboxes-"+name))
			}
			c.procs[name] = &proc{name: name, binary: filepath.Join(binDir, service), env: env,
				logPath: filepath.Join(dir, name+".log")}
			c.order = append(c.order, name)
		}
	}
	add("gateway", 1)
	add("orchestrator", size.Orchestrators)
	add("executor", size.Executors)
	add("github", size.GitHubs)

	// Registered first, so it runs last: the logs are shown after every
	// process has stopped and written its last lines. AWO_E2E_KEEP_LOGS=dir
	// keeps them even when the test passes, to study a run.
	t.Cleanup(func() {
		if d := os.Getenv("AWO_E2E_KEEP_LOGS"); d != "" {
			_ = os.MkdirAll(d, 0o755)
			for _, name := range c.order {
				b, _ := os.ReadFile(c.procs[name].logPath)
				_ = os.WriteFile(filepath.Join(d, name+".log"), b, 0o644)
			}
		}
		if !t.Failed() {
			return
		}
		for _, name := range c.order {
			b, _ := os.ReadFile(c.procs[name].logPath)
			t.Logf("log of %s:\n%s", name, tail(string(b), 150))
		}
	})
	t.Cleanup(c.stopAll)
	return c
}

// start runs every process and waits until the gateway answers.
func (c *cluster) start() {
	c.t.Helper()
	for _, name := range c.order {
		if err := c.procs[name].start(); err != nil {
			c.t.Fatal(err)
		}
	}
	c.waitGatewayUp(60 * time.Second)
}

// p returns the named process ("gateway", "executor-1", ...).
func (c *cluster) p(name string) *proc {
	p, ok := c.procs[name]
	if !ok {
		c.t.Fatalf("no process %s in the cluster", name)
	}
	return p
}

// stopAll ends every running process with SIGTERM and expects a clean exit.
func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, name := range c.order {
		wg.Add(1)
		go func(p *proc) {
			defer wg.Done()
			if err := p.stop(30 * time.Second); err != nil {
				c.t.Errorf("%s: %v", p.name, err)
			}
		}(c.procs[name])
	}
	wg.Wait()
}

func (c *cluster) waitGatewayUp(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(c.base + "/health"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("the gateway did not answer /health within %s", within)
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "=== e2e: start %d of %s at %s ===\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.binary)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	exited, dead := make(chan error, 1), make(chan struct{})
	p.expected.Store(false)
	go func() {
		err := cmd.Wait()
		if !p.expected.Load() {
			fmt.Fprintf(logf, "=== e2e: %s exited on its own: %v ===\n", p.name, err)
			p.mu.Lock()
			p.crashes = append(p.crashes, fmt.Sprintf("%s exited on its own at %s: %v", p.name, time.Now().Format(time.TimeOnly), err))
			p.mu.Unlock()
		}
		logf.Close()
		exited <- err
		close(dead)
	}()
	p.cmd, p.exited, p.dead = cmd, exited, dead
	return nil
}

// pid is the running process's id, 0 when it is not running.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// running reports whether the process is started and has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.dead:
		return false
	default:
		return true
	}
}

// crashed reports whether the process exited without being told to, and
// forgets it, so it can be started again as a supervisor would.
func (p *proc) crashed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.dead:
	default:
		return false
	}
	p.cmd, p.exited, p.dead = nil, nil, nil
	return true
}

// crashReports are the process's exits on its own so far.
func (p *proc) crashReports() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// kill9 kills the process without any chance to clean up and waits until
// it is gone. The processes it started are not touched.
func (p *proc) kill9() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.expected.Store(true)
	select {
	case <-p.dead: // it had crashed; nothing to kill
	default:
		p.kills++
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd, p.exited, p.dead = nil, nil, nil
}

// pause stops (SIGSTOP) or resumes (SIGCONT) the process.
func (p *proc) pause(stop bool) {
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if pid := p.pid(); pid != 0 {
		_ = syscall.Kill(pid, sig)
	}
}

// stop sends SIGTERM, as an orchestrator would, and reports an unclean or
// late exit.
func (p *proc) stop(within time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	defer func() { p.cmd, p.exited, p.dead = nil, nil, nil }()
	select {
	case <-p.dead:
		return nil // it crashed earlier, reported as such
	default:
	}
	p.expected.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // in case a test left it paused
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			return fmt.Errorf("did not exit cleanly on SIGTERM: %w", err)
		}
		return nil
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("did not stop within %s of SIGTERM", within)
	}
}

// children are the pids of the processes the running process started
// (its agent CLIs, gh calls) that are still alive.
func (p *proc) children() []int {
	pid := p.pid()
	if pid == 0 {
		return nil
	}
	return childrenOf(pid)
}

func childrenOf(parent int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == parent {
			pid, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, pid)
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// logCount is how many lines of the process's log (all its runs) contain
// every one of parts.
func (p *proc) logCount(parts ...string) int {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, s := range parts {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// submit POSTs a work order, retrying while the gateway is down (a chaos
// run kills it too).
func (c *cluster) submit(body map[string]any, within time.Duration) string {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for {
		req, err := http.NewRequest(http.MethodPost, c.base+"/api/agent-work-orders/", strings.NewReader(string(b)))
		if err != nil {
			c.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		c.authorize(req)
		resp, err := httpClient.Do(req)
		if err == nil {
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				c.t.Fatalf("POST: %d %s", resp.StatusCode, out)
			}
			var r struct {
				ID string `json:"agent_work_order_id"`
			}
			if err := json.Unmarshal(out, &r); err != nil || r.ID == "" {
				c.t.Fatalf("POST answer %s (%v)", out, err)
			}
			return r.ID
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("POST: the gateway did not answer within %s: %v", within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// tryGet reads a work order; ok is false while the gateway is down or the
// read model is not there yet.
func (c *cluster) tryGet(id string) (workOrder, bool) {
	req, err := http.NewRequest(http.MethodGet, c.base+"/api/agent-work-orders/"+id, nil)
	if err != nil {
		return workOrder{}, false
	}
	c.authorize(req)
	resp, err := httpClient.Do(req)
	if err != nil {
		return workOrder{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return workOrder{}, false
	}
	var wo workOrder
	if err := json.NewDecoder(resp.Body).Decode(&wo); err != nil {
		return workOrder{}, false
	}
	return wo, true
}

// waitAllFinished polls until every work order has a final status or the
// time is up, and returns the last seen state of each.
func (c *cluster) waitAllFinished(ids []string, within time.Duration) map[string]workOrder {
	deadline := time.Now().Add(within)
	last := map[string]workOrder{}
	for {
		open := 0
		for _, id := range ids {
			if wo, ok := last[id]; ok && finished(wo.Status) {
				continue
			}
			if wo, ok := c.tryGet(id); ok {
				last[id] = wo
				if finished(wo.Status) {
					continue
				}
			}
			open++
		}
		if open == 0 || time.Now().After(deadline) {
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func finished(status string) bool {
	return status == "completed" || status == "failed" || status == "cancelled"
}

// invariants are what must hold after any number of kills: every work order
// completed, its branch in origin holds the work of every step and has
// exactly one pull request, the one the work order names, no step succeeded
// twice (by the read model and by the events), nothing was dead-lettered,
// no agent or gh process is left behind and no service exited on its own.
func (c *cluster) checkInvariants(ids []string, last map[string]workOrder, steps []string) {
	t := c.t
	t.Helper()
	prsByHead := map[string][]string{}
	for _, pr := range c.w.GH.PRs(t) {
		prsByHead[pr.Head] = append(prsByHead[pr.Head], pr.URL)
	}
	heads := map[string]string{}
	for _, id := range ids {
		wo := last[id]
		if wo.Status != "completed" {
			t.Errorf("work order %s ended %q (phase %q): %s", id, wo.Status, deref(wo.CurrentPhase), deref(wo.ErrorMessage))
			continue
		}
		head := deref(wo.Branch)
		if other, dup := heads[head]; dup || head == "" {
			t.Errorf("work orders %s and %s share branch %q", other, id, head)
		}
		heads[head] = id
		// The branch holds the work of every step, wherever each ran.
		if got, ok := c.w.Origin.File(t, head, "greeting.txt"); !ok || got != "hello, world\n" {
			t.Errorf("work order %s: origin %s:greeting.txt = %q (present %t)", id, head, got, ok)
		}
		if _, ok := c.w.Origin.File(t, head, "PRPs/features/add-greeting.md"); !ok {
			t.Errorf("work order %s: origin %s has no plan file", id, head)
		}
		if prs := prsByHead[head]; len(prs) != 1 || prs[0] != deref(wo.PRURL) {
			t.Errorf("work order %s (branch %s, PR %q): pull requests opened for its branch: %v", id, head, deref(wo.PRURL), prs)
		}
		var ok []string
		for _, st := range c.steps(id) {
			if st.Success {
				ok = append(ok, st.Step)
			}
		}
		if strings.Join(ok, ",") != strings.Join(steps, ",") {
			t.Errorf("work order %s: successful steps in its history %v, want each of %v once", id, ok, steps)
		}
		h := c.history(id)
		completed := map[string]int{}
		for _, e := range h.Events {
			if r, isResult := e.Data.(*events.StepResult); isResult && e.Type == events.TypeStepCompleted {
				completed[string(r.Step)]++
			}
		}
		for step, n := range completed {
			if n != 1 {
				t.Errorf("work order %s: step %s completed %d times in the event stream", id, step, n)
			}
		}
	}
	if n := len(prsByHead); n != len(ids) {
		t.Errorf("%d branches got pull requests for %d work orders: %v", n, len(ids), prsByHead)
	}
	if n := c.streamMsgs(bus.StreamDLQ); n != 0 {
		t.Errorf("%d messages were dead-lettered", n)
	}
	c.checkNothingLeftRunning(15 * time.Second)
	for _, name := range c.order {
		for _, crash := range c.procs[name].crashReports() {
			t.Errorf("%s (see its log)", crash)
		}
	}
}

// checkNothingLeftRunning waits until no process but the services carries
// the test's model URL: every agent CLI (and gh, which inherits the same
// environment) has ended, including those of killed services.
func (c *cluster) checkNothingLeftRunning(within time.Duration) {
	c.t.Helper()
	kv := "ANTHROPIC_BASE_URL=" + c.w.Model.URL
	deadline := time.Now().Add(within)
	for {
		services := map[string]bool{}
		for _, p := range c.procs {
			if pid := p.pid(); pid != 0 {
				services[strconv.Itoa(pid)] = true
			}
		}
		var left []string
		for _, pid := range processesWithEnv(kv) {
			if !services[pid] {
				left = append(left, pid+" "+cmdline(pid))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Errorf("processes left running: %v", left)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// history reads a work order's events. A read that fails is tried again
// for a while: on a cluster a JetStream API request can go unanswered
// while a leader is being elected or a restarted node catches up.
func (c *cluster) history(id string) bus.History {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h, err := c.bus.History(ctx, workorder.ID(id), 0)
		cancel()
		if err == nil {
			return h
		}
		if time.Now().After(deadline) {
			c.t.Fatal(err)
		}
		c.t.Logf("%v; trying again", err)
		time.Sleep(time.Second)
	}
}

func cmdline(pid string) string {
	b, _ := os.ReadFile("/proc/" + pid + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

func (c *cluster) streamMsgs(stream string) uint64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		c.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		c.t.Fatalf("stream %s: %v", stream, err)
	}
	return info.State.Msgs
}

// consumer returns a durable consumer's state; ok is false before the
// service created it.
func (c *cluster) consumer(stream, name string) (*jetstream.ConsumerInfo, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := c.js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, false
	}
	if err != nil {
		c.t.Fatalf("consumer %s: %v", name, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		c.t.Fatalf("consumer %s: %v", name, err)
	}
	return info, true
}

// figures are what a run with kills did, for the test log.
type figures struct {
	WorkOrders, Completed int
	Kills                 map[string]int // by service
	Duration              time.Duration
	// Deliveries beyond the first, per durable consumer: the messages a
	// killed process held (or that timed out) and another took over. The
	// consumers count every delivery; each command and event was meant to
	// be delivered once.
	Redeliveries  map[string]int
	PRCreateCalls int
	Crashes       int // exits nobody asked for
}

func (c *cluster) figures(ids []string, last map[string]workOrder, took time.Duration) figures {
	c.t.Helper()
	f := figures{WorkOrders: len(ids), Kills: map[string]int{}, Duration: took, Redeliveries: map[string]int{}}
	for _, wo := range last {
		if wo.Status == "completed" {
			f.Completed++
		}
	}
	for _, p := range c.procs {
		service, _, _ := strings.Cut(p.name, "-")
		f.Kills[service] += p.kills
		f.Crashes += len(p.crashReports())
	}
	for _, call := range c.w.GH.Calls(c.t) {
		if len(call.Args) >= 2 && call.Args[0] == "pr" && call.Args[1] == "create" {
			f.PRCreateCalls++
		}
	}
	// Commands sent once each: one per dispatch event.
	commands := map[string]int{}
	for _, id := range ids {
		h := c.history(id)
		for _, e := range h.Events {
			if d, ok := e.Data.(*events.StepDispatched); ok && e.Type == events.TypeStepDispatched {
				commands[d.Step.Service()]++
			}
		}
	}
	for _, name := range []string{"executor", "github"} {
		if info, ok := c.consumer(bus.StreamCommands, name); ok {
			f.Redeliveries[name] = int(info.Delivered.Consumer) - commands[name]
		}
	}
	if info, ok := c.consumer(bus.StreamEvents, "orchestrator"); ok {
		// It takes every event once.
		f.Redeliveries["orchestrator"] = int(info.Delivered.Consumer) - int(c.streamMsgs(bus.StreamEvents))
	}
	return f
}

func (f figures) String() string {
	var kills []string
	total := 0
	for s, n := range f.Kills {
		kills = append(kills, fmt.Sprintf("%s=%d", s, n))
		total += n
	}
	sort.Strings(kills)
	var re []string
	for s, n := range f.Redeliveries {
		re = append(re, fmt.Sprintf("%s=%d", s, n))
	}
	sort.Strings(re)
	perMin := float64(f.Completed) / f.Duration.Minutes()
	return fmt.Sprintf("work orders %d, completed %d, duration %s, %.1f work orders/min, kills %d (%s), redeliveries (%s), gh pr create calls %d, services that exited on their own %d",
		f.WorkOrders, f.Completed, f.Duration.Round(100*time.Millisecond), perMin, total, strings.Join(kills, " "), strings.Join(re, " "), f.PRCreateCalls, f.Crashes)
}

// Rules that work for any number of concurrent work orders: the branch is
// named after the sandbox directory, which is unique per work order, and
// pushes go to HEAD's own name.
const concurrentBranch = `feat/$(basename "$PWD")`

func concurrentRules(executeDelay time.Duration) []fm.Rule {
	return []fm.Rule{
		{Name: "create-branch", Prompt: "# Create a working branch", Turns: []fm.Turn{
			fm.Bash("git checkout -b "+concurrentBranch, "create the branch"),
			fm.Text("created the branch"),
		}},
		planning(),
		execute(writeGreeting.After(executeDelay)),
		{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
			fm.Bash("git add -A && git commit -m 'feat: add greeting' && git push -u origin HEAD", "commit and push"),
			fm.Text("feat: add greeting"),
		}},
	}
}
