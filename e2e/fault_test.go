package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

// faultSteps are the steps of every work order of the fault tests: all the
// agent steps that leave something behind, and the pull request.
var faultSteps = []string{"create-branch", "planning", "execute", "commit", "create-pr"}

// faultWithin bounds the fault test's wait for its work orders: about a
// minute is usual; the rest is headroom for a machine busy with other tests.
const faultWithin = 4 * time.Minute

// Kill any process at any moment: no work order is lost, none stays stuck,
// no PR is opened twice. Ten work orders run through the real Claude Code
// CLI on two executors, two orchestrators and one github service, each its
// own process; one executor is SIGKILLed in the middle of a step, one
// orchestrator while it holds events it has not decided on (between steps),
// and the github service after it asked for a pull request and before gh
// answered.
func TestFault_KillEachServiceMidWork_EveryWorkOrderCompletesOnce(t *testing.T) {
	// Mostly waiting for a killed process's step to be redelivered: it runs
	// beside the other waiting tests.
	t.Parallel()
	w := newWorldWithGH(t, fakegh.Options{PRCreateDelay: 3 * time.Second}, concurrentRules(2*time.Second)...)
	c := newCluster(t, w, clusterSize{Orchestrators: 2, Executors: 2, GitHubs: 1})
	c.start()

	start := time.Now()
	var ids []string
	for i := range 10 {
		ids = append(ids, c.submit(map[string]any{"repository_url": repoURL,
			"user_request": fmt.Sprintf("Add a greeting file (%d)", i), "selected_commands": faultSteps}, 10*time.Second))
	}

	var wg sync.WaitGroup
	wg.Go(func() { killGitHubBeforeItAnswers(t, c) })
	killExecutorMidStep(t, c, "executor-1", "executor-2")
	killOrchestratorBetweenSteps(t, c, "orchestrator-1")

	last := c.waitAllFinished(ids, faultWithin)
	took := time.Since(start)
	wg.Wait()
	c.checkInvariants(ids, last, faultSteps)
	f := c.figures(ids, last, took)
	// The PR asked for by the killed github service was found by the retry
	// (gh pr list), not asked for again.
	if f.PRCreateCalls != len(ids) {
		t.Errorf("gh pr create ran %d times for %d work orders", f.PRCreateCalls, len(ids))
	}
	for _, s := range []string{"executor", "orchestrator", "github"} {
		if f.Redeliveries[s] < 1 {
			t.Errorf("no %s message was redelivered: the kill of a %s took nothing over (%s)", s, s, f)
		}
	}
	t.Logf("fault run: %s", f)
}

// killExecutorMidStep SIGKILLs victim while it runs an agent CLI, checks
// that the CLI dies with it, waits until the other executor has taken over
// a redelivered step, then restarts victim.
func killExecutorMidStep(t *testing.T, c *cluster, victim, other string) {
	t.Helper()
	p := c.p(victim)
	var clis []int
	waitUntil(t, 90*time.Second, victim+" running an agent CLI", func() bool {
		clis = agentCLIs(p.children())
		return len(clis) > 0
	})
	// The CLI runs in the work order's sandbox, named after it.
	wo := strings.TrimPrefix(filepath.Base(cwd(clis[0])), "sandbox-")
	takeover := "work_order_id=" + wo
	before := c.p(other).logCount("command redelivered", takeover)
	p.kill9()
	t.Logf("killed %s while its agent CLIs %v ran (one for %s)", victim, clis, wo)
	// The CLI gets SIGTERM from the kernel when the executor dies.
	waitUntil(t, 15*time.Second, "the killed executor's agent CLIs to exit", func() bool {
		for _, pid := range clis {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	waitUntil(t, 60*time.Second, other+" taking over the step of "+wo, func() bool {
		return c.p(other).logCount("command redelivered", takeover) > before
	})
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
}

// killOrchestratorBetweenSteps pauses victim until it holds delivered,
// unacknowledged events (steps finished that it has not decided on), then
// SIGKILLs and restarts it. The other orchestrator decides after AckWait.
func killOrchestratorBetweenSteps(t *testing.T, c *cluster, victim string) {
	t.Helper()
	p := c.p(victim)
	p.pause(true)
	paused := time.Now()
	held, since := 0, time.Time{}
	waitUntil(t, 60*time.Second, victim+" holding undecided events", func() bool {
		info, ok := c.consumer(bus.StreamEvents, "orchestrator")
		if !ok || info.NumAckPending == 0 {
			since = time.Time{}
			// A paused consumer's pull requests expire (bus.PullWait) and
			// then nothing more is delivered to it: let it renew them.
			if time.Since(paused) > bus.PullWait/2 {
				p.pause(false)
				time.Sleep(100 * time.Millisecond)
				p.pause(true)
				paused = time.Now()
			}
			return false
		}
		if since.IsZero() {
			since = time.Now()
		}
		// The running orchestrator acks within milliseconds; what stays
		// pending is held by the paused one.
		held = info.NumAckPending
		return time.Since(since) > 500*time.Millisecond
	})
	p.kill9()
	t.Logf("killed %s holding %d unacknowledged events", victim, held)
	time.Sleep(500 * time.Millisecond)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
}

// killGitHubBeforeItAnswers SIGKILLs the github service while gh pr create
// has opened the pull request but not yet answered, then restarts it. It
// runs on its own goroutine, so it reports with Errorf.
func killGitHubBeforeItAnswers(t *testing.T, c *cluster) {
	p := c.p("github-1")
	var head string
	deadline := time.Now().Add(faultWithin)
	for head == "" {
		if time.Now().After(deadline) {
			t.Errorf("no gh pr create was seen waiting to answer within %s", faultWithin)
			return
		}
		opened := map[string]bool{}
		for _, pr := range c.w.GH.PRs(t) {
			opened[pr.Head] = true
		}
		for _, pid := range p.children() {
			if h := prCreateHead(cmdline(fmt.Sprint(pid))); h != "" && opened[h] {
				head = h
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill9()
	t.Logf("killed github-1 while gh pr create for %s waited to answer", head)
	time.Sleep(500 * time.Millisecond)
	if err := p.start(); err != nil {
		t.Errorf("restarting github-1: %v", err)
	}
}

// prCreateHead is the --head of a `gh pr create` command line, or "".
func prCreateHead(cmdline string) string {
	if !strings.Contains(cmdline, " pr create ") {
		return ""
	}
	for _, f := range strings.Fields(cmdline) {
		if h, ok := strings.CutPrefix(f, "--head="); ok {
			return h
		}
	}
	return ""
}

// agentCLIs keeps the pids that are Claude Code CLI runs (the executor
// starts git too).
func agentCLIs(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if strings.Contains(cmdline(fmt.Sprint(pid)), "--output-format stream-json") {
			out = append(out, pid)
		}
	}
	return out
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cwd is the working directory of a process, "" when it is gone.
func cwd(pid int) string {
	dir, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return dir
}
